/** Tensor element types, named as in TensorRT-LLM (`trt.float32` → 'float32'). */
export const DTYPES = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool', 'int4', 'float8e4m3'] as const;
export type DType = (typeof DTYPES)[number];

/**
 * The quantized element types (IQuantizeLayer outputs, IDequantizeLayer inputs): int8, int4
 * packed two per byte (element 2i in the low nibble of byte i, 2i+1 in the high nibble, over the
 * row-major flattened tensor, as ONNX and TensorRT pack it) and fp8 e4m3 (E4M3FN: no infinity,
 * largest finite ±448, stored as raw bits). Only quantize, dequantize, constants and reshapes
 * take int4 and fp8; arithmetic never sees them.
 */
export const QUANT_DTYPES = ['int8', 'int4', 'float8e4m3'] as const;
/** True for the element types in QUANT_DTYPES (the IR's QuantDType). */
export function isQuant(d: DType): d is (typeof QUANT_DTYPES)[number] {
  return d === 'int8' || d === 'int4' || d === 'float8e4m3';
}
/** Types that exist only as quantized storage (no arithmetic, no cast): int4 and fp8. */
export function isPackedQuant(d: DType): boolean {
  return d === 'int4' || d === 'float8e4m3';
}

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

/** Bytes per element (0.5 for int4: count bytes with dtypeBytes). */
export function dtypeSize(d: DType): number {
  switch (d) {
    case 'int4':
      return 0.5;
    case 'float8e4m3':
      return 1;
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

/** Bytes that `n` elements of `d` occupy (int4: two per byte, the last byte half used when n is odd). */
export function dtypeBytes(d: DType, n: number): number {
  return d === 'int4' ? Math.ceil(n / 2) : n * dtypeSize(d);
}

/**
 * Storage of each dtype in memory: float16/bfloat16 keep their raw bits (Uint16Array), int64
 * is exact (BigInt64Array), bool is one byte per element (Uint8Array, 0 or 1), int4 is packed
 * two per byte and fp8 keeps its raw bits (both Uint8Array: `data.length` counts bytes).
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
    case 'float8e4m3':
      return new Uint8Array(n);
    case 'int4':
      return new Uint8Array(Math.ceil(n / 2));
  }
}

/** A typed-array view of `d` over bytes (no copy when aligned; copies otherwise). */
export function viewBytes(d: DType, bytes: Uint8Array): TypedArray {
  const size = Math.max(1, dtypeSize(d));
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
    case 'int4':
    case 'float8e4m3':
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

/** Round half to even (banker's rounding), as TensorRT and ONNX quantize. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // rounds .5 toward +inf
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The fp8 e4m3 (E4M3FN) bits of the value nearest to x, ties to even, saturating to ±448; NaN → 0x7f. */
export function f32ToE4m3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 448) return sign | 0x7e;
  if (a === 0) return sign;
  // Exponent of a, at least the subnormal exponent -6; step = ulp at that exponent (3 mantissa bits).
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e < -6) e = -6;
  const n = roundHalfEven(a / 2 ** (e - 3)); // 0..16, exact: the step is a power of two
  // Codes are monotonic in value: n = 16 carries into the next exponent, n < 8 at e = -6 is subnormal.
  const code = ((e + 7) << 3) + n - 8;
  return sign | Math.min(code, 0x7e);
}
/** The value of fp8 e4m3 (E4M3FN) bits: exact (every e4m3 value is a float32). */
export function e4m3ToF32(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >>> 3) & 0xf;
  const m = b & 7;
  if (e === 0xf && m === 7) return NaN;
  return e === 0 ? s * m * 2 ** -9 : s * (8 + m) * 2 ** (e - 10);
}
/** The signed int4 at element i of packed bytes (low nibble = even element). */
export function getInt4(a: Uint8Array, i: number): number {
  const nib = (a[i >> 1] >> ((i & 1) * 4)) & 0xf;
  return nib >= 8 ? nib - 16 : nib;
}
/** Stores v (already in [-8, 7]) as element i of packed int4 bytes. */
export function setInt4(a: Uint8Array, i: number, v: number): void {
  const shift = (i & 1) * 4;
  a[i >> 1] = (a[i >> 1] & ~(0xf << shift)) | ((v & 0xf) << shift);
}

/** Reads element i of a typed array of dtype d as a JS number (int64 via Number()). */
export function getNumber(d: DType, a: TypedArray, i: number): number {
  switch (d) {
    case 'int4':
      return getInt4(a as Uint8Array, i);
    case 'float8e4m3':
      return e4m3ToF32((a as Uint8Array)[i]);
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
    case 'int4': // as int8 would: truncate toward zero, then wrap (two's complement)
      setInt4(a as Uint8Array, i, Number.isFinite(v) ? Math.trunc(v) : 0);
      return;
    case 'float8e4m3':
      (a as Uint8Array)[i] = f32ToE4m3(v);
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
