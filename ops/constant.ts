/** constant, arange and the conversion of JS numbers to tensors. */
import type { DType, TypedArray } from '../dsl/dtype.js';
import { isDType, isFloat } from '../dsl/dtype.js';
import { Tensor } from '../dsl/network.js';
import { Check, netOf, layer1 } from './op.js';

export type TensorLike = Tensor | number;

/**
 * A constant tensor. `values` may be a typed array (used as-is, zero-copy) or nested/flat JS
 * numbers; `shape` defaults to the flat length (or [] for a single number).
 */
export function constant(values: TypedArray | number | bigint | boolean | readonly (number | bigint | boolean)[], dtype: DType = 'float32', shape?: readonly number[]): Tensor {
  const c = new Check('constant');
  if (!isDType(dtype)) c.fail('dtype', `is ${JSON.stringify(dtype)}, not a dtype`);
  const flat = ArrayBuffer.isView(values) ? values : Array.isArray(values) ? values : [values as number];
  const s = shape ?? (typeof values === 'number' || typeof values === 'bigint' || typeof values === 'boolean' ? [] : [flat.length]);
  return netOf().constant(flat as TypedArray, dtype, s);
}

/** Converts a number to a constant of `like`'s dtype (scalars in binary ops). */
export function toTensor(x: TensorLike, like: DType, arg = 'x', op = 'op'): Tensor {
  if (x instanceof Tensor) return x;
  const c: Check = new Check(op);
  if (typeof x !== 'number') return c.fail(arg, `must be a Tensor or a number, got ${typeof x}`);
  if (!isFloat(like) && like !== 'bool' && !Number.isInteger(x))
    c.fail(arg, `is ${x}, not representable in ${like}`, `use a ${like} value or cast the tensor to a float dtype`);
  return netOf().constant([x], like, []);
}

/**
 * The dtype a linspace fill computes in: TensorRT's kLINSPACE "output type must be INT32, INT64,
 * or FLOAT" (ops/trt.ts), so half floats fill in float32 and bool/int8 in int32, then cast.
 */
function fillDtype(d: DType): DType {
  return d === 'int32' || d === 'int64' || d === 'float32' ? d : isFloat(d) ? 'float32' : 'int32';
}

/** [start, start+1, ..., end-1] as a 1-D tensor; start/end may be 0-D int tensors. */
export function arange(start: TensorLike, end: TensorLike, dtype: DType = 'int64'): Tensor {
  const c: Check = new Check('arange');
  if (!isDType(dtype)) c.fail('dtype', `is ${JSON.stringify(dtype)}, not a dtype`);
  const net = netOf(start, end);
  const fd = fillDtype(dtype);
  const done = (t: Tensor) => (fd === dtype ? t : layer1(net, { kind: 'cast', inputs: [t.id], dtype, name: 'arange' }));
  if (typeof start === 'number' && typeof end === 'number') {
    c.int('start', start);
    c.int('end', end);
    if (end < start) c.fail(undefined, `end (${end}) is below start (${start})`);
    return done(layer1(net, { kind: 'fill', inputs: [], dims: [end - start], dtype: fd, alpha: start, beta: 1, name: 'arange' }));
  }
  if (typeof start !== 'number') c.fail('start', 'must be a number when end is a tensor (fill computes start + i)');
  const e = c.operand('end', end, { dtypes: ['int32', 'int64'], rank: [0, 1] });
  let len = e;
  if (start !== 0) {
    const s = net.constant([start], e.dtype, e.rank === 0 ? [] : [1]);
    len = layer1(net, { kind: 'elementwise', op: 'sub', inputs: [e.id, s.id] });
  }
  const dims = e.rank === 0 ? layer1(net, { kind: 'shuffle', inputs: [len.id], reshape: [1], zeroIsPlaceholder: false }) : len;
  const dims64 = dims.dtype === 'int64' ? dims : layer1(net, { kind: 'cast', inputs: [dims.id], dtype: 'int64' });
  return done(layer1(net, { kind: 'fill', inputs: [dims64.id], dims: { tensor: dims64.id }, dtype: fd, alpha: start, beta: 1, name: 'arange' }));
}
