/**
 * IQuantizeLayer / IDequantizeLayer on the host, exactly: x / scale is the float32 quotient
 * (the double quotient rounded once to float32, which is float32 division), rounded half to
 * even and clamped (int8 [-128, 127], int4 [-8, 7]) or rounded to the nearest e4m3 value and
 * saturated to ±448; dequantize multiplies in float32 and rounds once to the output dtype.
 */
import type { DType } from '../../dsl/dtype.js';
import { allocate, e4m3ToF32, f32ToE4m3, getInt4, getNumber, roundHalfEven, setInt4, setNumber } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { QuantDType } from '../../dsl/ir.js';
import { KernelError } from './movement.js';
import { numel } from './tensor.js';

/**
 * The scale element of each flat element index of x: per tensor (scale rank 0), per channel
 * (scale 1-D along `axis`) or block-wise (scale of x's rank, x.shape[axis] / block along axis).
 */
export function scaleIndexer(xShape: readonly number[], sShape: readonly number[], axis: number): (f: number) => number {
  if (sShape.length === 0) return () => 0;
  const inner = xShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = xShape[axis];
  if (sShape.length === 1) {
    if (sShape[0] !== dim) throw new KernelError(`scale has ${sShape[0]} elements, expected ${dim} (x.shape[${axis}]) for per-channel scales`);
    return (f) => Math.floor(f / inner) % dim;
  }
  if (sShape.length !== xShape.length || sShape.some((d, i) => i !== axis && d !== xShape[i]))
    throw new KernelError(`scale shape [${sShape}] does not match x [${xShape}] blocked along axis ${axis}`);
  const nb = sShape[axis];
  if (nb <= 0 || dim % nb !== 0) throw new KernelError(`x.shape[${axis}] = ${dim} is not a multiple of the scale's ${nb} blocks`);
  const block = dim / nb;
  return (f) => {
    const i = f % inner;
    const a = Math.floor(f / inner) % dim;
    const outer = Math.floor(f / (inner * dim));
    return (outer * nb + Math.floor(a / block)) * inner + i;
  };
}

/** The quantized code of v / s in `dtype` (a JS number; for fp8 its e4m3 bits). */
export function quantizeValue(dtype: QuantDType, v: number, s: number): number {
  const q = Math.fround(v / s);
  switch (dtype) {
    case 'int8':
      return Number.isNaN(q) ? 0 : Math.min(127, Math.max(-128, roundHalfEven(q)));
    case 'int4':
      return Number.isNaN(q) ? 0 : Math.min(7, Math.max(-8, roundHalfEven(q)));
    case 'float8e4m3':
      return f32ToE4m3(q);
  }
}

export function quantize(x: HostTensor, scale: HostTensor, axis: number, dtype: QuantDType): HostTensor {
  const n = numel(x.shape);
  const at = scaleIndexer(x.shape, scale.shape, axis);
  const out = allocate(dtype, n);
  for (let f = 0; f < n; f++) {
    const q = quantizeValue(dtype, getNumber(x.dtype, x.data, f), getNumber(scale.dtype, scale.data, at(f)));
    if (dtype === 'int4') setInt4(out as Uint8Array, f, q);
    else (out as Int8Array | Uint8Array)[f] = q;
  }
  return { dtype, shape: [...x.shape], data: out };
}

export function dequantize(q: HostTensor, scale: HostTensor, axis: number, dtype: DType): HostTensor {
  const n = numel(q.shape);
  const at = scaleIndexer(q.shape, scale.shape, axis);
  const out = allocate(dtype, n);
  const code =
    q.dtype === 'int4' ? (f: number) => getInt4(q.data as Uint8Array, f)
    : q.dtype === 'float8e4m3' ? (f: number) => e4m3ToF32((q.data as Uint8Array)[f])
    : q.dtype === 'int8' ? (f: number) => (q.data as Int8Array)[f]
    : undefined;
  if (!code) throw new KernelError(`dequantize input is ${q.dtype}, expected int8, int4 or float8e4m3`);
  for (let f = 0; f < n; f++) setNumber(dtype, out, f, Math.fround(code(f) * getNumber(scale.dtype, scale.data, at(f))));
  return { dtype, shape: [...q.shape], data: out };
}
