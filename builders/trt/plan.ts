/**
 * IR → a plan of TensorRT network-definition calls: one entry per `INetworkDefinition::add*`
 * call with its exact parameters (enum names as in NvInfer.h), the network inputs with their
 * optimization-profile ranges, the outputs, and a weights table of zero-copy views. The native
 * addon replays the plan on a real network; the plan executor replays it on the interpreter.
 */
import { createHash } from 'node:crypto';
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { dimToString, evalDim } from '../../dsl/dim.js';
import type { DimsOrTensor, FusedKind, Graph, Layer, TensorId } from '../../dsl/ir.js';
import { assertNever, FUSED_KINDS } from '../../dsl/ir.js';
import { decomposeFused, prepareNativeAttention } from '../fused.js';

/** TensorRT DataType names. */
export const TRT_DTYPE: Record<DType, string> = { float32: 'kFLOAT', float16: 'kHALF', bfloat16: 'kBF16', int32: 'kINT32', int64: 'kINT64', int8: 'kINT8', bool: 'kBOOL', int4: 'kINT4', float8e4m3: 'kFP8' };

export interface PlanInput {
  id: TensorId;
  name: string;
  dtype: string;
  /** -1 for a run-time dim, as TensorRT network inputs declare them. */
  dims: number[];
  /** Optimization profile per input: min/opt/max of every dim. */
  profile: { min: number[]; opt: number[]; max: number[] };
}

export interface PlanLayer {
  method: string;
  name: string;
  /** Tensor ids: inputs[i] goes to the layer's input i (setInput for i ≥ the add* arguments). */
  inputs: TensorId[];
  outputs: TensorId[];
  params: Record<string, number | boolean | string | number[]>;
  outputShapes: string[][];
  /**
   * The dtypes the IR promises for each output. Where a TensorRT version's layer produces
   * another one, the bridge casts to this: INonZeroLayer's indices are kINT32 on 10.0–10.13
   * (the two-argument addNonZero of 10.14+ takes kINT64), while the IR and this plan say kINT64.
   */
  outputDtypes: string[];
  /** The user's file:line of the op that made the layer (for the bridge's messages; not in plan.json). */
  site?: string;
}

export interface PlanWeights {
  index: number;
  name?: string;
  dtype: string;
  shape: number[];
  data: TypedArray;
}

export interface TrtPlan {
  version: 1;
  name: string;
  /** The TensorRT version the plan was lowered for ("major.minor"), when one was given. */
  trtVersion?: string;
  /**
   * Without trtVersion: the oldest TensorRT that has every call the plan makes ("10.8" where it
   * has addCumulative; minTrtVersion), so a plan for no version says what it needs.
   */
  minTrtVersion?: string;
  inputs: PlanInput[];
  layers: PlanLayer[];
  outputs: { id: TensorId; name: string }[];
  weights: PlanWeights[];
}

const ELEMENTWISE: Record<string, string> = { sum: 'kSUM', prod: 'kPROD', max: 'kMAX', min: 'kMIN', sub: 'kSUB', div: 'kDIV', pow: 'kPOW', floor_div: 'kFLOOR_DIV', and: 'kAND', or: 'kOR', xor: 'kXOR', equal: 'kEQUAL', greater: 'kGREATER', less: 'kLESS' };
const UNARY: Record<string, string> = { exp: 'kEXP', log: 'kLOG', sqrt: 'kSQRT', recip: 'kRECIP', abs: 'kABS', neg: 'kNEG', sin: 'kSIN', cos: 'kCOS', floor: 'kFLOOR', ceil: 'kCEIL', round: 'kROUND', not: 'kNOT', erf: 'kERF', sign: 'kSIGN', isnan: 'kISNAN', isinf: 'kISINF' };
const ACTIVATION: Record<string, string> = { relu: 'kRELU', sigmoid: 'kSIGMOID', tanh: 'kTANH', leaky_relu: 'kLEAKY_RELU', elu: 'kELU', softplus: 'kSOFTPLUS', clip: 'kCLIP', gelu_erf: 'kGELU_ERF', gelu_tanh: 'kGELU_TANH' };
const REDUCE: Record<string, string> = { sum: 'kSUM', prod: 'kPROD', max: 'kMAX', min: 'kMIN', avg: 'kAVG' };
const MATRIX: Record<string, string> = { none: 'kNONE', transpose: 'kTRANSPOSE', vector: 'kVECTOR' };
const SLICE: Record<string, string> = { strict: 'kSTRICT_BOUNDS', wrap: 'kWRAP', clamp: 'kCLAMP', fill: 'kFILL' };
const GATHER: Record<string, string> = { default: 'kDEFAULT', element: 'kELEMENT', nd: 'kND' };
const SCATTER: Record<string, string> = { element: 'kELEMENT', nd: 'kND' };

const COLLECTIVE: Record<string, string> = { all_reduce: 'kALL_REDUCE', all_gather: 'kALL_GATHER', broadcast: 'kBROADCAST' };
const COLLECTIVE_REDUCE: Record<string, string> = { sum: 'kSUM', max: 'kMAX', none: 'kNONE' };

export const PLAN_ENUMS = { TRT_DTYPE, ELEMENTWISE, UNARY, ACTIVATION, REDUCE, MATRIX, SLICE, GATHER, SCATTER, COLLECTIVE, COLLECTIVE_REDUCE };

/** A TensorRT version as "major.minor". */
export interface TrtVersion {
  major: number;
  minor: number;
}

/** "10.9", "11.1.0.7" → { major, minor }; undefined when it is not a version. */
export function parseTrtVersion(s: string): TrtVersion | undefined {
  const m = /^(\d+)\.(\d+)(\.\d+)*$/.exec(s.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}
const atLeast = (v: TrtVersion, major: number, minor: number) => v.major > major || (v.major === major && v.minor >= minor);

/**
 * The TensorRT version that first has the IR kinds no decomposition replaces, with the call
 * (NvInfer.h): addCumulative 10.8, addDistCollective 10.16. Every other kind's call is in 10.0.
 */
export const MIN_TRT_FOR: Partial<Record<Layer['kind'], TrtVersion & { call: string }>> = {
  cumulative: { major: 10, minor: 8, call: 'addCumulative' },
  collective: { major: 10, minor: 16, call: 'addDistCollective' },
};

/** Whether TensorRT `v` has layer kind `kind` (undefined: no version given, so only what every 10.x/11.x has). */
export function trtHasKind(kind: Layer['kind'], v: TrtVersion | undefined): boolean {
  const need = MIN_TRT_FOR[kind];
  return !need || (!!v && atLeast(v, need.major, need.minor));
}

/**
 * The oldest TensorRT that has every layer of `g` (a graph as lowered: graphForTrt), at least
 * 10.0, and the calls that raise it ("addCumulative from 10.8"), newest first.
 */
export function minTrtVersion(g: Graph): { version: TrtVersion; needs: string[] } {
  let version: TrtVersion = { major: 10, minor: 0 };
  const kinds = new Set(g.layers.map((l) => l.kind));
  const needs: (TrtVersion & { call: string })[] = [];
  for (const k of kinds) {
    const n = MIN_TRT_FOR[k];
    if (!n) continue;
    needs.push(n);
    if (!atLeast(version, n.major, n.minor)) version = { major: n.major, minor: n.minor };
  }
  needs.sort((a, b) => b.major - a.major || b.minor - a.minor);
  return { version, needs: needs.map((n) => `${n.call} from ${n.major}.${n.minor}`) };
}

/**
 * The fused IR kinds TensorRT `v` adds natively (NvInfer.h): IAttention from 10.14 (addAttention;
 * addAttentionV2 with CausalMaskKind from 11.0), IRotaryEmbeddingLayer and IKVCacheUpdateLayer
 * from 10.15. RMS normalization is never native: addNormalizationV2 (10.15) computes
 * (x − mean) / sqrt(var + eps) only, so rms_norm lowers to its primitives on every version.
 */
export function nativeFusedKinds(v: TrtVersion | undefined): FusedKind[] {
  if (!v) return [];
  const out: FusedKind[] = [];
  if (atLeast(v, 10, 14)) out.push('attention');
  if (atLeast(v, 10, 15)) out.push('rotary_embedding', 'kv_cache_update');
  return out;
}

export interface PlanOptions {
  /**
   * The TensorRT version to lower for: fused layers it has natively become their add* calls,
   * the others their primitive layers. Default: none — every fused layer as primitives, for
   * the oldest TensorRT that has every call the plan makes (TrtPlan.minTrtVersion).
   */
  trtVersion?: TrtVersion;
}

const CAUSAL: Record<string, string> = { none: 'kNONE', upper_left: 'kUPPER_LEFT', lower_right: 'kLOWER_RIGHT' };

/** A static-or-tensor parameter: static dims as a param, a tensor as an extra input (setInput). */
function dimsParam(p: DimsOrTensor, key: string, params: PlanLayer['params']): void {
  if (Array.isArray(p)) params[key] = [...p];
  else params[`${key}Input`] = p.tensor;
}

/** `v`: the version lowered for (fused kinds' calls); `floor`: the oldest version the plan runs on (v, else minTrtVersion). */
function lowerLayer(l: Layer, weights: PlanWeights[], v: TrtVersion | undefined, floor: TrtVersion): Pick<PlanLayer, 'method' | 'params'> {
  const params: PlanLayer['params'] = {};
  switch (l.kind) {
    case 'constant':
      weights.push({ index: weights.length, name: l.weights.name, dtype: TRT_DTYPE[l.weights.dtype], shape: [...l.weights.shape], data: l.weights.data });
      return { method: 'addConstant', params: { dims: [...l.weights.shape], weights: weights.length - 1, dtype: TRT_DTYPE[l.weights.dtype] } };
    case 'shape':
      return { method: 'addShape', params };
    case 'shuffle':
      if (l.first) params.firstTranspose = [...l.first];
      if (l.reshape !== undefined) dimsParam(l.reshape, 'reshapeDims', params);
      if (l.second) params.secondTranspose = [...l.second];
      params.zeroIsPlaceholder = l.zeroIsPlaceholder;
      return { method: 'addShuffle', params };
    case 'concatenation':
      return { method: 'addConcatenation', params: { axis: l.axis } };
    case 'gather':
      return { method: 'addGatherV2', params: { mode: GATHER[l.mode], axis: l.axis, nbElementWiseDims: l.nbElementWiseDims } };
    case 'slice':
      dimsParam(l.start, 'start', params);
      dimsParam(l.size, 'size', params);
      dimsParam(l.stride, 'stride', params);
      params.mode = SLICE[l.mode];
      if (l.mode === 'fill') params.fillValue = l.fillValue ?? 0;
      return { method: 'addSlice', params };
    case 'elementwise':
      return { method: 'addElementWise', params: { op: ELEMENTWISE[l.op] } };
    case 'unary':
      return { method: 'addUnary', params: { op: UNARY[l.op] } };
    case 'activation':
      return { method: 'addActivation', params: { type: ACTIVATION[l.op], alpha: l.alpha ?? 0, beta: l.beta ?? 0 } };
    case 'matmul':
      return { method: 'addMatrixMultiply', params: { op0: MATRIX[l.opA], op1: MATRIX[l.opB] } };
    case 'softmax':
      return { method: 'addSoftMax', params: { axes: 1 << l.axis } };
    case 'topk':
      return { method: 'addTopK', params: { op: l.op === 'max' ? 'kMAX' : 'kMIN', k: l.k, reduceAxes: 1 << l.axis } };
    case 'reduce':
      return { method: 'addReduce', params: { op: REDUCE[l.op], reduceAxes: l.axes.reduce((m, a) => m | (1 << a), 0), keepDimensions: l.keepDims } };
    case 'select':
      return { method: 'addSelect', params };
    case 'fill':
      dimsParam(l.dims, 'dims', params);
      return { method: 'addFill', params: { ...params, op: 'kLINSPACE', dtype: TRT_DTYPE[l.dtype], alpha: l.alpha, beta: l.beta } };
    case 'cumulative':
      return { method: 'addCumulative', params: { op: 'kSUM', axis: l.axis, exclusive: l.exclusive, reverse: l.reverse } };
    case 'cast':
      return { method: 'addCast', params: { toType: TRT_DTYPE[l.dtype] } };
    case 'scatter':
      return { method: 'addScatter', params: { mode: SCATTER[l.mode], axis: l.axis } };
    case 'nonzero':
      return { method: 'addNonZero', params };
    // Present only when the target has them (lowerToPlan decomposes the others); the mask is
    // input 3 (IAttention::setMask), position ids input 3 of the rotary layer (setInput).
    case 'attention':
      if (l.scale !== 1) throw new Error(`internal: attention '${l.name}' reaches the plan with scale ${l.scale} (IAttention has none)`);
      if (v && atLeast(v, 11, 0)) return { method: 'addAttentionV2', params: { normOp: 'kSOFTMAX', causalKind: CAUSAL[l.causal], decomposable: true } };
      if (l.causal === 'lower_right') throw new Error(`internal: attention '${l.name}': lower-right causal needs addAttentionV2`);
      return { method: 'addAttention', params: { normOp: 'kSOFTMAX', causal: l.causal === 'upper_left', decomposable: true } };
    case 'rotary_embedding':
      return { method: 'addRotaryEmbedding', params: { interleaved: l.interleaved, rotaryEmbeddingDim: l.rotaryDim } };
    case 'kv_cache_update':
      return { method: 'addKVCacheUpdate', params: { cacheMode: 'kLINEAR' } };
    case 'rms_norm':
      throw new Error(`internal: rms_norm '${l.name}' has no TensorRT layer; lowerToPlan decomposes it`);
    // Three-argument addQuantize/addDequantize (every 10.x/11.x): the output type is explicit, as
    // strongly typed networks need; block-wise scales are told apart by their shape (NvInfer.h).
    case 'quantize':
      return { method: 'addQuantize', params: { toType: TRT_DTYPE[l.dtype], axis: l.axis } };
    case 'dequantize':
      return { method: 'addDequantize', params: { toType: TRT_DTYPE[l.dtype], axis: l.axis } };
    // addDistCollective (10.16+). TensorRT's root is a rank of the communicator (it remaps it to the
    // group-local rank), so the IR's group rank `root` becomes group[root]; -1 where no root is used.
    case 'collective': {
      if (!trtHasKind('collective', floor)) throw new Error(`internal: collective '${l.name}' needs TensorRT 10.16+ (addDistCollective); the validator refuses it for ${floor.major}.${floor.minor}`);
      const rooted = l.op === 'broadcast';
      return { method: 'addDistCollective', params: { op: COLLECTIVE[l.op], reduceOp: COLLECTIVE_REDUCE[l.op === 'all_reduce' ? l.reduce : 'none'], root: rooted ? l.group[l.root] : -1, groups: [...l.group] } };
    }
    default:
      return assertNever(l);
  }
}

/**
 * The graph as TensorRT `v` builds it: fused kinds it lacks as primitive layers, native
 * attention prepared for IAttention (q pre-scaled, causal folded into the mask where needed,
 * fully masked rows made explicit).
 */
export function graphForTrt(g: Graph, v?: TrtVersion): Graph {
  const native = new Set(nativeFusedKinds(v));
  const d = decomposeFused(g, FUSED_KINDS.filter((k) => !native.has(k)));
  return native.has('attention') ? prepareNativeAttention(d, { causalKinds: atLeast(v!, 11, 0), foldScale: true }) : d;
}

/** Lowers a graph to its TensorRT call plan (for `opts.trtVersion`; see PlanOptions). */
export function lowerToPlan(source: Graph, opts: PlanOptions = {}): TrtPlan {
  const v = opts.trtVersion;
  const g = graphForTrt(source, v);
  const floor = v ?? minTrtVersion(g).version;
  const weights: PlanWeights[] = [];
  const inputs: PlanInput[] = g.inputs.map((b) => {
    const t = g.tensors[b.id];
    // Profile dims from the named dims' ranges (compound dims like (past+seq) evaluated).
    const prof = (k: 'min' | 'opt' | 'max') => t.shape.map((d) => evalDim(d, (n) => g.symbols[n]?.[k]) ?? 1);
    return { id: b.id, name: b.name, dtype: TRT_DTYPE[t.dtype], dims: t.shape.map((d) => (typeof d === 'number' ? d : -1)), profile: { min: prof('min'), opt: prof('opt'), max: prof('max') } };
  });
  const layers: PlanLayer[] = g.layers.map((l) => ({
    ...lowerLayer(l, weights, v, floor),
    name: l.name,
    inputs: [...l.inputs],
    outputs: [...l.outputs],
    outputShapes: l.outputs.map((id) => g.tensors[id].shape.map(dimToString)),
    outputDtypes: l.outputs.map((id) => TRT_DTYPE[g.tensors[id].dtype]),
    ...(l.site ? { site: l.site } : {}),
  }));
  return { version: 1, name: g.name, ...(v ? { trtVersion: `${v.major}.${v.minor}` } : { minTrtVersion: `${floor.major}.${floor.minor}` }), inputs, layers, outputs: g.outputs.map((o) => ({ ...o })), weights };
}

/** The plan as JSON (weights summarised by dtype, shape, byte length and sha256). */
export function planToJson(p: TrtPlan): Record<string, unknown> {
  return {
    version: p.version,
    name: p.name,
    ...(p.trtVersion ? { trtVersion: p.trtVersion } : {}),
    ...(p.minTrtVersion ? { minTrtVersion: p.minTrtVersion } : {}),
    inputs: p.inputs,
    outputs: p.outputs,
    // Call sites are paths on the building machine: kept out of the file, which is reproducible.
    layers: p.layers.map(({ site: _site, ...l }) => l),
    weights: p.weights.map((w) => ({ index: w.index, name: w.name, dtype: w.dtype, shape: w.shape, bytes: w.data.byteLength, sha256: createHash('sha256').update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength)).digest('hex') })),
  };
}
