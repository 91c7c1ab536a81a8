/**
 * The ONNX protobuf schema (onnx-proto, a CommonJS build of onnx.proto for protobufjs 6).
 * Node's ESM loader exposes a CommonJS module's `module.exports` as the default export only
 * (its named exports are not statically detectable here), so the namespace is taken from the
 * default import; this works the same under Node, tsx and vitest.
 */
import onnxPkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const onnx = onnxPkg.onnx;
// The namespace's type, for `OnnxTypes.ITensorProto` etc. in signatures.
export type { OnnxTypes };

/** protobufjs decodes int64 fields as Long objects when the `long` package is present, else as numbers. */
export interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(): string;
}
export type Int64Field = number | LongLike | bigint | null | undefined;

function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}

/** An int64 field as an exact bigint (0n for null/undefined). */
export function int64ToBigInt(v: Int64Field): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (isLong(v)) {
    const lo = BigInt(v.low >>> 0);
    const hi = BigInt(v.high >>> 0);
    const u = (hi << 32n) | lo;
    return v.unsigned ? u : BigInt.asIntN(64, u);
  }
  throw new TypeError(`not an int64 value: ${String(v)}`);
}

/** An int64 field as a number; throws when it is not exactly representable (beyond 2^53). */
export function int64ToNumber(v: Int64Field): number {
  const b = int64ToBigInt(v);
  const n = Number(b);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${b} does not fit a JS number exactly`);
  return n;
}

/**
 * A decoded message with nothing optional: protobufjs decode sets repeated fields on the
 * instance and scalar defaults on the prototype. Sub-messages absent from the bytes are null
 * despite this type (redraft's own models always have a graph and value types).
 */
export type Decoded<T> = T extends Uint8Array
  ? T
  : T extends readonly (infer E)[]
    ? Decoded<E>[]
    : T extends LongLike
      ? T
      : T extends object
        ? { [K in keyof T]-?: Decoded<NonNullable<T[K]>> }
        : T;
export type DecodedModel = Decoded<OnnxTypes.IModelProto>;

/** Decodes ModelProto bytes (a thin wrapper so callers need not import onnx-proto). */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  return onnx.ModelProto.decode(bytes) as unknown as DecodedModel;
}

/** ONNX TensorProto.DataType numbers (onnx.proto), for readability at call sites. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
