/**
 * TensorRT's documented constraints on the layers the ops lower to, one table, written as
 * TensorRT documents them (the operator reference's "Data Types" sections, the NvInfer.h doc
 * comments of 10.0–11.1). The op declarations check what every backend requires and throw at
 * the user's line; what only TensorRT refuses lives here instead, so `--target onnx` keeps
 * working on such a model while `--target plan|trt` lists each violation with the layer and
 * the user's call site (builders/trt/validate.ts evaluates these rules on the IR; builders never
 * import ops, so the CLI hands this table to the validator).
 *
 * The lowerings emit only combinations allowed here (arange computes in int32/int64/float32
 * and casts, nonzero converts its input first, cumprod never slices int64 in FILL mode, slice
 * CLAMP/FILL on bfloat16 goes through float32, FILL on int64 through WRAP + select), so a
 * violation comes from the model asking for something TensorRT cannot do.
 */
import type { DType } from '../dsl/dtype.js';
import { dtypeList } from '../dsl/dtype.js';
import type { Dim, DimRange } from '../dsl/dim.js';
import { evalDim, shapeToString } from '../dsl/dim.js';
import type { Layer, LayerKind, TensorInfo } from '../dsl/ir.js';

/** A tensor as a rule sees it: IR info plus its dims at the profile maximum (when known). */
export interface TrtTensorView extends TensorInfo {
  /** Dims at the optimization profile's max; undefined where a dim has no range (data-dependent). */
  max?: number[];
  /** Every path into it starts at a constant: TensorRT's "weights" ("rooted at an IConstantLayer"). */
  fromWeights?: boolean;
}

/** A TensorRT version ("major.minor"), as the validator passes it. */
export interface TrtRuleVersion {
  major: number;
  minor: number;
}

/** One layer as a rule sees it. */
export interface TrtLayerView {
  layer: Layer;
  inputs: TrtTensorView[];
  outputs: TrtTensorView[];
  /** The TensorRT version validated for: the one given, else the oldest that has every layer of the graph (trtMinimum). */
  trtVersion?: TrtRuleVersion;
  /** No version was given: trtVersion is the minimum the graph's layers need (builders/trt/plan.ts minTrtVersion). */
  trtMinimum?: boolean;
}

/** A rule on one IR layer kind: undefined when satisfied, else what TensorRT would refuse. */
export interface TrtLayerRule {
  /** Stable id, e.g. 'topk.k'. */
  id: string;
  /** The rule as TensorRT documents it, with where. */
  doc: string;
  check(v: TrtLayerView): string | undefined;
  /** What to do about a violation, where more specific than changing the model (a version rule names --trt-version). */
  fix?(v: TrtLayerView): string | undefined;
}

/** A rule on every tensor of the network (inputs and layer outputs). */
export interface TrtTensorRule {
  id: string;
  doc: string;
  check(t: TrtTensorView, symbols: Record<string, DimRange>): string | undefined;
}

export interface TrtRuleSet {
  layers: { readonly [K in LayerKind]?: readonly TrtLayerRule[] };
  tensors: readonly TrtTensorRule[];
}

/** TensorRT's general limits: Dims::MAX_DIMS, and the per-tensor volume limit of TensorRT 10.x. */
export const TRT_LIMITS = { maxRank: 8, maxVolume: 2 ** 31 - 1, maxTopK: 3840 } as const;

const F: readonly DType[] = ['float32', 'float16', 'bfloat16'];
const FI: readonly DType[] = [...F, 'int32', 'int64'];
const FI8: readonly DType[] = [...FI, 'int8'];
const INDEX: readonly DType[] = ['int32', 'int64'];

/** Rule: input `i` (named as TensorRT names it) has one of `dtypes`. */
function inputDtype(id: string, iface: string, i: number, name: string, dtypes: readonly DType[], doc: string, when?: (l: Layer) => boolean): TrtLayerRule {
  return {
    id,
    doc,
    check: ({ layer, inputs }) => {
      const t = inputs[i];
      if (!t || (when && !when(layer)) || dtypes.includes(t.dtype)) return undefined;
      return `${iface} ${name} has dtype ${t.dtype} (shape ${shapeToString(t.shape)}); TensorRT takes ${dtypeList(dtypes)} — ${doc}`;
    },
  };
}

/** Rule: every input has the same rank (TensorRT broadcasts only dims of 1, never missing dims). */
function sameRank(id: string, iface: string, doc: string): TrtLayerRule {
  return {
    id,
    doc,
    check: ({ inputs }) => {
      const ranks = inputs.map((t) => t.shape.length);
      return ranks.every((r) => r === ranks[0]) ? undefined : `${iface} inputs have ranks ${ranks.join(', ')} (${inputs.map((t) => shapeToString(t.shape)).join(', ')}); TensorRT — ${doc}`;
    },
  };
}

const EW_LOGIC = new Set(['and', 'or', 'xor']);
const EW_COMPARE = new Set(['equal', 'greater', 'less']);
const ewOp = (l: Layer) => (l as Extract<Layer, { kind: 'elementwise' }>).op;
const unOp = (l: Layer) => (l as Extract<Layer, { kind: 'unary' }>).op;

const ELEMENTWISE: TrtLayerRule[] = [
  sameRank('elementwise.rank', 'IElementWiseLayer', 'NvInfer.h IElementWiseLayer: "The input tensors must have the same rank"'),
  ...[0, 1].map((i) => inputDtype('elementwise.logic-dtype', 'IElementWiseLayer kAND/kOR/kXOR', i, `input${i + 1}`, ['bool'], 'NvInfer.h ElementWiseOperation: "kAND, kOR, and kXOR must have inputs of DataType::kBOOL"', (l) => EW_LOGIC.has(ewOp(l)))),
  ...[0, 1].map((i) => inputDtype('elementwise.compare-dtype', 'IElementWiseLayer kEQUAL/kGREATER/kLESS', i, `input${i + 1}`, FI, 'operator reference ElementWise: EQUAL, GREATER, LESS take int32, int64, float16, float32, bfloat16 (not bool; compare bools with logical_not(logical_xor(a, b)))', (l) => EW_COMPARE.has(ewOp(l)))),
  ...[0, 1].map((i) => inputDtype('elementwise.arith-dtype', 'IElementWiseLayer', i, `input${i + 1}`, FI8, 'NvInfer.h ElementWiseOperation: "all other operations must have inputs of floating-point type, kINT8, kINT32, or kINT64"', (l) => !EW_LOGIC.has(ewOp(l)) && !EW_COMPARE.has(ewOp(l)))),
];

const UNARY: TrtLayerRule[] = [
  inputDtype('unary.not-dtype', 'IUnaryLayer kNOT', 0, 'input', ['bool'], 'NvInfer.h UnaryOperation: "kNOT must have inputs of DataType::kBOOL"', (l) => unOp(l) === 'not'),
  inputDtype('unary.abs-sign-dtype', 'IUnaryLayer kABS/kSIGN', 0, 'input', FI8, 'NvInfer.h UnaryOperation: "kSIGN and kABS must have inputs of floating-point type, kINT8, kINT32 or kINT64"', (l) => unOp(l) === 'abs' || unOp(l) === 'sign'),
  inputDtype('unary.float-dtype', 'IUnaryLayer', 0, 'input', F, 'NvInfer.h UnaryOperation: "all other operations must have inputs of floating-point type" (kNEG included: negate an integer as 0 - x)', (l) => !['not', 'abs', 'sign'].includes(unOp(l))),
];

const topkOf = (l: Layer) => l as Extract<Layer, { kind: 'topk' }>;
const TOPK: TrtLayerRule[] = [
  inputDtype('topk.dtype', 'ITopKLayer', 0, 'input', FI, 'operator reference TopK: T1 is int32, int64, float16, float32, bfloat16'),
  {
    id: 'topk.k',
    doc: `NvInfer.h ITopKLayer::setK: "only values up to ${TRT_LIMITS.maxTopK} are supported"`,
    check: ({ layer }) => (topkOf(layer).k > TRT_LIMITS.maxTopK ? `ITopKLayer k is ${topkOf(layer).k}; TensorRT supports k <= ${TRT_LIMITS.maxTopK} (NvInfer.h ITopKLayer::setK)` : undefined),
  },
  {
    id: 'topk.axis',
    doc: 'operator reference TopK: "axes: the axis to sample; must be one of the last four dimensions"',
    check: ({ layer, inputs }) => {
      const r = inputs[0]?.shape.length ?? 0;
      const a = topkOf(layer).axis;
      return a < r - 4 ? `ITopKLayer reduces axis ${a} of a rank-${r} input; TensorRT's TopK axis must be one of the last four dims (${r - 4}..${r - 1}) — move the axis with permute first` : undefined;
    },
  },
];

const sliceOf = (l: Layer) => l as Extract<Layer, { kind: 'slice' }>;
const SLICE: TrtLayerRule[] = [
  {
    id: 'slice.mode-dtype',
    doc: 'operator reference Slice: "CLAMP, FILL and REFLECT modes do not support int64 or bfloat16"',
    check: ({ layer, inputs }) => {
      const m = sliceOf(layer).mode;
      const d = inputs[0]?.dtype;
      return (m === 'clamp' || m === 'fill') && (d === 'int64' || d === 'bfloat16')
        ? `ISliceLayer mode k${m.toUpperCase()} on ${d} input ${shapeToString(inputs[0].shape)}; TensorRT: "CLAMP, FILL and REFLECT modes do not support int64 or bfloat16"`
        : undefined;
    },
  },
  ...[1, 2, 3].map((i) => inputDtype('slice.param-dtype', 'ISliceLayer', i, 'start/size/stride tensor', INDEX, 'NvInfer.h ISliceLayer: "start, size, and stride tensors must be 1D tensors of type Int32 or Int64"')),
];

const fillOf = (l: Layer) => l as Extract<Layer, { kind: 'fill' }>;
const FILL: TrtLayerRule[] = [
  {
    id: 'fill.linspace-dtype',
    doc: 'NvInfer.h FillOperation::kLINSPACE: "Output type must be INT32, INT64, or FLOAT"',
    check: ({ layer }) => {
      const d = fillOf(layer).dtype;
      return d === 'int32' || d === 'int64' || d === 'float32' ? undefined : `IFillLayer kLINSPACE output dtype ${d}; TensorRT: "Output type must be INT32, INT64, or FLOAT" (fill in one of those, then cast)`;
    },
  },
  {
    id: 'fill.linspace-rank',
    doc: 'NvInfer.h FillOperation::kLINSPACE: element [i,j] is Alpha + Beta[0]*i + Beta[1]*j; "a static beta b is implicitly a 1D tensor, i.e. Beta = [b]", so a static linspace is defined for a rank-1 output only',
    check: ({ outputs }) => {
      const r = outputs[0]?.shape.length;
      return r === 1 ? undefined : `IFillLayer kLINSPACE with a static beta has a rank-${r} output ${shapeToString(outputs[0]?.shape ?? [])}; TensorRT's static Beta = [b] only defines a rank-1 linspace (fill 1-D, then reshape)`;
    },
  },
  inputDtype('fill.dims-dtype', 'IFillLayer', 0, 'dimensions tensor', INDEX, 'NvInfer.h IFillLayer: "the Dimensions input ... must be a 1D tensor of type Int32 or Int64"'),
];

const SELECT: TrtLayerRule[] = [
  sameRank('select.rank', 'ISelectLayer', 'NvInfer.h ISelectLayer: "The three input tensors must share the same rank"'),
  inputDtype('select.condition-dtype', 'ISelectLayer', 0, 'condition', ['bool'], 'operator reference Select: "condition: tensor of type bool"'),
  ...[1, 2].map((i) => inputDtype('select.dtype', 'ISelectLayer', i, i === 1 ? 'thenInput' : 'elseInput', [...FI, 'bool'], 'operator reference Select: T is int32, int64, float16, float32, bfloat16, bool')),
];

const CUMULATIVE: TrtLayerRule[] = [inputDtype('cumulative.dtype', 'ICumulativeLayer', 0, 'input', FI, 'operator reference Cumulative: SUM takes T1 int32, int64, float16, float32, bfloat16')];

const NONZERO: TrtLayerRule[] = [inputDtype('nonzero.dtype', 'INonZeroLayer', 0, 'input', ['float32', 'float16', 'int32', 'bool'], 'NvInfer.h INonZeroLayer: "The input may have type kFLOAT, kHALF, kINT32, or kBOOL"')];

const GATHER: TrtLayerRule[] = [
  inputDtype('gather.indices-dtype', 'IGatherLayer', 1, 'indices', INDEX, 'NvInfer.h IGatherLayer: "Indices shall be DataType::kINT32 or DataType::kINT64"'),
  {
    id: 'gather.element-dims',
    doc: 'NvInfer.h IGatherLayer::setNbElementWiseDims: "GatherMode::kELEMENT: nbElementWiseDims must be 0"',
    check: ({ layer }) => {
      const g = layer as Extract<Layer, { kind: 'gather' }>;
      return g.mode === 'element' && g.nbElementWiseDims !== 0 ? `IGatherLayer kELEMENT with nbElementWiseDims ${g.nbElementWiseDims}; TensorRT requires 0` : undefined;
    },
  },
];

const SCATTER: TrtLayerRule[] = [inputDtype('scatter.indices-dtype', 'IScatterLayer', 1, 'indices', INDEX, 'NvInfer.h IScatterLayer: "Indices shall be DataType::kINT32 or DataType::kINT64"')];
const MATMUL: TrtLayerRule[] = [0, 1].map((i) => inputDtype('matmul.dtype', 'IMatrixMultiplyLayer', i, `input${i}`, F, 'operator reference MatrixMultiply: T is float16, float32, bfloat16'));
const SOFTMAX: TrtLayerRule[] = [inputDtype('softmax.dtype', 'ISoftMaxLayer', 0, 'input', F, 'operator reference SoftMax: T is float16, float32, bfloat16')];
const ACTIVATION: TrtLayerRule[] = [inputDtype('activation.dtype', 'IActivationLayer', 0, 'input', [...F, 'int8'], 'operator reference Activation: T is int8, float16, float32, bfloat16')];
const REDUCE: TrtLayerRule[] = [inputDtype('reduce.dtype', 'IReduceLayer', 0, 'input', FI8, 'operator reference Reduce: T is int8, int32, int64, float16, float32, bfloat16 (not bool)')];
const SHUFFLE: TrtLayerRule[] = [inputDtype('shuffle.reshape-dtype', 'IShuffleLayer', 1, 'reshape dimensions tensor', INDEX, 'NvInfer.h IShuffleLayer: the second input "must be a 1D tensor of type Int32 or Int64"')];

/** The largest value of `name` (others at their max) for which the volume fits, if any. */
function maxFitting(shape: readonly Dim[], symbols: Record<string, DimRange>, name: string, limit: number): number | undefined {
  const vol = (v: number) => shape.reduce<number | undefined>((acc, d) => {
    const x = evalDim(d, (n) => (n === name ? v : symbols[n]?.max));
    return acc === undefined || x === undefined ? undefined : acc * x;
  }, 1);
  const lo0 = symbols[name]?.min ?? 0;
  if ((vol(lo0) ?? Infinity) > limit) return undefined;
  let lo = lo0;
  let hi = symbols[name]?.max ?? lo0;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if ((vol(mid) ?? Infinity) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const TENSORS: TrtTensorRule[] = [
  {
    id: 'tensor.rank',
    doc: `NvInfer.h Dims::MAX_DIMS: tensors have at most ${TRT_LIMITS.maxRank} dims`,
    check: (t) => (t.shape.length > TRT_LIMITS.maxRank ? `rank ${t.shape.length} ${shapeToString(t.shape)}; TensorRT tensors have at most ${TRT_LIMITS.maxRank} dims (Dims::MAX_DIMS)` : undefined),
  },
  {
    id: 'tensor.volume',
    doc: 'operator reference "Volume Limits": each input and output can have up to 2^31-1 elements (TensorRT 10.x)',
    check: (t, symbols) => {
      if (!t.max) return undefined;
      const vol = t.max.reduce((a, b) => a * b, 1);
      if (vol <= TRT_LIMITS.maxVolume) return undefined;
      const names = [...new Set(t.shape.flatMap((d) => (typeof d === 'number' ? [] : d.factors.flatMap((f) => f.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []))))].filter((n) => symbols[n]);
      const at = names.map((n) => `${n}=${symbols[n].max}`).join(', ');
      const fits = names.map((n) => {
        const m = maxFitting(t.shape, symbols, n, TRT_LIMITS.maxVolume);
        return m === undefined ? `no ${n} fits` : `${n} <= ${m}`;
      });
      return `${shapeToString(t.shape)} has ${vol.toExponential(2)} elements at the profile maximum (${at} → [${t.max.join(', ')}]); TensorRT 10.x allows at most 2^31-1 = ${TRT_LIMITS.maxVolume} per tensor. With the other dims at their max, the profile fits with ${fits.join(', or ')}; lower --max-batch/--max-seq, or split the tensor (e.g. the KV cache per layer)`;
    },
  },
];

const rank4 = (id: string, iface: string, idx: number[], names: string[], doc: string): TrtLayerRule => ({
  id,
  doc,
  check: ({ inputs }) => {
    const bad = idx.findIndex((i) => inputs[i] && inputs[i].shape.length !== 4);
    return bad < 0 ? undefined : `${iface} ${names[bad]} has rank ${inputs[idx[bad]].shape.length} ${shapeToString(inputs[idx[bad]].shape)}; TensorRT — ${doc}`;
  },
});

/**
 * The fused kinds TensorRT has natively from 10.14/10.15 (they reach the plan only when it is
 * lowered for such a version; otherwise as primitives, checked by the rules above). Keyed by
 * name so this table also compiles against an IR without them.
 */
const FUSED: Record<string, readonly TrtLayerRule[]> = {
  attention: [
    ...[0, 1, 2].map((i) => inputDtype('attention.dtype', 'IAttention', i, ['query', 'key', 'value'][i], F, 'NvInfer.h IAttention: query, key and value are tensors "of type kFLOAT, kHALF or kBF16"')),
    rank4('attention.rank', 'IAttention', [0, 1, 2], ['query', 'key', 'value'], 'NvInfer.h IAttention: query [batchSize, numHeadsQuery, sequenceLengthQuery, dimHead], key/value [batchSize, numHeadsKeyValue, sequenceLengthKeyValue, dimHead]'),
    {
      id: 'attention.mask-dtype',
      doc: 'NvInfer.h IAttention: the mask "is a tensor of type kBOOL or the same data type of BMM1 output"',
      check: ({ inputs }) => {
        const m = inputs[3];
        return !m || m.dtype === 'bool' || m.dtype === inputs[0]?.dtype ? undefined : `IAttention mask has dtype ${m.dtype}; TensorRT takes kBOOL or the query's dtype (${inputs[0]?.dtype})`;
      },
    },
  ],
  rotary_embedding: [
    inputDtype('rotary.dtype', 'IRotaryEmbeddingLayer', 0, 'input', F, 'NvInfer.h addRotaryEmbedding: the input activation tensor (floating point)'),
    rank4('rotary.rank', 'IRotaryEmbeddingLayer', [0], ['input'], 'NvInfer.h addRotaryEmbedding: "The shape must be (batchSize, numHeads, sequenceLength, headSize)"'),
  ],
  kv_cache_update: [
    ...[0, 1].map((i) => inputDtype('kv_cache_update.dtype', 'IKVCacheUpdateLayer', i, i ? 'update' : 'cache', F, 'NvInfer.h addKVCacheUpdate: cache and update "can be DataType::kFLOAT, DataType::kHALF, or DataType::kBF16"')),
    inputDtype('kv_cache_update.indices-dtype', 'IKVCacheUpdateLayer', 2, 'writeIndices', INDEX, 'NvInfer.h addKVCacheUpdate: "The writeIndices tensor must be DataType::kINT32 or DataType::kINT64"'),
  ],
};

const atLeast = (v: TrtRuleVersion | undefined, major: number, minor: number) => !!v && (v.major > major || (v.major === major && v.minor >= minor));
const vname = (v: TrtRuleVersion | undefined, minimum?: boolean) =>
  v ? `TensorRT ${v.major}.${v.minor}${minimum ? ' (no version given: the oldest that has every layer of this graph)' : ''}` : 'no TensorRT version';
/** The fix of a version-gated violation: the version to build for, and the redraft flag that avoids the layer, if any. */
const newer = (need: string, avoid?: string) =>
  `build for TensorRT ${need} or newer: --trt-version ${need} for a plan (--dry-run / --target plan), an addon compiled against TensorRT ${need}+ headers for an engine${avoid ? `; or ${avoid}` : ''}`;

/**
 * IQuantizeLayer / IDequantizeLayer as each version's NvInfer.h documents them (three-argument
 * addQuantize/addDequantize, every 10.x/11.x; the op declaration checks what every backend needs).
 * The granularity is the scale's rank: 0 per tensor, 1 per channel, the input's rank block-wise.
 */
function qdqRules(kind: 'quantize' | 'dequantize'): TrtLayerRule[] {
  const iface = kind === 'quantize' ? 'IQuantizeLayer' : 'IDequantizeLayer';
  const qOf = (v: TrtLayerView) => (kind === 'quantize' ? (v.layer as Extract<Layer, { kind: 'quantize' }>).dtype : v.inputs[0].dtype);
  const fOf = (v: TrtLayerView) => (kind === 'quantize' ? v.inputs[0].dtype : (v.layer as Extract<Layer, { kind: 'dequantize' }>).dtype);
  const gran = (v: TrtLayerView) => (v.inputs[1].shape.length === 0 ? 'tensor' : v.inputs[1].shape.length === 1 && v.inputs[0].shape.length > 1 ? 'channel' : 'block');
  return [
    {
      id: `${kind}.scale-dtype`,
      doc: `NvInfer.h ${iface}, strongly typed networks: 10.0–10.15 ${kind === 'quantize' ? '"input data type must match the scale data type"' : '"output data type is inferred from scale data type"'}; 10.16+ a kHALF/kBF16 scale must match the ${kind === 'quantize' ? 'input' : 'output'} type (kFLOAT scales always work)`,
      check: (v) => {
        const s = v.inputs[1].dtype, f = fOf(v);
        if (s === f) return undefined;
        if (atLeast(v.trtVersion, 10, 16) && s === 'float32') return undefined;
        return `${iface} scale has dtype ${s} but the ${kind === 'quantize' ? 'input' : 'output'} is ${f}; ${vname(v.trtVersion, v.trtMinimum)} needs ${atLeast(v.trtVersion, 10, 16) ? `float32 or ${f}` : f} — make the scale ${f}${atLeast(v.trtVersion, 10, 16) ? '' : ' (TensorRT 10.16+ also takes float32 scales)'}`;
      },
      // A float32 scale is taken from 10.16; a redraft model's float data is --dtype, so --dtype <the scale's> matches it.
      fix: (v) => {
        const s = v.inputs[1].dtype;
        const dt = F.includes(s) ? `build with --dtype ${s} (the model's float dtype then is the scale's)` : undefined;
        return s === 'float32' && !atLeast(v.trtVersion, 10, 16) ? newer('10.16', dt) : `make the scale ${fOf(v)}${dt ? `, or ${dt}` : ''}`;
      },
    },
    {
      id: `${kind}.per-channel-weights`,
      doc: `NvInfer.h ${iface}: per-channel ${kind} "is supported only for weight inputs" (${kind === 'dequantize' ? 'an input rooted at an IConstantLayer' : 'activations cannot be quantized per channel'})`,
      check: (v) => (gran(v) === 'channel' && v.inputs[0].fromWeights === false ? `${iface} has a per-channel scale ${shapeToString(v.inputs[1].shape)} on an activation (not computed from constants only); TensorRT supports per-channel ${kind} of weights only — use a per-tensor (scalar) scale` : undefined),
    },
    {
      id: `${kind}.block`,
      doc: `NvInfer.h ${iface}: block ${kind} — 10.0: 2-D kINT4 weights only; 10.1–10.15: kINT4 weights only; 10.16+: kINT4, kFP8 and kFP4`,
      check: (v) => {
        if (gran(v) !== 'block') return undefined;
        const q = qOf(v), x = v.inputs[0];
        if (atLeast(v.trtVersion, 10, 16)) return q === 'int8' ? `${iface} has block-wise int8 scales; TensorRT blocks kINT4, kFP8 and kFP4 only — use per-channel scales for int8` : undefined;
        if (q !== 'int4') return `${iface} has block-wise ${q} scales; ${vname(v.trtVersion, v.trtMinimum)} blocks kINT4 only (kFP8 from TensorRT 10.16) — build for --trt-version 10.16 or newer, or use per-channel scales`;
        if (x.fromWeights === false) return `${iface} blocks an activation; ${vname(v.trtVersion, v.trtMinimum)} supports block ${kind} of weights only (TensorRT 10.16+ blocks activations too)`;
        if (!atLeast(v.trtVersion, 10, 1) && x.shape.length !== 2) return `${iface} blocks a rank-${x.shape.length} input ${shapeToString(x.shape)}; TensorRT 10.0 blocks 2-D weights only`;
        return undefined;
      },
      fix: (v) => (atLeast(v.trtVersion, 10, 16) ? undefined : newer('10.16', 'use per-channel scales')),
    },
  ];
}

/**
 * ICumulativeLayer: INetworkDefinition::addCumulative, declared from TensorRT 10.8. With no version
 * given the graph is validated for its minimum, which counts it (10.8). No flag avoids it:
 * ReDrafter's acceptance and tree attention take prefix sums.
 */
const CUMULATIVE_VERSION: TrtLayerRule = {
  id: 'cumulative.version',
  doc: 'NvInfer.h: INetworkDefinition::addCumulative exists from TensorRT 10.8',
  check: (v) => (v.trtVersion && !atLeast(v.trtVersion, 10, 8) ? `ICumulativeLayer needs TensorRT 10.8 or newer (addCumulative); this graph is validated for ${vname(v.trtVersion, v.trtMinimum)}` : undefined),
  fix: () => newer('10.8'),
};

/** IDistCollectiveLayer: INetworkDefinition::addDistCollective, declared from TensorRT 10.16. */
const COLLECTIVE: TrtLayerRule[] = [
  {
    id: 'collective.version',
    doc: 'NvInfer.h: INetworkDefinition::addDistCollective and IDistCollectiveLayer exist from TensorRT 10.16 (no decomposition replaces a collective)',
    check: (v) =>
      atLeast(v.trtVersion, 10, 16)
        ? undefined
        : `IDistCollectiveLayer (${(v.layer as Extract<Layer, { kind: 'collective' }>).op}) needs TensorRT 10.16 or newer (addDistCollective); this graph is validated for ${vname(v.trtVersion, v.trtMinimum)}`,
    fix: () => newer('10.16', 'build without --tp (one rank has no collectives)'),
  },
];

/** Every TensorRT rule redraft knows, by IR layer kind, plus the per-tensor limits. */
export const TRT_RULES: TrtRuleSet = {
  layers: {
    ...(FUSED as TrtRuleSet['layers']),
    elementwise: ELEMENTWISE,
    unary: UNARY,
    topk: TOPK,
    slice: SLICE,
    fill: FILL,
    select: SELECT,
    cumulative: [...CUMULATIVE, CUMULATIVE_VERSION],
    nonzero: NONZERO,
    gather: GATHER,
    scatter: SCATTER,
    matmul: MATMUL,
    softmax: SOFTMAX,
    activation: ACTIVATION,
    reduce: REDUCE,
    shuffle: SHUFFLE,
    quantize: qdqRules('quantize'),
    dequantize: qdqRules('dequantize'),
    collective: COLLECTIVE,
  },
  tensors: TENSORS,
};
