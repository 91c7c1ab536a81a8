/**
 * `redraft build --tp N [--rank R]`: one output per communicator rank, named rank<R>.engine,
 * rank<R>.onnx or rank<R>.plan.json, plus config.json with the mapping (what each rank holds and
 * takes, its file, its content hash). Each rank's graph is built from its own weight slices and
 * nothing else, so its file is byte-identical whether it is built alone (--rank R, one CI job per
 * rank) or with all the others.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJson } from '../../builders/build-config.js';
import { buildContentHash } from '../../builders/build-hash.js';
import { damagedFile, ensureWritableDir, lockDir, yieldToSignals, type FileDigests } from '../../builders/atomic.js';
import { engineIoTable } from '../../builders/engine-io.js';
import { summarize } from '../../builders/inspect.js';
import { rankFile } from '../../builders/tp/layout.js';
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import { VERSION } from '../cli.js';
import { buildConfigFrom } from '../model.js';
import { loadRankGraphs, tpOf, tpReport } from '../tp.js';
import { buildRecord, commitBuild, chooseTarget, planTrtVersion, readExisting, type BuildFlags } from './build.js';

type FileContent = Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void);

/** The launch contract a build records (README: "Tensor parallelism"). */
const LAUNCH = {
  processes: 'one per rank, each on its own GPU; rank R loads rank<R>.* and is communicator rank R',
  communicator: 'NCCL: one communicator over all ranks (ncclCommInitRank with the same ncclUniqueId, nranks = size, rank = R), set on each execution context with IExecutionContext::setCommunicator before the first enqueue',
  order: 'every rank runs the same calls in the same order with the same input shapes; replicated inputs are identical on every rank, sliced ones are the rank\'s slice (tensorParallel.ranks[R].sliced)',
};

/** A --tp build record as config.json holds it (the parts a --rank build merges with). */
interface TpRecord {
  target?: string;
  contentHash?: string;
  files: string[];
  fileDigests?: FileDigests;
  io?: unknown;
  tensorParallel?: { size?: number; buildKey?: string; built?: number[]; ranks?: { rank: number; files?: string[]; contentHash?: string }[] };
}

function readTpRecord(dir: string, force?: boolean): TpRecord | undefined {
  const e = readExisting(dir, force); // refuses a config.json redraft did not write
  if (!e) return undefined;
  if (e.damaged) return { files: e.files ?? [] }; // --force over a damaged record: its outputs are replaced
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as TpRecord;
}

/**
 * Why a --rank build cannot join the build in --out (undefined: it can). Ranks of one build share
 * the tp size and the content hash inputs other than the rank (the build key: model, build config,
 * target, TensorRT plan version, redraft version); anything else there would be replaced.
 */
function cannotJoin(rec: TpRecord, size: number, key?: string): string | undefined {
  const tp = rec.tensorParallel;
  if (!tp) return `it holds a build without --tp (${rec.files.join(', ') || 'no files'})`;
  if (tp.size !== size) return `it holds a --tp ${tp.size} build (ranks ${(tp.built ?? []).join(', ')}), not --tp ${size}`;
  if (key !== undefined && tp.buildKey !== key) return `it holds ranks ${(tp.built ?? []).join(', ')} of another build (${tp.buildKey ? 'the model, build flags, target or redraft version differ' : 'recorded without a build key, by an older redraft'})`;
  return undefined;
}

export async function buildTp(flags: BuildFlags, out: Output): Promise<void> {
  const t0 = performance.now();
  const { size, rank } = tpOf(flags);
  if (!flags.out) throw new UsageError('--out must name a directory, got ""', 'pass --out engine, say');
  // A --rank build joins the other ranks of its build in --out; another build there is refused before any work.
  const early = readTpRecord(flags.out, flags.force);
  const refuse = (why: string) =>
    new UsageError(`--out '${flags.out}' cannot take rank ${rank} of this --tp ${size} build: ${why}; a --rank build keeps the other ranks only of the same build`, 'pass --force to replace what is there with this rank alone, or build into another --out');
  if (rank !== undefined && early && !flags.force) {
    const why = cannotJoin(early, size);
    if (why) throw refuse(why);
  }
  const { target, reason } = await chooseTarget(buildConfigFrom(flags), !!flags.dryRun, flags.target !== undefined);
  if (target === 'trt') {
    const { assertTensorRtUsable } = await import('../../builders/trt/build.js');
    assertTensorRtUsable();
  }
  if (flags.trtVersion !== undefined && target !== 'plan')
    throw new UsageError(`--trt-version is for TensorRT plans (--target plan / --dry-run), not --target ${target}`, 'drop --trt-version, or build with --dry-run');
  const planFor = target === 'plan' ? await planTrtVersion(flags.trtVersion) : undefined;
  const { ranks, layout, model, build: cfg } = await loadRankGraphs(flags, out, { lazyWeights: target !== 'plan' });
  out.info(`target ${target}: ${reason}`);
  if (target === 'plan' || target === 'trt') {
    // Collectives need TensorRT 10.16+ (addDistCollective): the validator says so per layer.
    const [{ assertTrtValid, describeLowering }, { TRT_RULES }, { engineTrtVersion }] = await Promise.all([import('../../builders/trt/validate.js'), import('../../ops/trt.js'), import('../../builders/trt/build.js')]);
    const trtV = planFor ? planFor.version : engineTrtVersion();
    const lowering = describeLowering(ranks[0].graph, trtV);
    out.info(`${target === 'plan' ? 'plan' : 'engine'} for ${lowering.version}${planFor ? ` (${planFor.why})` : ''}: ${lowering.summary}`);
    for (const r of ranks) assertTrtValid(r.graph, TRT_RULES, { trtVersion: trtV });
    out.info(`TensorRT constraints for ${lowering.rulesFor}: ${ranks.length} rank graph(s) checked, 0 violations`);
  }
  ensureWritableDir(flags.out);
  lockDir(flags.out);
  const existing = readTpRecord(flags.out, flags.force); // read again under the lock: another rank's job may have finished meanwhile
  const planVersion = planFor?.version ? `${planFor.version.major}.${planFor.version.minor}` : undefined;
  const hashes = ranks.map((r) => buildContentHash(r.graph, cfg, target, VERSION, planVersion));
  // The content hash inputs other than the rank's graph: equal for every rank of one build.
  const trtOnly = target === 'trt' ? {} : { workspaceMiB: undefined, optimizationLevel: undefined, timingCache: undefined };
  const buildKey = createHash('sha256')
    .update(canonicalJson({ tp: size, target, build: { ...cfg, ...trtOnly }, planTrtVersion: planVersion, redraft: VERSION, model: { name: model.definition.name, source: model.source, drafter: model.drafterSource, config: model.definition.config ?? {} } }))
    .digest('hex');
  // Ranks of this build already in --out (other CI jobs' --rank builds) are kept, their files and records as they are.
  const kept = new Map<number, NonNullable<NonNullable<TpRecord['tensorParallel']>['ranks']>[number]>();
  if (rank !== undefined && existing) {
    const why = cannotJoin(existing, size, buildKey);
    if (why && !flags.force) throw refuse(why);
    if (!why)
      for (const e of existing.tensorParallel?.ranks ?? [])
        if (e.rank !== rank && e.files?.length && e.contentHash && !damagedFile(flags.out, e.files, existing.fileDigests)) kept.set(e.rank, e);
  }
  const all = [...ranks.map((r, i) => [r.rank, hashes[i]] as [number, string]), ...[...kept].map(([r, e]) => [r, e.contentHash!] as [number, string])].sort((a, b) => a[0] - b[0]);
  // Over every rank the directory will hold: ranks merged one job at a time hash as one all-ranks build.
  const hash = createHash('sha256').update(JSON.stringify({ tp: size, ranks: all })).digest('hex');
  const mine = rank !== undefined ? existing?.tensorParallel?.ranks?.find((e) => e.rank === rank) : undefined;
  const upToDate = existing?.contentHash === hash && (rank === undefined || mine?.contentHash === hashes[0]);
  // Up to date only if the files are the ones the build wrote (sizes and sha256 as recorded).
  const damage = !flags.force && upToDate ? damagedFile(flags.out, existing?.files ?? [], existing?.fileDigests) : undefined;
  if (damage) out.info(`${flags.out} holds this build, but ${damage}: rebuilding`);
  if (!flags.force && upToDate && !damage) {
    return out.result({ status: 'up-to-date', target, out: flags.out, contentHash: hash, files: existing!.files }, `${flags.out} is up to date (content hash ${hash.slice(0, 12)}); use --force to rebuild`);
  }

  const files: Record<string, FileContent> = {};
  const rankFiles: string[][] = [];
  for (const { rank: r, graph } of ranks) {
    const before = new Set(Object.keys(files));
    if (target === 'plan') {
      const { lowerToPlan, planToJson } = await import('../../builders/trt/plan.js');
      files[rankFile(r, 'plan.json')] = JSON.stringify(planToJson(lowerToPlan(graph, { trtVersion: planFor?.version })), null, 1) + '\n';
    } else if (target === 'onnx') {
      const { exportOnnxFiles } = await import('../../builders/onnx/files.js');
      Object.assign(files, exportOnnxFiles(graph, rankFile(r, 'onnx'), (done, total) => out.progress(`export rank ${r}`, done, total)));
    } else {
      const { buildTrtEngineHandle } = await import('../../builders/trt/build.js');
      const engine = await buildTrtEngineHandle(graph, cfg, {
        onProgress: (done: number, total: number) => out.progress(`engine build rank ${r}`, done, total),
        log: (severity: string, msg: string) => (severity === 'error' || severity === 'warning' ? out.warn(`TensorRT (rank ${r}): ${msg}`) : out.info(`TensorRT (rank ${r}): ${msg}`)),
      });
      files[rankFile(r, 'engine')] = (fd: number) => engine.writeTo(fd);
    }
    rankFiles.push(Object.keys(files).filter((f) => !before.has(f)).sort());
  }
  const keptFiles = [...kept.values()].flatMap((e) => e.files ?? []);
  const fileNames = [...Object.keys(files), ...keptFiles].sort();
  const lowest = Math.min(...all.map(([r]) => r));
  const config = {
    ...(await buildRecord(target, hash, fileNames, model, cfg)),
    // The I/O table of the lowest rank built (a kept one's as recorded); every rank's own is under tensorParallel.ranks.
    io: kept.has(lowest) ? existing!.io : engineIoTable(ranks[0].graph),
    tensorParallel: {
      size,
      buildKey,
      built: all.map(([r]) => r),
      notes: layout.notes,
      launch: LAUNCH,
      ranks: layout.ranks.map((l, r) => {
        const i = ranks.findIndex((x) => x.rank === r);
        if (i < 0 && kept.has(r)) return kept.get(r)!;
        return { rank: r, sliced: l.io, ...(i >= 0 ? { files: rankFiles[i], contentHash: hashes[i], io: engineIoTable(ranks[i].graph), ...tpReport(ranks[i].graph) } : {}) };
      }),
    },
  };
  await yieldToSignals();
  // A kept rank's files keep their recorded digests (they are not rewritten).
  const keptDigests = Object.fromEntries(keptFiles.flatMap((f) => (existing?.fileDigests?.[f] ? [[f, existing.fileDigests[f]]] : [])));
  commitBuild(flags.out, files, config, existing, `--tp ${size} ${target} build in ${flags.out}`, { files: keptFiles, digests: keptDigests });
  const per = ranks.map((r) => ({ rank: r.rank, layers: r.graph.layers.length, ...tpReport(r.graph) }));
  const result = {
    status: 'built',
    target,
    reason,
    out: path.resolve(flags.out),
    files: [...fileNames, 'config.json'],
    contentHash: hash,
    tp: size,
    ...(kept.size ? { kept: [...kept.keys()].sort((a, b) => a - b) } : {}),
    ranks: per,
    parameters: ranks.map((r) => summarize(r.graph).parameters.count),
    seconds: +((performance.now() - t0) / 1000).toFixed(3),
  };
  out.result(result, `built ${target} for ${model.definition.name}, --tp ${size}${rank !== undefined ? ` rank ${rank}` : ''}: ${result.files.map((f) => path.join(flags.out, f)).join(', ')} (${result.seconds}s)${kept.size ? `; kept rank${kept.size > 1 ? 's' : ''} ${[...kept.keys()].sort((a, b) => a - b).join(', ')} of this build (ranks ${all.map(([r]) => r).join(', ')} of ${size} now in ${flags.out})` : ''}`);
}
