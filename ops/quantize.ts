/**
 * quantize and dequantize (IQuantizeLayer / IDequantizeLayer, symmetric: no zero point). The
 * semantics are the IR's (dsl/ir.ts): q = clamp(roundHalfEven(x / scale)) in int8 [-128, 127],
 * int4 [-8, 7] or fp8 e4m3 (saturating to ±448); y = q · scale.
 *
 * The scale's rank picks the granularity, as in TensorRT:
 * - rank 0: per tensor;
 * - rank 1 of x.shape[axis]: per channel (TensorRT: weights only);
 * - x's rank with x.shape[axis] divided by a block size: block-wise along `axis`, the last or
 *   second to last dim (TensorRT: int4 and fp8 only, scale rank <= 2).
 *
 * | op | operands | checks |
 * |---|---|---|
 * | quantize | x float* rank >= 1, scale float* rank 0..2 | 1 dtype int8/int4/float8e4m3, 2 scale dtype float32 or x's, 3 axis given unless per tensor, 4 per channel: scale [x.shape[axis]], 5 block-wise: blocking dim last or second to last, dims agree elsewhere, block divides, int4/fp8 only, 6 constant scales finite and > 0 |
 * | dequantize | q int8/int4/float8e4m3 rank >= 1, scale float* rank 0..2 | 1 dtype float32/float16/bfloat16 (default scale's), 2 scale dtype float32 or dtype, 3–6 as quantize |
 */
import type { DType } from '../dsl/dtype.js';
import { FLOAT_DTYPES, getNumber, isFloat, QUANT_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import type { QuantDType } from '../dsl/ir.js';
import type { Tensor } from '../dsl/network.js';
import { declareOp, describe, layer1, type Check } from './op.js';

export interface QuantizeOptions {
  /** The quantized element type. */
  dtype: QuantDType;
  /** The channel (per channel) or blocking (block-wise) axis of x; not needed per tensor. */
  axis?: number;
}
export interface DequantizeOptions {
  /** The output float type (default: the scale's dtype). */
  dtype?: DType;
  /** As for quantize. */
  axis?: number;
}

const qDecl = declareOp('quantize', { x: { dtypes: FLOAT_DTYPES, rank: [1, 8] }, scale: { dtypes: FLOAT_DTYPES, rank: [0, 2] } });
const dqDecl = declareOp('dequantize', { q: { dtypes: QUANT_DTYPES, rank: [1, 8] }, scale: { dtypes: FLOAT_DTYPES, rank: [0, 2] } });

/** Checks 3–6: the scale's granularity against x; returns the normalised axis. */
function checkScale(c: Check, xArg: string, x: Tensor, s: Tensor, qtype: DType, axis: number | undefined): number {
  // 3. axis is given unless the scale is a scalar.
  if (s.rank === 0) {
    if (axis !== undefined) c.axis('axis', axis, x.rank);
    checkConstantScale(c, s);
    return 0;
  }
  if (axis === undefined)
    c.fail('axis', `is required: 'scale' ${shapeToString(s.shape)} is per channel or block-wise, not a scalar`, 'pass { axis } (the output-channel dim of a [out, in] weight is 0, its input dim 1)');
  const a = c.axis('axis', axis, x.rank);
  const d = x.size(a);
  if (s.rank === 1) {
    // 4. per channel: one scale per entry of x's axis.
    if (typeof d === 'number' && typeof s.size(0) === 'number' && s.size(0) !== d)
      c.fail('scale', `has shape ${shapeToString(s.shape)}; per-channel scales need [${d}] ('${xArg}' ${shapeToString(x.shape)} along axis ${a})`);
  } else {
    // 5. block-wise: x's shape except the blocking dim, which the block size divides.
    if (s.rank !== x.rank)
      c.fail('scale', `has rank ${s.rank} but '${xArg}' ${shapeToString(x.shape)} has rank ${x.rank}: block-wise scales have the input's rank (TensorRT: at most 2)`);
    if (a < x.rank - 2) c.fail('axis', `is ${a}: TensorRT blocks only the last or second to last dim of ${shapeToString(x.shape)}`);
    if (qtype === 'int8') c.fail('scale', `is block-wise ${shapeToString(s.shape)}, which TensorRT supports for int4 and float8e4m3 only`, 'use per-channel scales (1-D) for int8');
    for (let i = 0; i < x.rank; i++) {
      if (i === a) continue;
      const [xd, sd] = [x.size(i), s.size(i)];
      if (typeof xd === 'number' && typeof sd === 'number' && xd !== sd)
        c.fail('scale', `has shape ${shapeToString(s.shape)}; dim ${i} must equal '${xArg}' ${shapeToString(x.shape)}'s ${xd} (only axis ${a} is blocked)`);
    }
    const nb = s.size(a);
    if (typeof d !== 'number' || typeof nb !== 'number') c.fail('scale', `blocks dim ${a} of '${xArg}' ${shapeToString(x.shape)}, which must be static in both`);
    if (nb <= 0 || d % nb !== 0) c.fail('scale', `has ${nb} blocks along axis ${a}, which do not divide '${xArg}''s ${d} evenly`, `pick a block size that divides ${d}`);
  }
  checkConstantScale(c, s);
  return a;
}

/** 6. A constant scale is finite and strictly positive (TensorRT requires it; 0 divides by zero). */
function checkConstantScale(c: Check, s: Tensor): void {
  const p = s.net.producer(s.id);
  if (p?.kind !== 'constant' || p.weights.lazy) return;
  const w = p.weights;
  for (let i = 0; i < w.data.length; i++) {
    const v = getNumber(w.dtype, w.data, i);
    if (!(v > 0) || !Number.isFinite(v)) c.fail('scale', `holds ${v} at element ${i}; scales must be finite and > 0`, 'give an all-zero channel or block a small positive scale (its codes are 0 either way)');
  }
}

/** x / scale rounded half to even and clamped to `dtype`'s range (fp8: nearest e4m3, saturating). */
export function quantize(x: Tensor, scale: Tensor, opts: QuantizeOptions): Tensor {
  const { c, x: xt, scale: s } = qDecl.validate({ x, scale });
  const o = (opts ?? {}) as Partial<QuantizeOptions>;
  // 1. The output is a quantized type.
  if (!(QUANT_DTYPES as readonly unknown[]).includes(o.dtype)) c.fail('dtype', `is ${describe(o.dtype)}; expected ${QUANT_DTYPES.join(' | ')}`);
  const dtype = o.dtype as QuantDType;
  // 2. The scale is float32 or x's dtype (TensorRT: a half scale must match the input).
  if (s.dtype !== 'float32' && s.dtype !== xt.dtype)
    c.fail('scale', `has dtype ${s.dtype}; expected float32 or ${xt.dtype} (the dtype of 'x')`, `cast it: cast(scale, '${xt.dtype}')`);
  const axis = checkScale(c, 'x', xt, s, dtype, o.axis);
  return layer1(xt.net, { kind: 'quantize', inputs: [xt.id, s.id], axis, dtype, name: 'quantize' });
}

/** q · scale in `dtype` (default: the scale's dtype). */
export function dequantize(q: Tensor, scale: Tensor, opts: DequantizeOptions = {}): Tensor {
  const { c, q: qt, scale: s } = dqDecl.validate({ q, scale });
  // 1. The output is a float type.
  const dtype = opts.dtype ?? s.dtype;
  if (typeof dtype !== 'string' || !isFloat(dtype as DType)) c.fail('dtype', `is ${describe(dtype)}; expected ${FLOAT_DTYPES.join(' | ')}`);
  // 2. The scale is float32 or the output dtype.
  if (s.dtype !== 'float32' && s.dtype !== dtype)
    c.fail('scale', `has dtype ${s.dtype}; expected float32 or ${dtype} (the output dtype)`, `cast it: cast(scale, '${dtype}')`);
  const axis = checkScale(c, 'q', qt, s, qt.dtype, opts.axis);
  return layer1(qt.net, { kind: 'dequantize', inputs: [qt.id, s.id], axis, dtype, name: 'dequantize' });
}
