/**
 * Replays a TensorRT plan on the CPU: every plan entry is decoded back into the IR layer it
 * stands for (from the method and its TensorRT-named parameters only) and the result runs on
 * the reference interpreter. A lowering mistake shows up here as a wrong value, without a GPU.
 */
import type { DType } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { CollectiveLayer, DimsOrTensor, Graph, Layer, TensorInfo } from '../../dsl/ir.js';
import { runRanks } from '../tp/sim.js';
import { parseDim } from '../../dsl/dim.js';
import { runGraph } from '../interp/index.js';
import { ModelError } from '../../dsl/errors.js';
import { PLAN_ENUMS, type PlanLayer, type TrtPlan } from './plan.js';

const invert = <T extends string>(m: Record<T, string>): Record<string, T> => Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k])) as Record<string, T>;
const DT = invert(PLAN_ENUMS.TRT_DTYPE as Record<DType, string>);
const CAUSAL_KIND = { none: 'kNONE', upper_left: 'kUPPER_LEFT', lower_right: 'kLOWER_RIGHT' } as const;
const bits = (mask: number) => [...Array(32).keys()].filter((i) => mask & (1 << i));

/** A plan with addDistCollective run on its own: the collective needs the other ranks. */
export class CollectivePlanError extends ModelError {
  constructor(layer: string, op: string) {
    super(
      `plan entry '${layer}' is a collective (addDistCollective ${op}): one rank's plan cannot run alone, the exchange needs every rank of the group`,
      'run all rank plans together with executeRankPlans (the multi-rank simulator, builders/tp), or the rank graphs with `redraft generate --tp N`',
    );
  }
}

function param(p: PlanLayer['params'], key: string): DimsOrTensor {
  if (p[`${key}Input`] !== undefined) return { tensor: p[`${key}Input`] as number };
  return p[key] as number[];
}

function decode(e: PlanLayer, plan: TrtPlan, rank?: number): Layer {
  const p = e.params;
  const base = { name: e.name, inputs: e.inputs, outputs: e.outputs };
  switch (e.method) {
    case 'addConstant': {
      const w = plan.weights[p.weights as number];
      return { ...base, kind: 'constant', weights: { dtype: DT[w.dtype], shape: w.shape, data: w.data, name: w.name } };
    }
    case 'addShape': return { ...base, kind: 'shape' };
    case 'addShuffle':
      return { ...base, kind: 'shuffle', first: p.firstTranspose as number[] | undefined, reshape: p.reshapeDims !== undefined || p.reshapeDimsInput !== undefined ? param(p, 'reshapeDims') : undefined, second: p.secondTranspose as number[] | undefined, zeroIsPlaceholder: p.zeroIsPlaceholder as boolean };
    case 'addConcatenation': return { ...base, kind: 'concatenation', axis: p.axis as number };
    case 'addGatherV2': return { ...base, kind: 'gather', mode: invert(PLAN_ENUMS.GATHER)[p.mode as string] as Layer & never, axis: p.axis as number, nbElementWiseDims: p.nbElementWiseDims as number } as Layer;
    case 'addSlice': return { ...base, kind: 'slice', start: param(p, 'start'), size: param(p, 'size'), stride: param(p, 'stride'), mode: invert(PLAN_ENUMS.SLICE)[p.mode as string] as 'strict', fillValue: p.fillValue as number | undefined };
    case 'addElementWise': return { ...base, kind: 'elementwise', op: invert(PLAN_ENUMS.ELEMENTWISE)[p.op as string] as 'sum' };
    case 'addUnary': return { ...base, kind: 'unary', op: invert(PLAN_ENUMS.UNARY)[p.op as string] as 'exp' };
    case 'addActivation': return { ...base, kind: 'activation', op: invert(PLAN_ENUMS.ACTIVATION)[p.type as string] as 'relu', alpha: p.alpha as number, beta: p.beta as number };
    case 'addMatrixMultiply': return { ...base, kind: 'matmul', opA: invert(PLAN_ENUMS.MATRIX)[p.op0 as string] as 'none', opB: invert(PLAN_ENUMS.MATRIX)[p.op1 as string] as 'none' };
    case 'addSoftMax': return { ...base, kind: 'softmax', axis: bits(p.axes as number)[0] };
    case 'addTopK': return { ...base, kind: 'topk', op: p.op === 'kMAX' ? 'max' : 'min', k: p.k as number, axis: bits(p.reduceAxes as number)[0] };
    case 'addReduce': return { ...base, kind: 'reduce', op: invert(PLAN_ENUMS.REDUCE)[p.op as string] as 'sum', axes: bits(p.reduceAxes as number), keepDims: p.keepDimensions as boolean };
    case 'addSelect': return { ...base, kind: 'select' };
    case 'addFill': return { ...base, kind: 'fill', dims: param(p, 'dims'), dtype: DT[p.dtype as string], alpha: p.alpha as number, beta: p.beta as number };
    case 'addCumulative': return { ...base, kind: 'cumulative', op: 'sum', axis: p.axis as number, exclusive: p.exclusive as boolean, reverse: p.reverse as boolean };
    case 'addCast': return { ...base, kind: 'cast', dtype: DT[p.toType as string] };
    case 'addScatter': return { ...base, kind: 'scatter', mode: invert(PLAN_ENUMS.SCATTER)[p.mode as string] as 'element', axis: p.axis as number };
    case 'addNonZero': return { ...base, kind: 'nonzero' };
    case 'addAttention': return { ...base, kind: 'attention', scale: 1, causal: p.causal ? 'upper_left' : 'none' };
    case 'addAttentionV2': return { ...base, kind: 'attention', scale: 1, causal: invert(CAUSAL_KIND)[p.causalKind as string] };
    case 'addRotaryEmbedding': return { ...base, kind: 'rotary_embedding', interleaved: p.interleaved as boolean, rotaryDim: p.rotaryEmbeddingDim as number };
    case 'addKVCacheUpdate': return { ...base, kind: 'kv_cache_update' };
    case 'addQuantize': return { ...base, kind: 'quantize', axis: p.axis as number, dtype: DT[p.toType as string] as Extract<Layer, { kind: 'quantize' }>['dtype'] };
    case 'addDequantize': return { ...base, kind: 'dequantize', axis: p.axis as number, dtype: DT[p.toType as string] };
    case 'addDistCollective': {
      // One plan is one rank: the exchange needs every rank's plan (executeRankPlans).
      if (rank === undefined) throw new CollectivePlanError(e.name, p.op as string);
      const group = p.groups as number[];
      const op = invert(PLAN_ENUMS.COLLECTIVE)[p.op as string] as CollectiveLayer['op'];
      const reduce = (invert(PLAN_ENUMS.COLLECTIVE_REDUCE)[p.reduceOp as string] ?? 'none') as CollectiveLayer['reduce'];
      // The plan's root is a communicator rank (TensorRT remaps it within the group); the IR's a group rank.
      const root = (p.root as number) >= 0 ? group.indexOf(p.root as number) : 0;
      return { ...base, kind: 'collective', op, reduce, root, group, rank };
    }
    default:
      throw new Error(`plan entry '${e.name}': unknown TensorRT call ${e.method}`);
  }
}

/**
 * The graph a plan describes (tensor shapes from the plan's recorded output shapes). `rank`: the
 * communicator rank the plan was built for, needed only by plans with collectives.
 */
export function planToGraph(plan: TrtPlan, rank?: number): Graph {
  const tensors: TensorInfo[] = [];
  for (const i of plan.inputs) tensors[i.id] = { id: i.id, dtype: DT[i.dtype], shape: [], name: i.name };
  for (const e of plan.layers) e.outputs.forEach((id, k) => (tensors[id] = { id, dtype: DT[e.outputDtypes[k]], shape: e.outputShapes[k].map((d) => parseDim(d)) }));
  const symbols: Graph['symbols'] = {};
  return {
    name: plan.name,
    tensors,
    layers: plan.layers.map((e) => decode(e, plan, rank)),
    inputs: plan.inputs.map((i) => ({ id: i.id, name: i.name })),
    outputs: plan.outputs,
    symbols,
  };
}

function withSourceInputs(g: Graph, source: Graph): Graph {
  // Input declarations (dtypes, symbolic dims, ranges) come from the source graph.
  for (const b of source.inputs) g.tensors[b.id] = source.tensors[b.id];
  g.symbols = source.symbols;
  return g;
}

/**
 * Runs a plan on the interpreter with TensorRT's semantics. A plan with a collective cannot run
 * alone (CollectivePlanError, exit 4): run the ranks together with executeRankPlans.
 */
export function executePlan(plan: TrtPlan, inputs: Record<string, HostTensor>, source: Graph): Record<string, HostTensor> {
  return runGraph(withSourceInputs(planToGraph(plan), source), inputs);
}

/** One rank of a tensor-parallel build: its plan, the graph it was lowered from and its inputs. */
export interface RankPlan {
  plan: TrtPlan;
  source: Graph;
  inputs: Record<string, HostTensor>;
}

/**
 * Runs the plans of every rank (ranks[r] is communicator rank r) in lockstep on the multi-rank
 * simulator (builders/tp/sim.ts), which performs each addDistCollective's exchange.
 */
export function executeRankPlans(ranks: readonly RankPlan[]): Record<string, HostTensor>[] {
  return runRanks(ranks.map((r, rank) => ({ graph: withSourceInputs(planToGraph(r.plan, rank), r.source), inputs: r.inputs }))).outputs;
}
