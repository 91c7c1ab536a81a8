/** Tensor element types, named as in TensorRT-LLM (`trt.float32` → 'float32'). */
export const DTYPES = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16'];
export const INT_DTYPES: readonly DType[] = ['int32', 'int64', 'int8'];
export const NUMERIC_DTYPES: readonly DType[] = [...FLOAT_DTYPES, ...INT_DTYPES];
export const INDEX_DTYPES: readonly DType[] = ['int32', 'int64'];
export const ALL_DTYPES: readonly DType[] = DTYPES;

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16';
}
export function isInt(d: DType): boolean {
  return d === 'int32' || d === 'int64' || d === 'int8';
}
export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

/** Bytes per element. */
export function dtypeSize(d: DType): number {
  switch (d) {
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
      return 2;
    case 'int64':
      return 8;
    case 'int8':
    case 'bool':
      return 1;
  }
}

/**
 * Storage of each dtype in memory: float16/bfloat16 keep their raw bits (Uint16Array), int64
 * is exact (BigInt64Array), bool is one byte per element (Uint8Array, 0 or 1).
 */
export type TypedArray = Float32Array | Uint16Array | Int32Array | BigInt64Array | Int8Array | Uint8Array;

export function allocate(d: DType, n: number): TypedArray {
  switch (d) {
    case 'float32':
      return new Float32Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'bool':
      return new Uint8Array(n);
  }
}

/** A typed-array view of `d` over bytes (no copy when aligned; copies otherwise). */
export function viewBytes(d: DType, bytes: Uint8Array): TypedArray {
  const size = dtypeSize(d);
  let b = bytes;
  if (b.byteOffset % size !== 0) b = new Uint8Array(b); // copy (Buffer.slice would alias)
  const n = b.byteLength / size;
  switch (d) {
    case 'float32':
      return new Float32Array(b.buffer, b.byteOffset, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(b.buffer, b.byteOffset, n);
    case 'int32':
      return new Int32Array(b.buffer, b.byteOffset, n);
    case 'int64':
      return new BigInt64Array(b.buffer, b.byteOffset, n);
    case 'int8':
      return new Int8Array(b.buffer, b.byteOffset, n);
    case 'bool':
      return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

// float16 / bfloat16 conversions (round to nearest even), used wherever half types are
// stored: weights conversion, the interpreter, exporters.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return 0x7fc0; // NaN
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}
export function bf16ToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Reads element i of a typed array of dtype d as a JS number (int64 via Number()). */
export function getNumber(d: DType, a: TypedArray, i: number): number {
  switch (d) {
    case 'float16':
      return f16ToF32((a as Uint16Array)[i]);
    case 'bfloat16':
      return bf16ToF32((a as Uint16Array)[i]);
    case 'int64':
      return Number((a as BigInt64Array)[i]);
    default:
      return (a as Float32Array)[i];
  }
}

/** Writes a JS number into element i, converting as a cast to dtype d would. */
export function setNumber(d: DType, a: TypedArray, i: number, v: number): void {
  switch (d) {
    case 'float16':
      (a as Uint16Array)[i] = f32ToF16(v);
      return;
    case 'bfloat16':
      (a as Uint16Array)[i] = f32ToBf16(v);
      return;
    case 'int64':
      (a as BigInt64Array)[i] = BigInt(Math.trunc(Number.isFinite(v) ? v : 0));
      return;
    case 'bool':
      (a as Uint8Array)[i] = v ? 1 : 0;
      return;
    default:
      (a as Float32Array)[i] = v; // int32/int8 typed arrays truncate toward zero
  }
}

/**
 * The most negative finite value of a float dtype (numpy's finfo(d).min). A mask value must be
 * finite in the dtype it meets: float32's lowest (-3.4e38) is -inf in float16 and in bfloat16
 * (whose largest finite value, 3.39e38, is just below float32's), and a softmax over a row of
 * -inf is NaN.
 */
export function lowestFinite(d: DType): number {
  switch (d) {
    case 'float32':
      return -3.4028234663852886e38;
    case 'float16':
      return -65504;
    case 'bfloat16':
      return -3.3895313892515355e38;
    default:
      throw new Error(`lowestFinite: ${d} is not a float dtype`);
  }
}

/** ONNX / TensorRT-style names for messages. */
export function dtypeList(ds: readonly DType[]): string {
  return ds.join(' | ');
}
