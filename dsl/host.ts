/** Concrete tensors on the host: what backends take as inputs and return as outputs. */
import type { DType, TypedArray } from './dtype.js';
import { allocate, dtypeSize, getNumber, setNumber } from './dtype.js';

export interface HostTensor {
  dtype: DType;
  shape: number[];
  /** Row-major data; float16/bfloat16 as raw Uint16 bits, int64 as BigInt64Array, bool as 0/1 bytes. */
  data: TypedArray;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function zeros(dtype: DType, shape: readonly number[]): HostTensor {
  return { dtype, shape: [...shape], data: allocate(dtype, numel(shape)) };
}

/** A host tensor from plain JS numbers/bigints/booleans (converted as a cast would). */
export function hostTensor(dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint | boolean>): HostTensor {
  const t = zeros(dtype, shape);
  if (values.length !== numel(shape)) throw new Error(`hostTensor: ${values.length} values for shape [${shape}]`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (dtype === 'int64') (t.data as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    else setNumber(dtype, t.data, i, Number(v));
  }
  return t;
}

/** Elements as JS numbers (float16/bfloat16 decoded, int64 via Number). */
export function toNumbers(t: HostTensor): number[] {
  const out = new Array<number>(t.dtype === 'int4' ? numel(t.shape) : t.data.length); // int4: two per byte
  for (let i = 0; i < out.length; i++) out[i] = getNumber(t.dtype, t.data, i);
  return out;
}

export function byteLength(t: HostTensor): number {
  return numel(t.shape) * dtypeSize(t.dtype);
}

/**
 * The flat index of the first NaN or ±Inf element of a float tensor, or -1 (also for integer
 * and bool tensors). Half types are tested on their raw bits: an all-ones exponent.
 */
export function firstNonFinite(t: HostTensor): number {
  const d = t.data;
  switch (t.dtype) {
    case 'float32':
      for (let i = 0; i < d.length; i++) if (!Number.isFinite((d as Float32Array)[i])) return i;
      return -1;
    case 'float16':
      for (let i = 0; i < d.length; i++) if (((d as Uint16Array)[i]! & 0x7c00) === 0x7c00) return i;
      return -1;
    case 'bfloat16':
      for (let i = 0; i < d.length; i++) if (((d as Uint16Array)[i]! & 0x7f80) === 0x7f80) return i;
      return -1;
    default:
      return -1;
  }
}
