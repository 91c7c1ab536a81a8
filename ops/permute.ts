/**
 * Dim reorders (IShuffleLayer's first transpose):
 *
 * | op | output dim i |
 * |---|---|
 * | permute(input, dims) | input dim dims[i] |
 * | transpose(input, dim0, dim1) | dims dim0 and dim1 swapped |
 */
import { Tensor } from '../dsl/network.js';
import { type Check, declareOp, describe, layer1 } from './op.js';

const permuteDecl = declareOp('permute', { input: { rank: [0, 8] } });

/** Output dim i is input dim dims[i]; dims is a permutation of the axes (negatives allowed). */
export function permute(input: Tensor, dims: readonly number[]): Tensor {
  const { c, input: x } = permuteDecl.validate({ input });
  const check: Check = c;
  // 1. dims has one entry per dim, each an axis, each axis once.
  if (!Array.isArray(dims)) check.fail('dims', `must be an array of axes, got ${describe(dims)}`);
  if (dims.length !== x.rank) check.fail('dims', `has ${dims.length} entries; expected ${x.rank} (one per dim of input)`);
  const perm = dims.map((d, i) => c.axis(`dims[${i}]`, d, x.rank));
  if (new Set(perm).size !== perm.length) check.fail('dims', `[${dims.join(', ')}] is not a permutation of 0..${x.rank - 1}`);
  return layer1(x.net, { kind: 'shuffle', inputs: [x.id], first: perm, zeroIsPlaceholder: false, name: 'permute' });
}

const transposeDecl = declareOp('transpose', { input: { rank: [1, 8] } });

/** Swaps dims dim0 and dim1. */
export function transpose(input: Tensor, dim0: number, dim1: number): Tensor {
  const { c, input: x } = transposeDecl.validate({ input });
  // 1. dim0 and dim1 are axes.
  const a = c.axis('dim0', dim0, x.rank);
  const b = c.axis('dim1', dim1, x.rank);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return layer1(x.net, { kind: 'shuffle', inputs: [x.id], first: perm, zeroIsPlaceholder: false, name: 'transpose' });
}
