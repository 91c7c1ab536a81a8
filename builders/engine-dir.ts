/**
 * A build output directory (`redraft build --out DIR`) as an input: its config.json read back
 * and checked, the engine file of its target located, and the graph rebuilt from the recorded
 * model checked against the recorded I/O table, so `--engine DIR` runs what was built.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../dsl/errors.js';
import type { Graph } from '../dsl/ir.js';
import { canonicalJson, type BuildConfig } from './build-config.js';
import { engineIoTable, type IoEntry } from './engine-io.js';
import { buildContentHash } from './build-hash.js';
import { rankFile } from './tp/layout.js';

export type EngineTarget = 'trt' | 'onnx' | 'plan';

/** What `redraft build` writes to DIR/config.json. */
export interface BuildRecord {
  redraft: { version: string };
  target: EngineTarget;
  contentHash: string;
  files: string[];
  model: { name: string; source: string; drafter?: string; config?: Record<string, unknown> };
  build: BuildConfig;
  io: { inputs: IoEntry[]; outputs: IoEntry[] };
  tensorrt?: string;
  /** Each file's size and sha256 as written (builders/atomic.ts writeFilesAtomic); a rebuild checks them before saying "up to date". */
  fileDigests?: Record<string, { bytes: number; sha256: string }>;
  /** fp8 --calibrate: the calibration's result, so `--engine DIR` needs neither the prompts file nor another run. */
  calibration?: CalibrationRecord;
  /** A --tp build (bin/commands/build-tp.ts): the ranks built, and each built rank's own I/O table and content hash. */
  tensorParallel?: { size: number; built?: number[]; ranks: { rank: number; contentHash?: string; io?: { inputs: IoEntry[]; outputs: IoEntry[] } }[] };
}

/**
 * What `--quantize fp8 --calibrate FILE` measured: each projection's activation amax (by weight
 * name; its input scale is amax / 448, a graph constant, so the content hash covers it) and the
 * prompts file's sha256 and line count, for the record.
 */
export interface CalibrationRecord {
  file: string;
  sha256: string;
  prompts: number;
  activations: Record<string, number>;
}

/** The recorded calibration of config.json `file`, checked (exit 2 naming the key); undefined when the build recorded none (an older redraft). */
export function recordedCalibration(rec: Partial<BuildRecord>, file: string, dir: string): CalibrationRecord | undefined {
  const c = rec.calibration as unknown;
  if (c === undefined) return undefined;
  const bad = (what: string) => new UsageError(`${file}: "calibration${what}`, `rebuild it: ${rebuildCommand(rec, dir)}`);
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw bad(`" is ${JSON.stringify(c)}, not an object`);
  const o = c as Record<string, unknown>;
  if (typeof o.sha256 !== 'string' || typeof o.file !== 'string' || typeof o.prompts !== 'number') throw bad('" lacks its file, sha256 or prompts');
  const a = o.activations;
  if (!a || typeof a !== 'object' || Array.isArray(a)) throw bad(`.activations" is ${JSON.stringify(a)}, not an object of amax values`);
  for (const [k, v] of Object.entries(a)) if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`.activations.${k}" is ${JSON.stringify(v)}, not a finite amax ≥ 0`);
  return o as unknown as CalibrationRecord;
}

/** One rank of a --tp build, opened for the process that runs it (the launch contract, builders/trt/tp.ts). */
export interface EngineRank {
  rank: number;
  size: number;
  /** tensorParallel.ranks[rank]'s I/O table and content hash: what checkEngineIo / checkEngineHash compare with. */
  io: { inputs: IoEntry[]; outputs: IoEntry[] };
  contentHash: string;
}

export interface EngineDir {
  dir: string;
  record: BuildRecord;
  /** The target's engine file: rank0.engine, model.onnx or plan.json (a --tp build's rank: rank<R>.engine, .onnx, .plan.json). */
  engineFile: string;
  /** Set when a --tp build was opened for one of its ranks (openEngineDir's `rank`). */
  rank?: EngineRank;
}

const ENGINE_FILE: Record<EngineTarget, string> = { trt: 'rank0.engine', onnx: 'model.onnx', plan: 'plan.json' };
const FIX = 'pass the --out directory of a `redraft build` (it holds config.json and the engine file)';

/** The `redraft build` command that rebuilds exactly what `rec` records, into `dir`. */
export function rebuildCommand(rec: Partial<BuildRecord>, dir: string, planTrtVersion?: string): string {
  const m = rec.model?.source;
  if (!m) return `redraft build --model <the model> --out ${dir} --force (config.json does not say which model it was built from)`;
  const b = (rec.build ?? {}) as Partial<BuildConfig>;
  const flags = [
    `--model ${m.replace(/^builtin:/, '')}`,
    rec.model?.drafter ? `--drafter ${rec.model.drafter}` : '',
    `--target ${rec.target ?? 'onnx'}`,
    b.dtype ? `--dtype ${b.dtype}` : '',
    b.beamWidth ? `--beam-width ${b.beamWidth}` : '',
    b.beamLength ? `--beam-length ${b.beamLength}` : '',
    b.maxBatch ? `--max-batch ${b.maxBatch}` : '',
    b.maxSeq ? `--max-seq ${b.maxSeq}` : '',
    rec.target === 'trt' && b.workspaceMiB ? `--workspace ${b.workspaceMiB}` : '',
    rec.target === 'trt' && b.optimizationLevel !== undefined ? `--opt-level ${b.optimizationLevel}` : '',
    rec.target === 'trt' && b.timingCache ? `--timing-cache ${b.timingCache}` : '',
    b.strict ? '--strict' : '',
    ...quantFlags(b),
    planTrtVersion ? `--trt-version ${planTrtVersion}` : '',
    ...tpFlags(rec.tensorParallel),
  ].filter(Boolean);
  return `redraft build ${flags.join(' ')} --out ${dir} --force`;
}

/** The recorded quantization as flags: --quantize, --calibrate (the prompts file recorded), --quantize-drafter. */
export function quantFlags(b: Partial<BuildConfig>): string[] {
  return [b.quantize ? `--quantize ${b.quantize}` : '', b.calibrate ? `--calibrate ${b.calibrate}` : '', b.quantizeDrafter ? '--quantize-drafter' : ''].filter(Boolean);
}

/** `--model M [--drafter D] [--quantize ...]`: the recorded model as the flags that simulate it (a --tp build on --backend interp, say). */
export function modelSimFlags(rec: Pick<BuildRecord, 'model'> & { build?: Partial<BuildConfig> }): string {
  return [`--model ${rec.model.source.replace(/^builtin:/, '')}`, rec.model.drafter ? `--drafter ${rec.model.drafter}` : '', ...(rec.build ? [rec.build.dtype ? `--dtype ${rec.build.dtype}` : '', ...quantFlags(rec.build)] : [])].filter(Boolean).join(' ');
}

/**
 * modelSimFlags' caveat for an fp8 --calibrate build: the simulation re-calibrates from the
 * recorded prompts file (the engine directory itself never reads it), so when that file is gone
 * or no longer what was calibrated on (sha256), say so. Empty otherwise.
 */
export function simulationCaveat(rec: Partial<BuildRecord>): string {
  const c = rec.calibration;
  const file = typeof c?.file === 'string' ? c.file : rec.build?.calibrate;
  if (typeof file !== 'string' || !file) return '';
  let now: string | undefined;
  try {
    now = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return `; the simulation re-calibrates from --calibrate ${file}, which no longer exists: restore the prompts file the build was calibrated on there first`;
  }
  return typeof c?.sha256 === 'string' && now !== c.sha256 ? `; the simulation re-calibrates from --calibrate ${file}, which changed since the build (sha256 ${now.slice(0, 12)}, recorded ${c.sha256.slice(0, 12)}): restore the prompts file the build was calibrated on` : '';
}

/** A --tp build's --tp N, and --rank R when it holds one rank of several (build-tp writes either all ranks or one). */
function tpFlags(tp: BuildRecord['tensorParallel']): string[] {
  if (!tp || typeof tp !== 'object') return [];
  const built = Array.isArray(tp.built) ? tp.built : [];
  return [`--tp ${tp.size}`, built.length === 1 && tp.size > 1 ? `--rank ${built[0]}` : ''];
}

/** The files `redraft build` writes besides config.json (one device or per rank, ONNX external data included). */
const BUILD_OUTPUT = /^(model\.onnx|plan\.json|rank\d+\.(engine|onnx|plan\.json))(\.data)?$/;

/**
 * What `dir` holds besides config.json: redraft build outputs, and anything else (a lock and
 * temporaries are neither). A directory whose config.json is damaged is taken for a redraft build
 * (`build --force` replaces it) only when it holds outputs and nothing else.
 */
export function buildOutputsIn(dir: string): { outputs: string[]; others: string[]; looksBuilt: boolean } {
  const names = fs.readdirSync(dir).filter((n) => n !== 'config.json' && n !== '.redraft.lock' && !/^\..+\.tmp-\d+-[a-z0-9]+$/.test(n));
  const outputs = names.filter((n) => BUILD_OUTPUT.test(n) && fs.statSync(path.join(dir, n)).isFile()).sort();
  const others = names.filter((n) => !outputs.includes(n)).sort();
  return { outputs, others, looksBuilt: outputs.length > 0 && others.length === 0 };
}

/** The fix for a config.json that cannot be read as a build record: what `redraft build --force` accepts there, or what to do instead. */
export function damagedRecordFix(dir: string): string {
  const { outputs, others, looksBuilt } = buildOutputsIn(dir);
  if (looksBuilt) return `rebuild it: redraft build --model <the model> ... --out ${dir} --force (config.json no longer says which model; --force replaces the build outputs there: ${outputs.join(', ')})`;
  const holds = others.length ? `it also holds ${others.slice(0, 4).join(', ')}${others.length > 4 ? ', ...' : ''}, which redraft did not write` : 'it holds no build outputs';
  return `${holds}, so redraft will not replace it: delete ${path.join(dir, 'config.json')} (or the directory) yourself, or build into another --out`;
}

/** Reads a JSON file of an engine directory; invalid JSON is exit 2 with the rebuild command. */
export function readEngineJson<T>(file: string, rec?: Partial<BuildRecord>, dir?: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UsageError(`${file} is not valid JSON (${(e as Error).message}): the build output is damaged`, rec && dir ? `rebuild it: ${rebuildCommand(rec, dir)}` : damagedRecordFix(path.dirname(file)));
  }
}

/**
 * Reads and checks DIR/config.json; every failure names the file and what is wrong (exit 2).
 * A --tp build is refused (`refuseTp`'s error, else one naming the model's --tp simulation)
 * unless `rank` asks for one of its ranks: then that rank's engine file, I/O table and content
 * hash are located (another size, a rank not built, a missing file are exit 2), and `rank` on a
 * build that is not tensor-parallel is refused.
 */
export function openEngineDir(dir: string, opts: { rank?: { rank: number; size: number }; refuseTp?: (size: number, rec: BuildRecord) => Error } = {}): EngineDir {
  if (!fs.existsSync(dir)) throw new UsageError(`--engine '${dir}' does not exist`, FIX);
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--engine '${dir}' is a file, not a build output directory`, FIX);
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new UsageError(`--engine '${dir}' holds no config.json: it is not a redraft build output`, FIX);
  const rec = readEngineJson<Partial<BuildRecord> & Record<string, unknown>>(file);
  if (!rec || typeof rec !== 'object' || typeof rec.redraft?.version !== 'string') {
    const hint = typeof rec?.model_type === 'string' ? `it is a model's own config (model_type ${rec.model_type}): pass that directory as --model, or build it first with redraft build --model ${dir} --out engine` : !rec || typeof rec !== 'object' || Array.isArray(rec) ? damagedRecordFix(dir) : FIX;
    throw new UsageError(`${file} is not a redraft build record`, hint);
  }
  const bad = (what: string) => new UsageError(`${file}: ${what}`, `rebuild it: ${rebuildCommand(rec, dir)}`);
  if (rec.target !== 'trt' && rec.target !== 'onnx' && rec.target !== 'plan') throw bad(`"target" is ${JSON.stringify(rec.target)}, not trt, onnx or plan`);
  if (!rec.model || typeof rec.model.source !== 'string') throw bad('"model.source" is missing (built by an older redraft?)');
  if (!rec.build || typeof rec.build !== 'object') throw bad('"build" is missing');
  if (!rec.io || !Array.isArray(rec.io.inputs) || !Array.isArray(rec.io.outputs)) throw bad('"io" is missing');
  // A --tp build holds one rank<R>.* per rank: its ranks run one process per GPU (README: "Tensor parallelism").
  const tp = (rec as { tensorParallel?: { size?: unknown } }).tensorParallel;
  if (opts.rank && !(tp && typeof tp === 'object'))
    throw new UsageError(`--engine '${dir}' is not a tensor-parallel build (its config.json has no tensorParallel), but this process was launched as rank ${opts.rank.rank} of ${opts.rank.size} (REDRAFT_TP_SIZE=${opts.rank.size})`, 'run a one-GPU build without REDRAFT_TP_SIZE, or pass the --out of redraft build --tp N');
  if (tp && typeof tp === 'object' && opts.rank) return openEngineRank(dir, rec as BuildRecord, opts.rank, bad);
  if (tp && typeof tp === 'object') {
    if (opts.refuseTp) throw opts.refuseTp(Number(tp.size), rec as BuildRecord);
    throw new UsageError(`--engine '${dir}' is a --tp ${String(tp.size)} build (rank<R>.* files, one per rank): its ranks run one process per GPU with an NCCL communicator, not in this command`, `simulate it from the model: ${modelSimFlags(rec as BuildRecord)} --tp ${String(tp.size)} (--backend interp)${simulationCaveat(rec)}`);
  }
  const engineFile = path.join(dir, ENGINE_FILE[rec.target]);
  if (!fs.existsSync(engineFile)) throw new UsageError(`--engine '${dir}': ${ENGINE_FILE[rec.target]} is missing (config.json says target ${rec.target})`, `rebuild it: ${rebuildCommand(rec, dir)}`);
  return { dir, record: rec as BuildRecord, engineFile };
}

const RANK_EXT: Record<EngineTarget, 'engine' | 'onnx' | 'plan.json'> = { trt: 'engine', onnx: 'onnx', plan: 'plan.json' };

/** Rank `want.rank` of the --tp build `rec` in `dir`: its file, I/O table and content hash, or exit 2 naming what does not match. */
function openEngineRank(dir: string, rec: BuildRecord, want: { rank: number; size: number }, bad: (what: string) => Error): EngineDir {
  const tp = rec.tensorParallel!;
  if (!Number.isInteger(tp.size) || !Array.isArray(tp.ranks)) throw bad('"tensorParallel" has no size or ranks');
  if (tp.size !== want.size)
    throw new UsageError(`--engine '${dir}' was built for --tp ${tp.size}, this process was launched as rank ${want.rank} of ${want.size} (REDRAFT_TP_SIZE=${want.size})`, `launch ${tp.size} processes, one per rank, with REDRAFT_TP_SIZE=${tp.size} and REDRAFT_TP_RANK=0..${tp.size - 1}`);
  const entry = tp.ranks.find((r) => r.rank === want.rank);
  const file = rankFile(want.rank, RANK_EXT[rec.target]);
  if (!entry?.io || typeof entry.contentHash !== 'string')
    throw new UsageError(`--engine '${dir}' holds no ${file} (built: rank ${(tp.built ?? []).join(', ') || 'none'} of ${tp.size})`, `build rank ${want.rank} for this process (a --rank build holds that rank alone): ${rebuildCommand({ ...rec, tensorParallel: { ...tp, built: [want.rank] } }, dir)}, or every rank with --tp ${tp.size}`);
  const engineFile = path.join(dir, file);
  if (!fs.existsSync(engineFile)) throw new UsageError(`--engine '${dir}': ${file} is missing (config.json lists rank ${want.rank} as built)`, `rebuild it: ${rebuildCommand(rec, dir)}`);
  return { dir, record: rec, engineFile, rank: { rank: want.rank, size: tp.size, io: entry.io, contentHash: entry.contentHash } };
}

/**
 * The graph rebuilt from the recorded model must have the recorded I/O (names, dtypes,
 * shapes, ranges): otherwise the model changed since the build and the engine is stale.
 */
export function checkEngineIo(e: EngineDir, graph: Graph): void {
  const got = engineIoTable(graph);
  const want = e.rank?.io ?? e.record.io;
  if (canonicalJson(got) === canonicalJson(want)) return;
  const names = (t: { inputs: IoEntry[]; outputs: IoEntry[] }) => [...t.inputs, ...t.outputs].map((x) => `${x.name} ${x.dtype} [${x.shape.join(', ')}]`);
  const g = names(got);
  const diff = names(want).filter((x, i) => x !== g[i]);
  throw new UsageError(
    `--engine '${e.dir}' is stale: the model it was built from (${e.record.model.source}) no longer has ${e.rank ? `rank ${e.rank.rank}'s` : 'its'} I/O${diff.length ? ` (${diff.slice(0, 3).join('; ')})` : ' (dim ranges differ)'}`,
    `rebuild it: ${rebuildCommand(e.record, e.dir)}`,
  );
}

/**
 * The content hash of the graph rebuilt from the recorded model (weights included) must be the
 * recorded one: a checkpoint edited in place since the build (same shapes, other values), another
 * model config, or another redraft version is a stale build, refused on every backend.
 * `planTrtVersion`: a plan build's TensorRT version, from its plan.json (part of its hash).
 */
export function checkEngineHash(e: EngineDir, graph: Graph, version: string, planTrtVersion?: string): void {
  const hash = buildContentHash(graph, e.record.build, e.record.target, version, planTrtVersion);
  const recorded = e.rank?.contentHash ?? e.record.contentHash;
  if (hash === recorded) return;
  const why = e.record.redraft.version !== version ? `it was built by redraft ${e.record.redraft.version}, this is ${version}` : `the weights or config of ${e.record.model.source}${e.record.model.drafter ? ` / ${e.record.model.drafter}` : ''} changed since the build`;
  throw new UsageError(`--engine '${e.dir}' is stale: ${why} (${e.rank ? `rank ${e.rank.rank}'s ` : ''}content hash ${hash.slice(0, 12)}, recorded ${String(recorded).slice(0, 12)})`, `rebuild it: ${rebuildCommand(e.record, e.dir, planTrtVersion)}`);
}
