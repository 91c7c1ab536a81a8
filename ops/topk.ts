/** topk (ITopKLayer), argmax and argmin. */
import type { DType } from '../dsl/dtype.js';
import { INDEX_DTYPES, NUMERIC_DTYPES } from '../dsl/dtype.js';
import type { Tensor } from '../dsl/network.js';
import { cast } from './cast.js';
import { squeeze } from './reshape.js';
import { declareOp, type Check } from './op.js';

const decl = declareOp('topk', { input: { dtypes: NUMERIC_DTYPES, rank: [1, 8] } });

/**
 * The k largest (or smallest) values along `dim` and their int32 indices (as TensorRT).
 * Ties resolve to the lower index.
 */
export function topk(input: Tensor, k: number, dim = -1, largest = true): [Tensor, Tensor] {
  const v = decl.validate({ input });
  const c: Check = v.c;
  const x = v.input;
  const axis = c.axis('dim', dim, x.rank);
  // 1. k is a static positive integer. (TensorRT's k <= 3840, its dtype table and its
  // last-four-dims axis rule are TensorRT-only: ops/trt.ts, checked for --target plan|trt.)
  c.int('k', k, 1);
  // 2. k fits the dim when the dim is static.
  const n = x.size(axis);
  if (typeof n === 'number' && k > n) c.fail('k', `is ${k}, larger than dim ${axis} of 'input' (size ${n})`);
  const [values, indices] = x.net.addLayer({ kind: 'topk', inputs: [x.id], op: largest ? 'max' : 'min', k, axis, name: 'topk' });
  return [values, indices];
}

function argReduce(name: string, largest: boolean) {
  return (input: Tensor, dim: number, keepdim = false, dtype: DType = 'int32'): Tensor => {
    const c: Check = declareOp(name, {}).check();
    if (!INDEX_DTYPES.includes(dtype)) c.fail('dtype', `must be int32 or int64, got ${JSON.stringify(dtype)}`);
    const [, idx] = topk(input, 1, dim, largest);
    const axis = dim < 0 ? dim + input.rank : dim;
    const out = keepdim ? idx : squeeze(idx, axis);
    return cast(out, dtype);
  };
}

/** Index of the largest value along `dim` (first on ties); int32 unless dtype says int64. */
export const argmax = argReduce('argmax', true);
export const argmin = argReduce('argmin', false);
