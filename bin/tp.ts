/**
 * `--tp N` / `--rank R`: the rank graphs of a tensor-parallel build (one per communicator rank,
 * each built on its own from its own weight slices), what each rank holds, and the collective
 * traffic each moves per step.
 */
import { evalDim } from '../dsl/dim.js';
import { dtypeBytes } from '../dsl/dtype.js';
import { ModelError, RedraftError, UsageError } from '../dsl/errors.js';
import type { HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import type { BuildConfig } from '../builders/build-config.js';
import { modelSimFlags, simulationCaveat, type BuildRecord } from '../builders/engine-dir.js';
import type { TpLayout } from '../builders/tp/layout.js';
import { tpGraphRunner, type TpBundle } from '../builders/tp/runner.js';
import type { CollectiveStats } from '../builders/tp/sim.js';
import type { BuildOptions } from '../models/definition.js';
import { summarize } from '../builders/inspect.js';
import type { Output } from './output.js';
import { buildConfigFrom, buildOptionsFrom, resolveModel, type ModelFlags, type ResolvedModel } from './model.js';

export interface TpFlags {
  tp?: string;
  rank?: string;
}

/** The parsed --tp / --rank (size 1 and no rank without --tp). */
export function tpOf(flags: TpFlags): { size: number; rank?: number } {
  const int = (flag: string, v: string, min: number) => {
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`, flag === '--tp' ? 'pass the number of GPUs (ranks), e.g. --tp 2' : 'ranks count from 0');
    return Number(v);
  };
  const size = flags.tp === undefined ? 1 : int('--tp', flags.tp, 1);
  if (size > 64) throw new UsageError(`--tp ${size} is above 64 ranks`, 'pass the number of GPUs, at most 64');
  if (flags.rank === undefined) return { size };
  if (flags.tp === undefined) throw new UsageError('--rank needs --tp N (the number of ranks it is one of)', 'e.g. --tp 2 --rank 1');
  const rank = int('--rank', flags.rank, 0);
  if (rank >= size) throw new UsageError(`--rank ${rank} is outside --tp ${size} (ranks 0..${size - 1})`, 'ranks count from 0');
  return { size, rank };
}

export interface RankGraphs {
  model: ResolvedModel;
  build: BuildConfig;
  layout: TpLayout;
  /** The graphs asked for (every rank, or --rank's alone), by rank. */
  ranks: { rank: number; graph: Graph }[];
}

/** Resolves the model once and builds the asked ranks' graphs (loadGraph's TP counterpart). */
export async function loadRankGraphs(flags: ModelFlags & TpFlags, out: Output, opts: { lazyWeights?: boolean; graph?: 'step' | 'llm' } = {}): Promise<RankGraphs> {
  const { size, rank } = tpOf(flags);
  const build = buildConfigFrom(flags);
  const model = await resolveModel(flags, out, { lazyWeights: opts.lazyWeights });
  const def = model.definition as typeof model.definition & { llmGraph?: (o: unknown) => Graph };
  if (!def.tensorParallel) throw new UsageError(`model '${def.name}' (${model.source}) does not build tensor-parallel ranks`, '--tp needs a Llama-family model directory with --drafter (or the built-in tiny-redrafter); a model module would need a tensorParallel(size) and build(opts.tp)');
  const layout = def.tensorParallel(size);
  for (const note of layout.notes) out.warn(`--tp ${size}: ${note}`);
  const base = await buildOptionsFrom(build, model, out);
  const which = rank === undefined ? Array.from({ length: size }, (_, r) => r) : [rank];
  out.info(`building ${which.length === size ? `all ${size} rank graphs` : `rank ${rank} of ${size}`} of ${def.name} (${model.source})`);
  const ranks = which.map((r) => ({ rank: r, graph: rankGraph(def.name, size, r, (tp) => (opts.graph === 'llm' && def.llmGraph ? def.llmGraph({ ...base, tp }) : def.build({ ...base, tp }))) }));
  return { model, build, layout, ranks };
}

/** Rank `rank` of `size`'s graph from `make`; a definition that throws, or a rank graph without collectives, is a model error. */
function rankGraph(name: string, size: number, rank: number, make: (tp: { size: number; rank: number }) => Graph): Graph {
  let graph: Graph;
  try {
    graph = make({ size, rank });
  } catch (e) {
    if (e instanceof RedraftError) throw e;
    throw new ModelError(`model '${name}' failed to build rank ${rank}'s graph: ${(e as Error)?.message ?? String(e)}`, 'fix the model definition', e);
  }
  if (size > 1 && !graph.layers.some((l) => l.kind === 'collective'))
    throw new ModelError(`model '${name}': rank ${rank}'s graph holds no collective, so its ranks would not combine their shards`, 'the definition must build rank opts.tp.rank with the ops all_reduce / all_gather');
  return graph;
}

/**
 * The step graph of one launched rank (generate --engine DIR --backend trt under REDRAFT_TP_SIZE):
 * the graph `build --tp N` compiled for that rank (the definition's build at opts.tp), and the kv
 * heads of its cache slice (the definition's layout: what the host loop allocates per cache).
 */
export function rankStepGraph(
  def: { name: string; build(o: BuildOptions): Graph; tensorParallel?(size: number): TpLayout },
  opts: BuildOptions,
  place: { rank: number; size: number },
  fullKvHeads: number,
  out: Output,
): { graph: Graph; kvHeads: number } {
  if (!def.tensorParallel) throw new UsageError(`model '${def.name}' does not build tensor-parallel ranks, so no rank engine of it can be run`, 'rebuild the engine directory from a model with tensor-parallel ranks');
  const layout = def.tensorParallel(place.size);
  for (const note of layout.notes) out.warn(`--tp ${place.size}: ${note}`);
  const spec = layout.ranks[place.rank]?.io['k_cache_0'];
  out.info(`building rank ${place.rank} of ${place.size} of ${def.name}`);
  return { graph: rankGraph(def.name, place.size, place.rank, (tp) => def.build({ ...opts, tp })), kvHeads: spec ? spec.end - spec.start : fullKvHeads };
}

/**
 * The refusal of --engine on a --tp build in one process (openEngineDir's refuseTp): on
 * --backend trt it names the launch contract (`launchable`: the command runs rank engines when
 * launched, i.e. generate), else it points to the model's --tp simulation.
 */
export function tpEngineRefusal(dir: string, backend: string | undefined, launchable: boolean): (size: number, rec: BuildRecord) => Error {
  return (size, rec) => {
    const model = `${modelSimFlags(rec)} --tp ${size}`;
    const what = `--engine '${dir}' is a --tp ${size} build (rank<R>.* files, one per rank)`;
    if ((backend ?? rec.target) !== 'trt' || rec.target !== 'trt')
      return new UsageError(`${what}: its ranks run one process per GPU with an NCCL communicator, not in this command`, `simulate it from the model: ${model} (--backend interp)${simulationCaveat(rec)}`);
    const launch = `REDRAFT_TP_SIZE=${size} REDRAFT_TP_RANK=<R> REDRAFT_NCCL_ID_FILE=<path> CUDA_VISIBLE_DEVICES=<gpu> redraft generate --engine ${dir} --backend trt ... (<path>: one fresh file for all ranks of the launch; <gpu>: rank R's GPU)`;
    return new UsageError(
      `${what}: its rank engines run one process per rank with an NCCL communicator (the launch contract: REDRAFT_TP_SIZE, REDRAFT_TP_RANK, REDRAFT_NCCL_ID_FILE; README "Tensor parallelism")${launchable ? ', and REDRAFT_TP_SIZE is not set' : '; only `redraft generate` runs them'}`,
      `launch one process per rank R in 0..${size - 1}: ${launch}; or simulate it from the model: ${model} --backend interp`,
    );
  };
}

/** Per-rank weight bytes and collective traffic of one call at `dims` (each named dim at its value, else its opt). */
export function tpReport(graph: Graph, dims: Record<string, number> = {}): { weightBytes: number; collectives: { calls: number; bytes: number | null; byOp: Record<string, { calls: number; bytes: number | null }> } } {
  const lookup = (n: string) => dims[n] ?? graph.symbols[n]?.opt;
  const byOp: Record<string, { calls: number; bytes: number | null }> = {};
  let calls = 0;
  let bytes: number | null = 0;
  for (const l of graph.layers) {
    if (l.kind !== 'collective') continue;
    const t = graph.tensors[l.inputs[0]];
    const n = t.shape.reduce<number | undefined>((a, d) => (a === undefined ? undefined : ((v) => (v === undefined ? undefined : a * v))(evalDim(d, lookup))), 1);
    const b = n === undefined ? null : dtypeBytes(t.dtype, n);
    const e = (byOp[l.op] ??= { calls: 0, bytes: 0 });
    e.calls++;
    e.bytes = e.bytes === null || b === null ? null : e.bytes + b;
    calls++;
    bytes = bytes === null || b === null ? null : bytes + b;
  }
  return { weightBytes: summarize(graph).parameters.bytes, collectives: { calls, bytes, byOp } };
}

/**
 * generate/run --tp N on the interpreter: the step graph (and the LLM-only graph) of every rank,
 * run together on the multi-rank simulator behind one runner; `stepGraph` is rank 0's (the
 * host loop reads its aliases; the runner recognises it).
 */
export function tpGeneration(
  def: { name: string; stepGraph(o: BuildOptions, sampling?: boolean): Graph; llmGraph(o: BuildOptions): Graph; tensorParallel?(size: number): TpLayout },
  opts: BuildOptions,
  size: number,
  sampling: boolean,
  autoregressive: boolean,
  base: (g: Graph, ins: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>,
  out: Output,
  onStats?: (stats: CollectiveStats[]) => void,
): { stepGraph: Graph; llmGraph?: Graph; run: (g: Graph, ins: Record<string, HostTensor>) => Promise<Record<string, HostTensor>> } {
  if (!def.tensorParallel) throw new UsageError(`model '${def.name}' does not build tensor-parallel ranks`, 'drop --tp');
  const layout = def.tensorParallel(size);
  for (const note of layout.notes) out.warn(`--tp ${size}: ${note}`);
  const ranks = (g: (o: BuildOptions) => Graph): TpBundle => ({ graphs: Array.from({ length: size }, (_, rank) => g({ ...opts, tp: { size, rank } })), layout });
  const step = ranks((o) => def.stepGraph(o, sampling));
  const llm = autoregressive ? ranks((o) => def.llmGraph(o)) : undefined;
  out.info(`tensor parallel: ${size} rank graphs on the multi-rank simulator (collectives exchanged in lockstep)`);
  return { stepGraph: step.graphs[0], llmGraph: llm?.graphs[0], run: tpGraphRunner(llm ? [step, llm] : [step], base, onStats) };
}

/** --tp with a backend other than the simulator: refused naming why. */
export function refuseTpBackend(backend: string, size: number): void {
  if (size === 1 || backend === 'interp') return;
  if (backend === 'onnx')
    // Exit 2, not 3: no installable backend makes this pair work; the flags ask for what no ONNX Runtime session does.
    throw new UsageError(`--backend onnx cannot be combined with --tp ${size}: ONNX Runtime's CPU build cannot run the rank graphs' collectives (com.redraft custom-domain nodes; one session has no peer ranks), and no other install changes that, so the flags conflict`, `run --tp ${size} with --backend interp (the multi-rank simulator), or drop --tp to run one graph on ONNX Runtime`);
  throw new UsageError(`--backend ${backend} --tp ${size} runs engines, one process per rank with an NCCL communicator (README: "Tensor parallelism", launch contract); this command runs one process`, `simulate with --backend interp --tp ${size}, or launch rank<R>.engine per GPU as the README describes`);
}
