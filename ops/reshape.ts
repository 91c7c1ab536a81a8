/**
 * Reshapes that only add, drop or merge dims. Static shapes lower to a static shuffle;
 * symbolic dims are read from shape(input) at run time.
 *
 * | op | output shape |
 * |---|---|
 * | unsqueeze(input, axis) | a 1 inserted at axis (axis in [-rank-1, rank]) |
 * | squeeze(input, dim) | the dim(s) `dim`, each of static size 1, removed |
 * | flatten(input, start_dim=0, end_dim=-1) | dims start..end merged into their product |
 */
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { dimParts, mulPart, reshapeTo } from './dims.js';
import { type Check, declareOp, describe } from './op.js';

const unsqueezeDecl = declareOp('unsqueeze', { input: { rank: [0, 7] } });

/** Inserts a dim of size 1 at `axis` (negative counts from the end of the output). */
export function unsqueeze(input: Tensor, axis: number): Tensor {
  const { c, input: x } = unsqueezeDecl.validate({ input });
  // 1. axis is a position of the output (rank + 1 dims).
  const r = x.rank + 1;
  if (!Number.isInteger(axis) || axis < -r || axis >= r)
    c.fail('axis', `is ${axis}, out of range for input ${shapeToString(x.shape)} (expected ${-r}..${r - 1}: a position in the rank-${r} output)`);
  const a = axis < 0 ? axis + r : axis;
  const parts = dimParts(x);
  parts.splice(a, 0, 1);
  return reshapeTo(x, parts, 'unsqueeze');
}

const squeezeDecl = declareOp('squeeze', { input: { rank: [1, 8] } });

/** Removes dim `dim` (or each of several dims), which must have static size 1. */
export function squeeze(input: Tensor, dim: number | readonly number[]): Tensor {
  const { c, input: x } = squeezeDecl.validate({ input });
  const check: Check = c;
  // 1. dim is an axis, or a list of distinct axes.
  if (typeof dim !== 'number' && !Array.isArray(dim)) check.fail('dim', `must be a number or an array of numbers, got ${describe(dim)}`);
  const dims = (typeof dim === 'number' ? [dim] : dim).map((d, i) => c.axis(typeof dim === 'number' ? 'dim' : `dim[${i}]`, d, x.rank));
  if (new Set(dims).size !== dims.length) check.fail('dim', `names a dim twice: [${(dim as number[]).join(', ')}]`);
  // 2. Each squeezed dim has size 1 (known at build time: a symbolic dim may be anything).
  for (const d of dims) {
    const s = x.size(d);
    if (s !== 1) check.fail('dim', `is ${d}, but input ${shapeToString(x.shape)} has size ${String(s)} there; only dims of size 1 can be squeezed`);
  }
  const parts = dimParts(x).filter((_, i) => !dims.includes(i));
  return reshapeTo(x, parts, 'squeeze');
}

const flattenDecl = declareOp('flatten', { input: { rank: [0, 8] } });

/** Merges dims start_dim..end_dim (inclusive) into one; a 0-D input becomes [1]. */
export function flatten(input: Tensor, start_dim = 0, end_dim = -1): Tensor {
  const { c, input: x } = flattenDecl.validate({ input });
  const check: Check = c;
  if (x.rank === 0) return reshapeTo(x, [1], 'flatten');
  // 1. start_dim and end_dim are axes with start_dim <= end_dim.
  const s = c.axis('start_dim', start_dim, x.rank);
  const e = c.axis('end_dim', end_dim, x.rank);
  if (s > e) check.fail('end_dim', `is ${end_dim} (dim ${e}), before start_dim ${start_dim} (dim ${s}) in input ${shapeToString(x.shape)}`);
  const parts = dimParts(x);
  const merged = parts.slice(s, e + 1).reduce((acc, p) => mulPart(x.net, acc, p), 1);
  return reshapeTo(x, [...parts.slice(0, s), merged, ...parts.slice(e + 1)], 'flatten');
}
