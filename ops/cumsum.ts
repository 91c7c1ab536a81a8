/**
 * cumsum (ICumulativeLayer) and cumprod. TensorRT's cumulative layer only sums, so cumprod
 * is an exact Hillis–Steele scan: log2(n) rounds of x[i] *= x[i - 2^r] built from slices
 * (fill mode pads with 1; int64 and bfloat16, which TensorRT's FILL slices refuse, use a wrap
 * slice and a select), exact for every dtype including int64 and bool.
 */
import { NUMERIC_DTYPES } from '../dsl/dtype.js';
import type { DType } from '../dsl/dtype.js';
import type { Tensor } from '../dsl/network.js';
import { declareOp, layer1, type Check } from './op.js';
import { mul, logical_and } from './elementwise.js';
import { dimParts } from './dims.js';
import { slice } from './slice.js';
import { where } from './where.js';

const ALL: readonly DType[] = [...NUMERIC_DTYPES, 'bool'];
const decl = declareOp('cumsum', { input: { dtypes: NUMERIC_DTYPES, rank: [1, 8] } });

export function cumsum(input: Tensor, dim: number, exclusive = false, reverse = false): Tensor {
  const { c, input: x } = decl.validate({ input });
  const axis = c.axis('dim', dim, x.rank);
  return layer1(x.net, { kind: 'cumulative', op: 'sum', inputs: [x.id], axis, exclusive, reverse, name: 'cumsum' });
}

const pDecl = declareOp('cumprod', { input: { dtypes: ALL, rank: [1, 8] } });

export function cumprod(input: Tensor, dim: number): Tensor {
  const v = pDecl.validate({ input });
  const c: Check = v.c;
  const x = v.input;
  const axis = c.axis('dim', dim, x.rank);
  const n = x.size(axis);
  if (typeof n !== 'number') c.fail('input', `dim ${axis} must be static for cumprod (the scan unrolls log2(n) rounds)`);
  // TensorRT's FILL slices take neither int64 nor bfloat16 (ops/trt.ts): those read the shifted
  // copy in WRAP mode and keep acc where i < shift (a constant mask along the axis), instead.
  const wrap = x.dtype === 'int64' || x.dtype === 'bfloat16';
  const times = (a: Tensor, b: Tensor) => (x.dtype === 'bool' ? logical_and(a, b) : mul(a, b));
  let acc = x;
  for (let shift = 1; shift < n; shift *= 2) {
    const parts = dimParts(acc);
    const starts = parts.map((_, i) => (i === axis ? -shift : 0));
    if (!wrap) {
      // shifted[i] = acc[i - shift] (1 outside), as a fill-mode slice starting at -shift.
      acc = times(acc, slice(acc, starts, parts, undefined, 'fill', 1));
      continue;
    }
    const shifted = slice(acc, starts, parts, undefined, 'wrap');
    const maskShape = x.shape.map((_, i) => (i === axis ? n : 1));
    const mask = x.net.constant(Array.from({ length: n }, (_, i) => i >= shift), 'bool', maskShape);
    acc = where(mask, times(acc, shifted), acc);
  }
  return acc;
}
