/**
 * `redraft build`: graph → TensorRT engine (trt), ONNX model (onnx) or TensorRT call plan
 * (plan / --dry-run). Outputs land atomically in --out with a config.json that records the
 * content hash; a build whose hash matches the one in --out is skipped ("up to date").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJson, type BuildConfig } from '../../builders/build-config.js';
import { buildContentHash } from '../../builders/build-hash.js';
import { damagedFile, ensureWritableDir, lockDir, markCommitted, writeFilesAtomic, yieldToSignals, type FileData, type FileDigests } from '../../builders/atomic.js';
import { buildOutputsIn, damagedRecordFix } from '../../builders/engine-dir.js';
import { UsageError } from '../../dsl/errors.js';
import { summarize } from '../../builders/inspect.js';
import { engineIoTable } from '../../builders/engine-io.js';
import type { Output } from '../output.js';
import { checkBuildFlags, VERSION } from '../cli.js';
import { buildConfigFrom, loadGraph, type ModelFlags, type ResolvedModel } from '../model.js';
import type { TpFlags } from '../tp.js';

type Target = 'trt' | 'onnx' | 'plan';

export interface BuildFlags extends ModelFlags, TpFlags {
  out: string;
  dryRun?: boolean;
  force?: boolean;
  trtVersion?: string;
}

/**
 * The TensorRT version a plan is lowered for: --trt-version, else the headers the native addon
 * was compiled against, else none (every fused layer as primitives, for the oldest TensorRT that
 * has every call the plan makes: the plan states it, builders/trt/plan.ts minTrtVersion).
 */
export async function planTrtVersion(flag: string | undefined): Promise<{ version?: { major: number; minor: number }; why: string }> {
  const { parseTrtVersion } = await import('../../builders/trt/plan.js');
  if (flag !== undefined) {
    const v = parseTrtVersion(flag);
    if (!v || v.major < 10 || v.major > 11) throw new UsageError(`--trt-version '${flag}' is not a TensorRT version redraft lowers for`, 'pass major.minor from 10.0 to 11.x, e.g. --trt-version 10.9 or --trt-version 11.1');
    return { version: v, why: '--trt-version' };
  }
  const { tryNative } = await import('../../builders/trt/native.js');
  const info = tryNative()?.info();
  const v = info?.tensorrtHeaders && info.headersVersion ? parseTrtVersion(info.headersVersion) : undefined;
  if (v) return { version: v, why: 'the headers the native addon was compiled against' };
  return { why: 'the native addon has no TensorRT headers compiled in; pass --trt-version X.Y for a version\'s native layers' };
}

/** auto → trt where TensorRT is usable here, else onnx; returns the choice and why. */
export async function chooseTarget(build: BuildConfig, dryRun: boolean, targetFlag: boolean): Promise<{ target: Target; reason: string }> {
  if (dryRun) return { target: 'plan', reason: '--dry-run lowers to a TensorRT plan only' };
  if (build.target !== 'auto') return { target: build.target, reason: `asked for with ${targetFlag ? '--target' : 'the build config'} (${build.target})` };
  const { doctor } = await import('../../builders/trt/doctor.js');
  const d = doctor();
  if (d.addon && d.tensorrtHeaders && d.library.found) return { target: 'trt', reason: `TensorRT ${d.library.version ?? ''} is usable (${d.library.path})`.replace('  ', ' ') };
  const why = !d.addon ? 'the native addon is not built' : !d.tensorrtHeaders ? 'the addon was built without TensorRT headers' : `libnvinfer was not found (${d.library.error ?? 'dlopen failed'})`;
  return { target: 'onnx', reason: `TensorRT is not usable here (${why}); building ONNX instead` };
}

/** The build record in --out as a rebuild reads it; `damaged`: config.json could not be read as one (then `files` are the build outputs found there). */
export interface ExistingBuild {
  contentHash?: string;
  files?: string[];
  fileDigests?: FileDigests;
  damaged?: true;
}

/**
 * The build record already in --out, if any. A config.json that redraft did not write (a
 * model's own, say) is refused: building there would replace it. One that cannot be read as a
 * record (damaged: not JSON, or a redraft record missing its fields) is replaced with --force
 * when the directory holds redraft's outputs and nothing else (engine-dir.ts damagedRecordFix,
 * the fix `--engine` gives for it too).
 */
export function readExisting(dir: string, force = false): ExistingBuild | undefined {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return undefined;
  let rec: unknown;
  try {
    rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    rec = undefined;
  }
  const r = rec as { redraft?: { version?: unknown }; contentHash?: unknown; files?: unknown; fileDigests?: unknown } | undefined;
  const isObject = !!r && typeof r === 'object' && !Array.isArray(r);
  const ours = isObject && typeof r.redraft?.version === 'string';
  if (ours && typeof r.contentHash === 'string' && Array.isArray(r.files) && r.files.every((f) => typeof f === 'string'))
    return { contentHash: r.contentHash, files: r.files as string[], fileDigests: r.fileDigests && typeof r.fileDigests === 'object' ? (r.fileDigests as FileDigests) : undefined };
  if (isObject && !ours)
    throw new UsageError(`--out '${dir}' holds a config.json that is not a redraft build record (a model's config?); building there would replace it`, 'pass --out with an empty directory or one that holds an earlier redraft build');
  // Damaged: redraft's record with fields missing, or not a JSON object at all.
  const found = buildOutputsIn(dir);
  const what = ours ? 'a damaged redraft build record (fields missing)' : 'a config.json that is not valid JSON (a damaged build record?)';
  if (!force || (!ours && !found.looksBuilt))
    throw new UsageError(`--out '${dir}' holds ${what}`, ours ? `pass --force to rebuild there` : damagedRecordFix(dir));
  return { files: found.outputs, damaged: true };
}

export async function build(flags: BuildFlags, out: Output): Promise<void> {
  // A --config build.json's target meets the flags' conflict check too (bin/cli.ts checked --target only).
  const fromFile = flags.target === undefined && flags.config !== undefined ? buildConfigFrom(flags).target : 'auto';
  if (fromFile !== 'auto') checkBuildFlags({ ...flags, target: fromFile }, `the target of --config ${flags.config} ("target": "${fromFile}")`);
  if (flags.tp !== undefined || flags.rank !== undefined) return (await import('./build-tp.js')).buildTp(flags, out); // one output per rank
  const t0 = performance.now();
  if (!flags.out) throw new UsageError('--out must name a directory, got ""', 'pass --out engine, say');
  readExisting(flags.out, flags.force); // refuses a foreign config.json before any work
  // The target first: a TensorRT build on a machine without TensorRT fails (exit 3, nothing
  // written) before the model's weights are read.
  const { target, reason } = await chooseTarget(buildConfigFrom(flags), !!flags.dryRun, flags.target !== undefined);
  if (target === 'trt') {
    const { assertTensorRtUsable } = await import('../../builders/trt/build.js');
    assertTensorRtUsable();
  }
  if (flags.trtVersion !== undefined && target !== 'plan')
    throw new UsageError(`--trt-version is for TensorRT plans (--target plan / --dry-run), not --target ${target}`, target === 'trt' ? 'an engine is built for the TensorRT headers the addon was compiled against' : 'drop --trt-version, or build with --dry-run');
  const planFor = target === 'plan' ? await planTrtVersion(flags.trtVersion) : undefined;
  const { graph, model, build: cfg } = await loadGraph(flags, out);
  out.info(`target ${target}: ${reason}`);
  if (target === 'plan' || target === 'trt') {
    // The graph as that TensorRT version builds it (a plan: --trt-version or the addon's headers;
    // an engine: the addon's headers) is what gets validated and said. What TensorRT would refuse
    // fails here, before anything is written (exit 4, every violation with its layer and the
    // model's file:line). The rules live with the ops.
    const [{ assertTrtValid, describeLowering }, { TRT_RULES }, { engineTrtVersion }] = await Promise.all([import('../../builders/trt/validate.js'), import('../../ops/trt.js'), import('../../builders/trt/build.js')]);
    const lowerFor = planFor ?? { version: engineTrtVersion(), why: 'the headers the native addon was compiled against, which the engine is built with' };
    const lowering = describeLowering(graph, lowerFor.version);
    out.info(`${target === 'plan' ? 'plan' : 'engine'} for ${lowering.version} (${lowerFor.why}): ${lowering.summary}`);
    assertTrtValid(graph, TRT_RULES, { trtVersion: lowerFor.version });
    out.info(`TensorRT constraints for ${lowering.rulesFor}: ${lowering.layers} layers as lowered and ${graph.inputs.length} inputs checked, 0 violations`);
  }
  ensureWritableDir(flags.out);
  lockDir(flags.out);
  const existing = readExisting(flags.out, flags.force); // read again under the lock: another build may have finished meanwhile

  const planVersion = planFor?.version ? `${planFor.version.major}.${planFor.version.minor}` : undefined;
  const hash = buildContentHash(graph, cfg, target, VERSION, planVersion);
  // Up to date only if the files are the ones that build wrote (sizes and sha256 as recorded): a truncated or edited output is rebuilt.
  const damage = !flags.force && existing?.contentHash === hash ? damagedFile(flags.out, existing.files ?? [], existing.fileDigests) : undefined;
  if (damage) out.info(`${flags.out} holds this build, but ${damage}: rebuilding`);
  if (!flags.force && existing?.contentHash === hash && !damage) {
    const result = { status: 'up-to-date', target, out: flags.out, contentHash: hash, files: existing.files };
    return out.result(result, `${flags.out} is up to date (content hash ${hash.slice(0, 12)}); use --force to rebuild`);
  }

  const files: Record<string, Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void)> = {};
  let extra: Record<string, unknown> = {};
  if (target === 'plan') {
    const { lowerToPlan, planToJson } = await import('../../builders/trt/plan.js');
    const plan = lowerToPlan(graph, { trtVersion: planFor?.version });
    const json = planToJson(plan);
    files['plan.json'] = JSON.stringify(json, null, 1) + '\n';
    extra = { planLayers: (json as { layers: unknown[] }).layers.length, planTrtVersion: planVersion ?? null, ...(plan.minTrtVersion ? { planMinTrtVersion: plan.minTrtVersion } : {}) };
  } else if (target === 'onnx') {
    const { exportOnnxFiles } = await import('../../builders/onnx/files.js');
    Object.assign(files, exportOnnxFiles(graph, 'model.onnx', (done, total) => out.progress('export', done, total)));
  } else {
    const { buildTrtEngineHandle } = await import('../../builders/trt/build.js');
    const engine = await buildTrtEngineHandle(graph, cfg, {
      onProgress: (done: number, total: number) => out.progress('engine build', done, total),
      log: (severity: string, msg: string) => (severity === 'error' || severity === 'warning' ? out.warn(`TensorRT: ${msg}`) : out.info(`TensorRT: ${msg}`)),
    });
    // Written from C++ straight into the temporary file: no ArrayBuffer copy, no 4 GiB limit.
    files['rank0.engine'] = (fd: number) => engine.writeTo(fd);
  }
  const fileNames = Object.keys(files).sort();
  const config = { ...(await buildRecord(target, hash, fileNames, model, cfg)), io: engineIoTable(graph) };
  await yieldToSignals(); // an interrupt during the export wins over committing its files
  commitBuild(flags.out, files, config, existing, `${target} build in ${flags.out}`);
  const s = summarize(graph);
  const result = {
    status: 'built',
    target,
    reason,
    out: path.resolve(flags.out),
    files: [...fileNames, 'config.json'],
    contentHash: hash,
    layers: s.layers,
    parameters: s.parameters.count,
    seconds: +((performance.now() - t0) / 1000).toFixed(3),
    ...extra,
  };
  out.result(result, `built ${target} for ${model.definition.name}: ${result.files.map((f) => path.join(flags.out, f)).join(', ')} (${s.layers} layers, ${result.seconds}s)`);
}

/**
 * Commits a build into `out`: its files and config.json (with every file's digest: `kept`
 * files, not rewritten, keep their recorded ones) as one unit, then removes the previous build's
 * files that it neither wrote nor kept (model.onnx after a plan build, say).
 */
export function commitBuild(out: string, files: Record<string, FileData>, config: object, existing: ExistingBuild | undefined, what: string, kept: { files: readonly string[]; digests: FileDigests } = { files: [], digests: {} }): void {
  writeFilesAtomic(out, files, { name: 'config.json', content: (d) => canonicalPretty({ ...config, fileDigests: { ...kept.digests, ...d } }) });
  markCommitted(what);
  for (const f of existing?.files ?? []) if (!(f in files) && !kept.files.includes(f) && path.basename(f) === f) fs.rmSync(path.join(out, f), { force: true });
}

/** The fields every build's config.json starts with (build-tp.ts adds the ranks'). */
export async function buildRecord(target: string, hash: string, files: string[], model: ResolvedModel, cfg: BuildConfig) {
  return {
    redraft: { version: VERSION },
    tensorrt: target === 'trt' ? await trtVersion() : undefined,
    target,
    contentHash: hash,
    files,
    model: { name: model.definition.name, source: model.source, drafter: model.drafterSource, config: model.definition.config ?? {} },
    build: cfg,
    calibration: model.calibration,
  };
}

export async function trtVersion(): Promise<string | undefined> {
  const { doctor } = await import('../../builders/trt/doctor.js');
  return doctor().library.version;
}

/** Deterministic, readable JSON (sorted keys, 2-space indent). */
export function canonicalPretty(v: unknown): string {
  return JSON.stringify(JSON.parse(canonicalJson(v)), null, 2) + '\n';
}

