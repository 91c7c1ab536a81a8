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
import { buildContentHash } from '../../builders/build-hash.js';
import { ensureWritableDir, lockDir, writeFilesAtomic, yieldToSignals } from '../../builders/atomic.js';
import { engineIoTable } from '../../builders/engine-io.js';
import { summarize } from '../../builders/inspect.js';
import { rankFile } from '../../builders/tp/layout.js';
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import { VERSION } from '../cli.js';
import { buildConfigFrom } from '../model.js';
import { loadRankGraphs, tpOf, tpReport } from '../tp.js';
import { canonicalPretty, chooseTarget, planTrtVersion, readExisting, trtVersion, type BuildFlags } from './build.js';

type FileContent = Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void);

/** The launch contract a build records (README: "Tensor parallelism"). */
const LAUNCH = {
  processes: 'one per rank, each on its own GPU; rank R loads rank<R>.* and is communicator rank R',
  communicator: 'NCCL: one communicator over all ranks (ncclCommInitRank with the same ncclUniqueId, nranks = size, rank = R), set on each execution context with IExecutionContext::setCommunicator before the first enqueue',
  order: 'every rank runs the same calls in the same order with the same input shapes; replicated inputs are identical on every rank, sliced ones are the rank\'s slice (tensorParallel.ranks[R].sliced)',
};

export async function buildTp(flags: BuildFlags, out: Output): Promise<void> {
  const t0 = performance.now();
  const { size, rank } = tpOf(flags);
  if (!flags.out) throw new UsageError('--out must name a directory, got ""', 'pass --out engine, say');
  readExisting(flags.out);
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
  const existing = readExisting(flags.out);
  const planVersion = planFor?.version ? `${planFor.version.major}.${planFor.version.minor}` : undefined;
  const hashes = ranks.map((r) => buildContentHash(r.graph, cfg, target, VERSION, planVersion));
  const hash = createHash('sha256').update(JSON.stringify({ tp: size, ranks: ranks.map((r, i) => [r.rank, hashes[i]]) })).digest('hex');
  if (!flags.force && existing?.contentHash === hash && (existing.files ?? []).every((f) => fs.existsSync(path.join(flags.out, f)))) {
    return out.result({ status: 'up-to-date', target, out: flags.out, contentHash: hash, files: existing.files }, `${flags.out} is up to date (content hash ${hash.slice(0, 12)}); use --force to rebuild`);
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
  const fileNames = Object.keys(files).sort();
  const config = {
    redraft: { version: VERSION },
    tensorrt: target === 'trt' ? await trtVersion() : undefined,
    target,
    contentHash: hash,
    files: fileNames,
    model: { name: model.definition.name, source: model.source, drafter: model.drafterSource, config: model.definition.config ?? {} },
    build: cfg,
    calibration: model.calibration,
    calibration: model.calibration,
    // The I/O table of the lowest rank built; every rank's own is under tensorParallel.ranks.
    io: engineIoTable(ranks[0].graph),
    tensorParallel: {
      size,
      built: ranks.map((r) => r.rank),
      notes: layout.notes,
      launch: LAUNCH,
      ranks: layout.ranks.map((l, r) => {
        const i = ranks.findIndex((x) => x.rank === r);
        return { rank: r, sliced: l.io, ...(i >= 0 ? { files: rankFiles[i], contentHash: hashes[i], io: engineIoTable(ranks[i].graph), ...tpReport(ranks[i].graph) } : {}) };
      }),
    },
  };
  files['config.json'] = canonicalPretty(config);
  await yieldToSignals();
  writeFilesAtomic(flags.out, files);
  for (const f of existing?.files ?? []) if (!(f in files) && path.basename(f) === f) fs.rmSync(path.join(flags.out, f), { force: true });
  const per = ranks.map((r) => ({ rank: r.rank, layers: r.graph.layers.length, ...tpReport(r.graph) }));
  const result = {
    status: 'built',
    target,
    reason,
    out: path.resolve(flags.out),
    files: [...fileNames, 'config.json'],
    contentHash: hash,
    tp: size,
    ranks: per,
    parameters: ranks.map((r) => summarize(r.graph).parameters.count),
    seconds: +((performance.now() - t0) / 1000).toFixed(3),
  };
  out.result(result, `built ${target} for ${model.definition.name}, --tp ${size}${rank !== undefined ? ` rank ${rank}` : ''}: ${result.files.map((f) => path.join(flags.out, f)).join(', ')} (${result.seconds}s)`);
}
