/**
 * Projection weights that are float or quantized, and the one function that applies them.
 *
 * A quantized projection is dequantize(constant q, constant scale) feeding the matmul: the
 * pattern TensorRT fuses into a weight-only GEMM (int8 per output channel, int4 block-wise
 * along the input dim) or an FP8 GEMM (with activations quantize → dequantize at a per-tensor
 * scale). Checkpoints quantized with zero points (AWQ, asymmetric GPTQ) keep the zero point out
 * of the DQ, which has none: x·Wᵀ = x·DQ(q, s)ᵀ − (per-group sums of x)·(z·s)ᵀ, exactly.
 */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { allocate, f32ToE4m3, FLOAT_DTYPES, getNumber, roundHalfEven, setInt4, setNumber } from '../../dsl/dtype.js';
import { ModelError, UsageError } from '../../dsl/errors.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { dequantize, linear as floatLinear, quantize, sub, sum, view, concat, shape } from '../../ops/index.js';
import type { WeightSource } from '../env.js';

/** A build's weight quantization (`--quantize`). */
export type QuantScheme =
  | { kind: 'int8-wo' }
  | { kind: 'int4-wo'; group: number }
  /** `activations`: per-projection activation amax from a calibration run (absent: weights only). */
  | { kind: 'fp8'; activations?: Record<string, number> };

export const QUANT_SCHEMES = ['int8-wo', 'int4-wo[:GROUP]', 'fp8'] as const;
export const DEFAULT_INT4_GROUP = 128;

/** Parses `--quantize` (int8-wo | int4-wo[:GROUP] | fp8); undefined and 'none' are no quantization. */
export function parseQuantScheme(s: string | undefined, where = '--quantize'): QuantScheme | undefined {
  if (s === undefined || s === 'none') return undefined;
  if (s === 'int8-wo') return { kind: 'int8-wo' };
  if (s === 'fp8') return { kind: 'fp8' };
  const m = /^int4-wo(?::(\d+))?$/.exec(s);
  if (m) {
    const group = m[1] === undefined ? DEFAULT_INT4_GROUP : Number(m[1]);
    if (!(group >= 1 && group <= 1 << 16)) throw new UsageError(`${where} int4-wo group size ${m[1]} must be from 1 to 65536`, 'common group sizes are 32, 64 and 128 (the default)');
    return { kind: 'int4-wo', group };
  }
  throw new UsageError(`${where} must be one of ${QUANT_SCHEMES.join(', ')}, got ${JSON.stringify(s)}`, 'for example --quantize int4-wo:128');
}

/** The quantized form of one [out, in] projection weight. */
export interface QuantizedWeight {
  readonly quantized: true;
  /** dequantize(q, scale): the float [out, in] weight the matmul reads. */
  weight: Tensor;
  /** Zero points kept out of the DQ: y −= groupSums(x) · zsᵀ, zs [out, in / group] = z · s. */
  zero?: { zs: Tensor; group: number };
  /** fp8 activations: x goes through quantize → dequantize at this per-tensor scale first. */
  inputScale?: Tensor;
}
/** A float weight whose input a calibration graph observes (fp8 activation ranges; ./calibrate.ts). */
export interface ObservedWeight {
  readonly observe: (x: Tensor) => void;
  weight: Tensor;
}
/** A projection weight: a float [out, in] tensor, or quantized (or observed, when calibrating). */
export type Projection = Tensor | QuantizedWeight | ObservedWeight;

export function isQuantized(p: Projection): p is QuantizedWeight {
  return (p as QuantizedWeight).quantized === true;
}

/** input @ weightᵀ + bias for a float or quantized projection (ops' linear for a float one). */
export function linear(input: Tensor, weight: Projection, bias?: Tensor): Tensor {
  if ('observe' in weight) {
    weight.observe(input);
    return floatLinear(input, weight.weight, bias);
  }
  if (!isQuantized(weight)) return floatLinear(input, weight, bias);
  let x = input;
  if (weight.inputScale) x = dequantize(quantize(x, weight.inputScale, { dtype: 'float8e4m3' }), weight.inputScale, { dtype: x.dtype });
  let y = floatLinear(x, weight.weight, bias);
  if (weight.zero) {
    // Per-group sums of x over the input dim: (..., in) → (..., in / group, group) → (..., in / group).
    const k = input.size(-1) as number;
    const g = weight.zero.group;
    const lead = Array.from({ length: input.rank - 1 }, (_, i) => shape(input, i));
    const sums = sum(view(input, concat([...lead, k / g, g])), [input.rank], false);
    y = sub(y, floatLinear(sums, weight.zero.zs));
  }
  return y;
}

// -- round-to-nearest quantization of float weights (while they stream in) --

const QMAX = { int8: 127, int4: 7, float8e4m3: 448 } as const;

/** A scale as stored in `dtype`, positive (a zero row or block gets the smallest positive value). */
function storedScale(amax: number, qmax: number, dtype: DType, tmp: TypedArray): number {
  setNumber(dtype, tmp, 0, amax / qmax);
  let s = getNumber(dtype, tmp, 0);
  if (!(s > 0) || !Number.isFinite(s)) {
    setNumber(dtype, tmp, 0, dtype === 'float16' ? 2 ** -24 : 1e-38);
    s = getNumber(dtype, tmp, 0);
  }
  return s;
}

/**
 * Quantizes a float [N, K] weight (elements read through `at`) as the IR's quantize does with
 * the returned scales: q = clamp(roundHalfEven(fround(w / s))), or the nearest e4m3 value.
 * int8: one scale per output row; int4: one per `group` inputs of a row; fp8: one per tensor.
 */
export function quantizeWeight(at: (i: number) => number, N: number, K: number, scheme: QuantScheme, scaleDtype: DType): { q: TypedArray; qDtype: DType; scale: TypedArray; scaleShape: number[]; axis: number } {
  const tmp = allocate(scaleDtype, 1);
  if (scheme.kind === 'fp8') {
    let amax = 0;
    for (let i = 0; i < N * K; i++) amax = Math.max(amax, Math.abs(at(i)));
    const s = storedScale(amax, QMAX.float8e4m3, scaleDtype, tmp);
    const q = new Uint8Array(N * K);
    for (let i = 0; i < N * K; i++) q[i] = f32ToE4m3(Math.fround(at(i) / s));
    const scale = allocate(scaleDtype, 1);
    setNumber(scaleDtype, scale, 0, s);
    return { q, qDtype: 'float8e4m3', scale, scaleShape: [], axis: 0 };
  }
  const int4 = scheme.kind === 'int4-wo';
  const group = int4 ? scheme.group : K;
  const qmax = int4 ? QMAX.int4 : QMAX.int8;
  const lo = int4 ? -8 : -128;
  const nb = K / group;
  const scale = allocate(scaleDtype, N * nb);
  const q = allocate(int4 ? 'int4' : 'int8', N * K);
  for (let n = 0; n < N; n++)
    for (let b = 0; b < nb; b++) {
      const base = n * K + b * group;
      let amax = 0;
      for (let j = 0; j < group; j++) amax = Math.max(amax, Math.abs(at(base + j)));
      const s = storedScale(amax, qmax, scaleDtype, tmp);
      setNumber(scaleDtype, scale, n * nb + b, s);
      for (let j = 0; j < group; j++) {
        const r = Math.fround(at(base + j) / s);
        const v = Number.isNaN(r) ? 0 : Math.min(qmax, Math.max(lo, roundHalfEven(r)));
        if (int4) setInt4(q as Uint8Array, base + j, v);
        else (q as Int8Array)[base + j] = v;
      }
    }
  return { q, qDtype: int4 ? 'int4' : 'int8', scale, scaleShape: int4 ? [N, nb] : [N], axis: int4 ? 1 : 0 };
}

/**
 * A projection weight [N, K] of checkpoint `ws` as `scheme` asks, computed from the float
 * weight when the backend reads it: streamed checkpoints quantize on every read and keep only
 * the scales (a few bytes per group); held ones quantize once. Without a scheme: float.
 */
export function projectionWeight(net: Network, ws: WeightSource, name: string, shapeNK: number[], dtype: DType, scheme: QuantScheme | undefined, float: () => Tensor): Projection {
  if (!scheme) return float();
  const [N, K] = shapeNK;
  if (scheme.kind === 'int4-wo' && K % scheme.group !== 0)
    throw new UsageError(`--quantize int4-wo:${scheme.group}: the group size does not divide the input dim ${K} of '${name}' [${N}, ${K}]`, `pick a group size that divides ${K} (e.g. int4-wo:${largestGroup(K)})`);
  // Every scale in the build dtype: before TensorRT 10.16 a Q/DQ's scale type must be its data type (ops/trt.ts).
  const scaleDtype: DType = dtype;
  const src = ws.lazy?.(name, shapeNK) ?? (() => {
    const t = ws.get(name, shapeNK);
    return { dtype: t.dtype, shape: t.shape, read: () => t.data };
  })();
  if (!FLOAT_DTYPES.includes(src.dtype))
    throw new ModelError(`weight '${name}' in ${ws.path} has dtype ${src.dtype}; --quantize ${scheme.kind} quantizes float weights`, 'pass a float checkpoint, or drop --quantize for a checkpoint that is already quantized (its config.json says how)');
  const run = () => {
    const d = src.read();
    // Rounded to the build dtype first: the quantized weight approximates the weight the float build would use.
    const tmp = allocate(dtype, 1);
    const at = src.dtype === dtype ? (i: number) => getNumber(dtype, d, i) : (i: number) => (setNumber(dtype, tmp, 0, getNumber(src.dtype, d, i)), getNumber(dtype, tmp, 0));
    return quantizeWeight(at, N, K, scheme, scaleDtype);
  };
  let q: Tensor;
  let s: Tensor;
  const probe = quantizeShapes(N, K, scheme);
  if (ws.lazy?.(name, shapeNK)) {
    let scales: TypedArray | undefined; // kept: small, and read once per export
    q = net.lazyConstant(probe.qDtype, [N, K], () => {
      const r = run();
      scales = r.scale;
      return r.q;
    }, `${name}.q`);
    s = net.lazyConstant(scaleDtype, probe.scaleShape, () => scales ?? (scales = run().scale), `${name}.scale`);
  } else {
    const r = run();
    q = net.constant(r.q, r.qDtype, [N, K], `${name}.q`);
    s = net.constant(r.scale, scaleDtype, r.scaleShape, `${name}.scale`);
  }
  const axis = probe.axis;
  const weight = dequantize(q, s, { dtype, axis: probe.scaleShape.length ? axis : undefined });
  const amax = scheme.kind === 'fp8' ? scheme.activations?.[name] : undefined;
  const inputScale = amax !== undefined ? net.constant(inputScaleOf(amax, dtype), dtype, [], `${name}.input_scale`) : undefined;
  return { quantized: true, weight, ...(inputScale ? { inputScale } : {}) };
}

/** The activation scale amax / 448 as stored in `dtype` (positive: an all-zero input gets 1). */
function inputScaleOf(amax: number, dtype: DType): TypedArray {
  const out = allocate(dtype, 1);
  setNumber(dtype, out, 0, amax > 0 ? storedScale(amax, QMAX.float8e4m3, dtype, allocate(dtype, 1)) : 1);
  return out;
}

function quantizeShapes(N: number, K: number, scheme: QuantScheme): { qDtype: DType; scaleShape: number[]; axis: number } {
  if (scheme.kind === 'fp8') return { qDtype: 'float8e4m3', scaleShape: [], axis: 0 };
  if (scheme.kind === 'int8-wo') return { qDtype: 'int8', scaleShape: [N], axis: 0 };
  return { qDtype: 'int4', scaleShape: [N, K / scheme.group], axis: 1 };
}

function largestGroup(k: number): number {
  for (const g of [128, 64, 32, 16, 8, 4, 2]) if (k % g === 0) return g;
  return 2;
}
