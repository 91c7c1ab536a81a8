/**
 * The IR: a closed set of layer kinds shaped like TensorRT's layers. Every backend
 * (interpreter, ONNX exporter, TensorRT plan) switches on `Layer['kind']` exhaustively, so a
 * new kind fails to compile until each backend handles it.
 */
import type { DType, TypedArray } from './dtype.js';
import type { Dim, DimRange } from './dim.js';

export type TensorId = number;

export interface TensorInfo {
  id: TensorId;
  dtype: DType;
  shape: Dim[];
  /** Known element values of a small int tensor (shape tensors), tracked symbolically. */
  values?: Dim[];
  name?: string;
}

/** Constant data: a zero-copy typed-array view (float16/bfloat16 as raw Uint16 bits). */
export interface Weights {
  dtype: DType;
  shape: number[];
  data: TypedArray;
  /** Name of the weight in its source file (e.g. a safetensors key), for messages and export. */
  name?: string;
  /**
   * True when `data` is a getter that reads the weight from its source on every access and
   * keeps nothing: consumers take it, use it and drop it, so a model larger than memory can
   * be exported one weight at a time.
   */
  lazy?: boolean;
}

/**
 * A parameter that is either fixed at build time or read from a shape tensor at run time.
 * A `{ tensor }` parameter's id is also listed in the layer's `inputs` (TensorRT's setInput),
 * so every backend sees the dependency.
 */
export type DimsOrTensor = number[] | { tensor: TensorId };

export type ElementWiseOp =
  | 'sum' | 'prod' | 'max' | 'min' | 'sub' | 'div' | 'pow' | 'floor_div'
  | 'and' | 'or' | 'xor' | 'equal' | 'greater' | 'less';
export type UnaryOp =
  | 'exp' | 'log' | 'sqrt' | 'recip' | 'abs' | 'neg' | 'sin' | 'cos' | 'floor' | 'ceil'
  | 'round' | 'not' | 'erf' | 'sign' | 'isnan' | 'isinf';
export type ActivationOp =
  | 'relu' | 'sigmoid' | 'tanh' | 'leaky_relu' | 'elu' | 'softplus' | 'clip' | 'gelu_erf' | 'gelu_tanh';
export type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'avg';
export type MatrixOp = 'none' | 'transpose' | 'vector';
export type SliceMode = 'strict' | 'wrap' | 'clamp' | 'fill';
export type GatherMode = 'default' | 'element' | 'nd';
export type ScatterMode = 'element' | 'nd';

interface Base {
  /** Input tensor ids, in TensorRT's input order. */
  inputs: TensorId[];
  outputs: TensorId[];
  /** Layer name (op name + counter), and the user's call site for messages. */
  name: string;
  site?: string;
}

/** Constant tensor (IConstantLayer). */
export interface ConstantLayer extends Base { kind: 'constant'; weights: Weights }
/** Shape of the input as a 1-D int64 tensor (IShapeLayer). */
export interface ShapeLayer extends Base { kind: 'shape' }
/** first transpose → reshape → second transpose (IShuffleLayer). Reshape: 0 copies a dim when zeroIsPlaceholder, -1 is inferred. */
export interface ShuffleLayer extends Base {
  kind: 'shuffle';
  first?: number[];
  reshape?: DimsOrTensor;
  second?: number[];
  zeroIsPlaceholder: boolean;
}
export interface ConcatenationLayer extends Base { kind: 'concatenation'; axis: number }
/** IGatherLayer: inputs [data, indices]. In 'nd' mode the first nbElementWiseDims dims are batch dims. */
export interface GatherLayer extends Base { kind: 'gather'; mode: GatherMode; axis: number; nbElementWiseDims: number }
/** ISliceLayer: output[i] = input[start + i * stride] per axis; 'fill' pads out-of-bounds with fillValue. */
export interface SliceLayer extends Base {
  kind: 'slice';
  start: DimsOrTensor;
  size: DimsOrTensor;
  stride: DimsOrTensor;
  mode: SliceMode;
  fillValue?: number;
}
/** IElementWiseLayer: both inputs have the same rank; dims of 1 broadcast. */
export interface ElementWiseLayer extends Base { kind: 'elementwise'; op: ElementWiseOp }
export interface UnaryLayer extends Base { kind: 'unary'; op: UnaryOp }
export interface ActivationLayer extends Base { kind: 'activation'; op: ActivationOp; alpha?: number; beta?: number }
/** IMatrixMultiplyLayer: batched matmul over leading dims (broadcast), per-input transpose/vector op. */
export interface MatrixMultiplyLayer extends Base { kind: 'matmul'; opA: MatrixOp; opB: MatrixOp }
export interface SoftMaxLayer extends Base { kind: 'softmax'; axis: number }
/** ITopKLayer: outputs [values, indices (int32)]; ties resolve to the lower index. */
export interface TopKLayer extends Base { kind: 'topk'; op: 'max' | 'min'; k: number; axis: number }
export interface ReduceLayer extends Base { kind: 'reduce'; op: ReduceOp; axes: number[]; keepDims: boolean }
/** ISelectLayer: inputs [condition (bool), then, else], broadcast like elementwise. */
export interface SelectLayer extends Base { kind: 'select' }
/** IFillLayer, linspace mode: element i of a 1-D output is alpha + i * beta. Dims from `dims`. */
export interface FillLayer extends Base { kind: 'fill'; dims: DimsOrTensor; dtype: DType; alpha: number; beta: number }
/** ICumulativeLayer (TensorRT supports sum only). */
export interface CumulativeLayer extends Base { kind: 'cumulative'; op: 'sum'; axis: number; exclusive: boolean; reverse: boolean }
export interface CastLayer extends Base { kind: 'cast'; dtype: DType }
/** IScatterLayer: inputs [data, indices, updates]. */
export interface ScatterLayer extends Base { kind: 'scatter'; mode: ScatterMode; axis: number }
/** INonZeroLayer: int64 [rank, count] indices of non-zero elements in row-major order. */
export interface NonZeroLayer extends Base { kind: 'nonzero' }

/** TensorRT's CausalMaskKind: none, diagonal at the top-left (j <= i) or at the bottom-right (j <= i + Skv - Sq). */
export type CausalKind = 'none' | 'upper_left' | 'lower_right';
/**
 * IAttention (10.14+; addAttentionV2 with CausalMaskKind in 11.0+): inputs [q [B,Hq,Sq,D],
 * k [B,Hkv,Skv,D], v [B,Hkv,Skv,D], mask?]; Hq % Hkv == 0 (query head h reads kv head
 * h / (Hq / Hkv)); mask is bool, broadcastable to [B,Hq,Sq,Skv], true = attend; output
 * [B,Hq,Sq,D] = softmax(scale · q·kᵀ, masked) · v. Masked scores are replaced by the dtype's
 * lowest finite value, so a fully masked row is uniform (the mean of v): NvInfer.h does not
 * document that row, so the TensorRT lowering makes it explicit (see builders/fused.ts).
 */
export interface AttentionLayer extends Base { kind: 'attention'; scale: number; causal: CausalKind }
/**
 * IRotaryEmbeddingLayer (10.15+): inputs [x [B,H,S,D], cos, sin, positionIds?]. cos/sin are
 * [B,S,R/2] without position ids, [maxPos+1, R/2] with them (positionIds [B,S] index the rows).
 * R = rotaryDim (0 means D); dims from R on pass through. Non-interleaved rotates (x[i], x[i+R/2]),
 * interleaved (x[2i], x[2i+1]): (a, b) → (a·cos − b·sin, b·cos + a·sin).
 */
export interface RotaryEmbeddingLayer extends Base { kind: 'rotary_embedding'; interleaved: boolean; rotaryDim: number }
/**
 * IKVCacheUpdateLayer (10.15+, kLINEAR): inputs [cache [B,H,maxS,D], update [B,H,S,D],
 * writeIndices [B] (int32/int64)]; output = the cache with out[i,:,w[i]+s,:] = update[i,:,s,:].
 * In place on TensorRT (the output shares the cache's memory). A row whose update does not fit
 * (w[i] < 0 or w[i] + S > maxS) is ignored, as the header says out-of-bound updates are.
 */
export interface KVCacheUpdateLayer extends Base { kind: 'kv_cache_update' }
/**
 * RMS normalization over the last dim: inputs [x, weight?]; y = cast(xf · rsqrt(mean(xf²) + eps),
 * x.dtype) · weight with xf = float32(x) (Hugging Face's LlamaRMSNorm). TensorRT has no RMS mode
 * (addNormalizationV2 is mean/variance only), so the plan always lowers it to primitives;
 * ONNX exports it as RMSNormalization (opset 23) or the same primitives.
 */
export interface RmsNormLayer extends Base { kind: 'rms_norm'; eps: number }

/** Element types of quantized tensors (IQuantizeLayer outputs): int8, int4 packed two per byte, fp8 e4m3. */
export type QuantDType = 'int8' | 'int4' | 'float8e4m3';
/**
 * IQuantizeLayer (three-argument addQuantize): inputs [x (float32/float16/bfloat16), scale];
 * y = clamp(roundHalfEven(x / scale)) in `dtype` (int8 [-128, 127], int4 [-8, 7], fp8 e4m3
 * [-448, 448], round to nearest even). scale is a scalar (per tensor), 1-D of x.shape[axis]
 * (per channel), or of x's rank with x's shape except one blocking dim (the last or second to
 * last) divided by the block size (block-wise). No zero point: TensorRT quantizes symmetrically.
 */
export interface QuantizeLayer extends Base { kind: 'quantize'; axis: number; dtype: QuantDType }
/**
 * IDequantizeLayer (three-argument addDequantize): inputs [q (int8/int4/fp8), scale];
 * y = float(q) · scale in `dtype` (float32/float16/bfloat16), scale shaped as for quantize.
 */
export interface DequantizeLayer extends Base { kind: 'dequantize'; axis: number; dtype: DType }
/** The collectives redraft emits (TensorRT's CollectiveOperation kALL_REDUCE, kALL_GATHER, kBROADCAST). */
export type CollectiveOp = 'all_reduce' | 'all_gather' | 'broadcast';
/**
 * IDistCollectiveLayer (10.16+): one input. all_reduce combines the group's inputs elementwise
 * with `reduce` (same shape out); all_gather concatenates the group's inputs along axis 0 in group
 * order (NCCL's layout: a model gathering another axis permutes around it); broadcast returns the
 * input of group rank `root`. `group` lists the participating ranks (communicator ids) in order,
 * `rank` is this graph's own rank: every rank's graph holds the same collective in the same order.
 */
export interface CollectiveLayer extends Base {
  kind: 'collective';
  op: CollectiveOp;
  reduce: 'sum' | 'max' | 'none';
  root: number;
  group: number[];
  rank: number;
}

export type Layer =
  | ConstantLayer | ShapeLayer | ShuffleLayer | ConcatenationLayer | GatherLayer | SliceLayer
  | ElementWiseLayer | UnaryLayer | ActivationLayer | MatrixMultiplyLayer | SoftMaxLayer
  | TopKLayer | ReduceLayer | SelectLayer | FillLayer | CumulativeLayer | CastLayer
  | ScatterLayer | NonZeroLayer | AttentionLayer | RotaryEmbeddingLayer | KVCacheUpdateLayer | RmsNormLayer
  | QuantizeLayer | DequantizeLayer | CollectiveLayer;
export type LayerKind = Layer['kind'];

export const LAYER_KINDS: readonly LayerKind[] = [
  'constant', 'shape', 'shuffle', 'concatenation', 'gather', 'slice', 'elementwise', 'unary',
  'activation', 'matmul', 'softmax', 'topk', 'reduce', 'select', 'fill', 'cumulative', 'cast',
  'scatter', 'nonzero', 'attention', 'rotary_embedding', 'kv_cache_update', 'rms_norm',
  'quantize', 'dequantize', 'collective',
];

/** The fused kinds: each has a decomposition into the others (builders/fused.ts). */
export const FUSED_KINDS = ['attention', 'rotary_embedding', 'kv_cache_update', 'rms_norm'] as const;
export type FusedKind = (typeof FUSED_KINDS)[number];

/** A network input or output binding. */
export interface Binding {
  id: TensorId;
  name: string;
}

/** A finished graph: what every backend consumes. Plain data, no methods. */
export interface Graph {
  name: string;
  tensors: TensorInfo[];
  layers: Layer[];
  inputs: Binding[];
  outputs: Binding[];
  /** min/opt/max of each named dim used by the inputs (one optimization profile). */
  symbols: Record<string, DimRange>;
  /**
   * In-place outputs: output name → the input whose memory it reuses (a kv_cache_update of that
   * input). A TensorRT runtime binds both to one device address; runners feed the output back as
   * the input on the next call.
   */
  aliases?: Record<string, string>;
}

/** For exhaustive switches: `default: return assertNever(layer)`. */
export function assertNever(x: never): never {
  throw new Error(`unhandled IR layer kind: ${JSON.stringify((x as { kind?: string }).kind)}`);
}
