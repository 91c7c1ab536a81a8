/** Shape arithmetic and float views shared by the interpreter's kernels. */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { allocate, bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Strides for reading `shape` broadcast to `out` (0 where a dim of 1 stretches). */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const s = strides(shape);
  return out.map((d, i) => (shape[i] === d ? s[i] : 0));
}

export function tensor(dtype: DType, shape: readonly number[], data?: TypedArray): HostTensor {
  return { dtype, shape: [...shape], data: data ?? allocate(dtype, numel(shape)) };
}

export const isHalf = (d: DType) => d === 'float16' || d === 'bfloat16';

/** Elements as float32 (decodes half types; other dtypes as JS numbers). */
export function asF32(t: HostTensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  const n = t.data.length;
  const out = new Float32Array(n);
  if (t.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = f16ToF32((t.data as Uint16Array)[i]);
  else if (t.dtype === 'bfloat16') for (let i = 0; i < n; i++) out[i] = bf16ToF32((t.data as Uint16Array)[i]);
  else if (t.dtype === 'int64') for (let i = 0; i < n; i++) out[i] = Number((t.data as BigInt64Array)[i]);
  else for (let i = 0; i < n; i++) out[i] = (t.data as Int32Array)[i];
  return out;
}

/** Elements as float64 numbers (exact for every dtype except int64 beyond 2^53). */
export function asF64(t: HostTensor): Float64Array {
  const n = t.data.length;
  const out = new Float64Array(n);
  if (t.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = f16ToF32((t.data as Uint16Array)[i]);
  else if (t.dtype === 'bfloat16') for (let i = 0; i < n; i++) out[i] = bf16ToF32((t.data as Uint16Array)[i]);
  else if (t.dtype === 'int64') for (let i = 0; i < n; i++) out[i] = Number((t.data as BigInt64Array)[i]);
  else for (let i = 0; i < n; i++) out[i] = (t.data as Int32Array)[i];
  return out;
}

/** Stores float results into a tensor of `dtype` (rounding half types to nearest even). */
export function fromFloats(dtype: DType, shape: readonly number[], v: ArrayLike<number>): HostTensor {
  const t = tensor(dtype, shape);
  const n = v.length;
  switch (dtype) {
    case 'float16':
      for (let i = 0; i < n; i++) (t.data as Uint16Array)[i] = f32ToF16(v[i]);
      break;
    case 'bfloat16':
      for (let i = 0; i < n; i++) (t.data as Uint16Array)[i] = f32ToBf16(v[i]);
      break;
    case 'int64':
      for (let i = 0; i < n; i++) (t.data as BigInt64Array)[i] = BigInt(Number.isFinite(v[i]) ? Math.trunc(v[i]) : 0);
      break;
    case 'bool':
      for (let i = 0; i < n; i++) (t.data as Uint8Array)[i] = v[i] ? 1 : 0;
      break;
    default:
      (t.data as Float32Array).set(v as ArrayLike<number>);
  }
  return t;
}

/** Integer elements (indices, shape values) as JS numbers. */
export function asInts(t: HostTensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** Calls fn(outIndex, multiIndex) for every element of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (flat: number, idx: number[]) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < n; f++) {
    fn(f, idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** Copies element-wise with a gather of source offsets (used by transposes and slices). */
export function gatherOffsets(src: HostTensor, shape: readonly number[], offsets: Int32Array | number[]): HostTensor {
  const out = tensor(src.dtype, shape);
  const s = src.data as Float32Array;
  const o = out.data as Float32Array;
  for (let i = 0; i < offsets.length; i++) o[i] = s[offsets[i]];
  return out;
}
