/**
 * `--engine DIR` for generate, run, bench and inspect: the build record says which model, drafter,
 * dtype, beam shape and limits were built; the graph is rebuilt from it (weights read lazily) and
 * checked against the record's I/O table; the backend runs the directory's own engine file where
 * it can (ONNX Runtime loads model.onnx, the plan executor checks plan.json against the graph).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MissingBackendError, UsageError } from '../dsl/errors.js';
import type { Graph } from '../dsl/ir.js';
import type { HostTensor } from '../dsl/host.js';
import { checkEngineHash, checkEngineIo, modelSimFlags, openEngineDir, readEngineJson, rebuildCommand, recordedCalibration, simulationCaveat, type EngineDir } from '../builders/engine-dir.js';
import type { Runner } from '../builders/generate/loop.js';
import type { TpLaunch } from '../builders/trt/tp.js';
import { BUILTIN_MODELS, type ModelFlags } from './model.js';
import { tpEngineRefusal } from './tp.js';
import { VERSION } from './cli.js';
import type { Output } from './output.js';

/** Model flags that --engine supplies itself; passing them too is a usage error. */
const FROM_ENGINE = ['model', 'drafter', 'dtype', 'beamWidth', 'beamLength', 'maxBatch', 'maxSeq', 'config', 'quantize', 'calibrate', 'quantizeDrafter'] as const;
const FLAG_NAME: Record<(typeof FROM_ENGINE)[number], string> = { model: '--model', drafter: '--drafter', dtype: '--dtype', beamWidth: '--beam-width', beamLength: '--beam-length', maxBatch: '--max-batch', maxSeq: '--max-seq', config: '--config', quantize: '--quantize', calibrate: '--calibrate', quantizeDrafter: '--quantize-drafter' };

export const ENGINE_BACKENDS = ['interp', 'onnx', 'plan', 'trt'] as const;
export type EngineBackend = (typeof ENGINE_BACKENDS)[number];

/**
 * Opens --engine DIR and returns the model flags of its build (conflicting flags are exit 2).
 * A --tp build opens as one rank when `tp.launch` says which (REDRAFT_TP_SIZE, generate only);
 * otherwise it is refused, on --backend trt naming the launch contract (bin/tp.ts).
 */
export function engineModelFlags<F extends ModelFlags>(dir: string, flags: F, tp: { launch?: TpLaunch; backend?: string; launchable?: boolean } = {}): { engine: EngineDir; flags: F } {
  for (const k of FROM_ENGINE)
    if (flags[k] !== undefined)
      throw new UsageError(`${FLAG_NAME[k]} cannot be combined with --engine: the build in '${dir}' fixes it`, k === 'model' || k === 'drafter' ? `pass either --engine DIR or --model (with --drafter), not both` : `drop ${FLAG_NAME[k]}, or build another engine with it (redraft build ${FLAG_NAME[k]} ...) and pass that one`);
  const engine = openEngineDir(dir, { rank: tp.launch, refuseTp: tpEngineRefusal(dir, tp.backend ?? (flags as { backend?: string }).backend, !!tp.launchable) });
  const r = engine.record;
  const b = r.build;
  const builtin = r.model.source.startsWith('builtin:');
  const model = builtin ? r.model.source.slice('builtin:'.length) : r.model.source;
  const cfgFile = path.join(dir, 'config.json');
  // The engine is rebuilt from its recorded model (the graph, and its weights for hashing): a
  // model that is no longer there is named with the config.json key that records it.
  if (builtin && !(BUILTIN_MODELS as readonly string[]).includes(model))
    throw new UsageError(`${cfgFile}: "model.source" is ${JSON.stringify(r.model.source)}, not a built-in model (${BUILTIN_MODELS.join(', ')})`, `rebuild it: ${rebuildCommand({ ...r, model: { ...r.model, source: '<model>' } }, dir)}`);
  for (const [key, p] of [['model.source', builtin ? undefined : model], ['model.drafter', r.model.drafter]] as const)
    if (p !== undefined && !fs.existsSync(p))
      throw new UsageError(`${cfgFile}: "${key}" is ${p}, which no longer exists (an engine directory runs with the checkpoint it was built from)`, 'restore the checkpoint at that path, or rebuild the engine from where it is now');
  return {
    engine,
    flags: { ...flags, model, drafter: r.model.drafter, dtype: b.dtype, beamWidth: String(b.beamWidth), beamLength: String(b.beamLength), maxBatch: String(b.maxBatch), maxSeq: String(b.maxSeq), quantize: b.quantize, calibrate: b.calibrate, quantizeDrafter: b.quantizeDrafter, calibration: recordedCalibration(r, cfgFile, dir) },
  };
}

/** The default backend of an engine directory: its own target (the plan runs on the plan executor). */
export function defaultBackend(e: EngineDir): EngineBackend {
  return e.record.target;
}

/**
 * A runner for the engine's step graph on `backend`. `graph` is the rebuilt step graph (a --tp
 * build's rank: that rank's graph, `opts.launch` its place in the launch); other graphs (none
 * today) run on the interpreter.
 */
export async function engineRunner(e: EngineDir, graph: Graph, backend: EngineBackend, out: Output, opts: { launch?: TpLaunch } = {}): Promise<Runner> {
  const target = e.record.target;
  // plan.json, read once: its TensorRT version is part of the content hash, its layers and
  // weight hashes are compared with the rebuilt plan below.
  const onDisk = target === 'plan' ? readEngineJson<{ trtVersion?: string | null }>(e.engineFile, e.record, e.dir) : undefined;
  const lowered = onDisk?.trtVersion ?? undefined;
  checkEngineIo(e, graph);
  checkEngineHash(e, graph, VERSION, lowered);
  if (e.rank) return rankRunner(e, graph, backend, out, opts.launch);
  if (backend === 'interp') {
    const { runGraph } = await import('../builders/interp/index.js');
    return async (g, i) => runGraph(g, i);
  }
  if (backend === 'plan') {
    const [{ lowerToPlan, planToJson, parseTrtVersion }, { executePlan }] = await Promise.all([import('../builders/trt/plan.js'), import('../builders/trt/plan-exec.js')]);
    // A plan build is rebuilt for the TensorRT version it was lowered for (plan.json says which).
    const plan = lowerToPlan(graph, { trtVersion: lowered ? parseTrtVersion(lowered) : undefined });
    if (onDisk !== undefined) {
      // plan.json carries every layer and the sha256 of every weight: the rebuilt plan must equal it.
      if (JSON.stringify(onDisk) !== JSON.stringify(planToJson(plan)))
        throw new UsageError(`--engine '${e.dir}': plan.json differs from the plan of ${e.record.model.source} (weights or layers changed since the build)`, `rebuild it: ${rebuildCommand(e.record, e.dir, lowered)}`);
    }
    return async (g, i) => (g === graph ? executePlan(plan, i, g) : (await import('../builders/interp/index.js')).runGraph(g, i));
  }
  if (backend === 'onnx') {
    const { sessionForGraph, runGraphOnnx } = await import('../builders/onnx/env.js');
    const { OnnxSession } = await import('../builders/onnx/run.js');
    // ONNX Runtime's Node binding has no bfloat16 tensors: a bfloat16 build is re-exported with
    // float32 I/O (the same graph); other dtypes run the directory's model.onnx as it is.
    const useFile = target === 'onnx' && e.record.build.dtype !== 'bfloat16';
    if (target === 'onnx' && !useFile) out.info(`bfloat16 I/O: running ${e.record.model.source} re-exported with float32 I/O, not ${e.engineFile}`);
    let session: Awaited<ReturnType<typeof OnnxSession.create>>;
    try {
      session = useFile ? await OnnxSession.create(e.engineFile) : await sessionForGraph(graph);
    } catch (err) {
      if (!useFile) throw err;
      throw new UsageError(`--engine '${e.dir}': ONNX Runtime cannot load ${e.engineFile} (${(err as Error).message.split('\n')[0]}): the build output is damaged`, `rebuild it: ${rebuildCommand(e.record, e.dir)}`);
    }
    return async (g, i: Record<string, HostTensor>) => {
      if (g !== graph) throw new Error(`engineRunner: graph ${g.name} is not the engine's`);
      return runGraphOnnx(session, g, i);
    };
  }
  if (target !== 'trt')
    throw new MissingBackendError(`--backend trt: redraft's native TensorRT runtime is not available for '${e.dir}': it holds no TensorRT engine (rank0.engine)`, `this directory holds ${target === 'plan' ? 'a TensorRT plan' : 'an ONNX'} build; use --backend ${target === 'plan' ? 'plan' : 'onnx'}, or build it with --target trt`);
  // redraft's native TensorRT runtime: rank0.engine deserialized, checked against the I/O table, one execution context.
  const { trtRunner } = await import('../builders/trt/runtime.js');
  // next_log_probs (the drafter's log-probs, [batch, W, L-1, vocab] float32) stays on the device:
  // greedy decoding never reads it and sampling feeds it back as prev_log_probs (a device copy);
  // only --check-finite reads it to the host.
  const trt = await trtRunner(e.engineFile, e.record.io, graph, rebuildCommand(e.record, e.dir), (s, m) => (s === 'error' ? out.warn(`TensorRT: ${m}`) : out.info(`TensorRT: ${m}`)), { keepOnDevice: ['next_log_probs'] });
  if (trt.libs.tensorrt.double || trt.libs.cuda.double) out.info(`--backend trt on redraft's ${[trt.libs.tensorrt.double && 'TensorRT', trt.libs.cuda.double && 'CUDA-runtime'].filter(Boolean).join(' and ')} double: outputs are the double's pattern, not the model's`);
  return async (g, i) => (g === graph ? trt.run(g, i) : (await import('../builders/interp/index.js')).runGraph(g, i));
}

/** A launched rank (REDRAFT_TP_SIZE) runs its rank<R>.engine on --backend trt only: anything else is exit 2. */
export function checkRankBackend(e: EngineDir, backend: string): void {
  if (!e.rank || (backend === 'trt' && e.record.target === 'trt')) return;
  const model = `${modelSimFlags(e.record)} --tp ${e.rank.size}`;
  throw new UsageError(
    `--engine '${e.dir}': a process launched as rank ${e.rank.rank} of ${e.rank.size} (REDRAFT_TP_SIZE=${e.rank.size}) runs rank${e.rank.rank}.engine on --backend trt, ${e.record.target !== 'trt' ? `and this is a --target ${e.record.target} build` : `not --backend ${backend}`}`,
    (e.record.target !== 'trt' ? `build it with --target trt, or unset REDRAFT_TP_SIZE and simulate it from the model: ${model} --backend interp` : `pass --backend trt, or unset REDRAFT_TP_SIZE and simulate it from the model: ${model} --backend interp`) + simulationCaveat(e.record),
  );
}

/**
 * One rank of a --tp TensorRT build, in the process launched for it: rank<R>.engine (checked
 * against its I/O table and content hash by the caller) on an execution context with this rank's
 * NCCL communicator (builders/trt/tp.ts: the id through REDRAFT_NCCL_ID_FILE, ncclCommInitRank).
 */
async function rankRunner(e: EngineDir, graph: Graph, backend: EngineBackend, out: Output, launch: TpLaunch | undefined): Promise<Runner> {
  const r = e.rank!;
  checkRankBackend(e, backend);
  if (!launch) throw new Error(`engineRunner: rank ${r.rank} of '${e.dir}' needs its launch`);
  const [{ runtimeAddon }, { trtRankRunner }] = await Promise.all([import('../builders/trt/runtime.js'), import('../builders/trt/tp.js')]);
  const { addon } = runtimeAddon();
  if (!addon.ncclUniqueId || !addon.ncclInitRank) throw new MissingBackendError('--backend trt: this native addon has no NCCL runtime (built by an older redraft), so it cannot join a tensor-parallel launch', 'rebuild it with `npm run build:native`');
  const log = (s: string, m: string) => (s === 'error' ? out.warn(`TensorRT (rank ${r.rank}): ${m}`) : out.info(`TensorRT (rank ${r.rank}): ${m}`));
  out.info(`rank ${r.rank} of ${r.size}: joining the NCCL communicator through ${launch.idFile}`);
  const trt = await trtRankRunner(e.dir, e.record, graph, launch, rebuildCommand(e.record, e.dir), { addon: addon as typeof addon & Required<Pick<typeof addon, 'ncclUniqueId' | 'ncclInitRank'>>, log });
  if (trt.libs.tensorrt.double || trt.libs.cuda.double) out.info(`--backend trt on redraft's ${[trt.libs.tensorrt.double && 'TensorRT', trt.libs.cuda.double && 'CUDA-runtime'].filter(Boolean).join(' and ')} double: outputs are the double's pattern, not the model's`);
  if (trt.communicator.double) out.info(`rank ${r.rank}: NCCL is redraft's NCCL double (no network, no GPU)`);
  out.info(`rank ${r.rank} of ${r.size}: ${e.engineFile} with communicator rank ${trt.communicator.rank} of ${trt.communicator.size} (${trt.communicator.library})`);
  return async (g, i) => (g === graph ? trt.run(g, i) : (await import('../builders/interp/index.js')).runGraph(g, i));
}

/** Requests beyond the build's profile are refused on every backend (exit 2), naming the limit. */
export function checkLimits(rows: number, maxLength: number, limits: { maxBatch: number; maxSeq: number }, where: string): void {
  if (rows > limits.maxBatch)
    throw new UsageError(`${rows} prompt rows exceed the build's --max-batch ${limits.maxBatch} (${where})`, `pass at most ${limits.maxBatch} rows, or build with --max-batch ${rows} or more`);
  if (maxLength > limits.maxSeq)
    throw new UsageError(`--max-length ${maxLength} exceeds the build's --max-seq ${limits.maxSeq} (${where})`, `pass --max-length ${limits.maxSeq} or less, or build with --max-seq ${maxLength} or more`);
}
