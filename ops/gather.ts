/**
 * Gathers along one dim (TensorRT IGatherLayer):
 *
 * | op | mode | output shape |
 * |---|---|---|
 * | gather(input, dim, indices) | element (torch.gather) | indices.shape |
 * | index_select(input, dim, index) | default | input.shape with dim → len(index) |
 * | select(input, dim, index) | default, 0-D index | input.shape without dim |
 */
import { INDEX_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { dimParts, partScalar } from './dims.js';
import { type Check, declareOp, describe, layer1 } from './op.js';

const gatherDecl = declareOp('gather', {
  input: { rank: [1, 8] },
  indices: { dtypes: INDEX_DTYPES, rank: [1, 8] },
});

/** out[i][j][k] = input[i][indices[i][j][k]][k] for dim 1 (torch.gather); same ranks. */
export function gather(input: Tensor, dim: number, indices: Tensor): Tensor {
  const { c, input: x, indices: idx } = gatherDecl.validate({ input, indices });
  // 1. dim is an axis of input.
  const axis = c.axis('dim', dim, x.rank);
  // 2. indices has the rank of input.
  if (idx.rank !== x.rank) c.fail('indices', `has rank ${idx.rank} (shape ${shapeToString(idx.shape)}); expected rank ${x.rank} like input ${shapeToString(x.shape)}`);
  // 3. Outside dim, indices is no larger than input (static dims).
  idx.shape.forEach((d, i) => {
    const e = x.size(i);
    if (i !== axis && typeof d === 'number' && typeof e === 'number' && d > e)
      c.fail('indices', `has shape ${shapeToString(idx.shape)}, larger than input ${shapeToString(x.shape)} in dim ${i} (only dim ${axis} may be larger)`);
  });
  return layer1(x.net, { kind: 'gather', inputs: [x.id, idx.id], mode: 'element', axis, nbElementWiseDims: 0, name: 'gather' });
}

const indexSelectDecl = declareOp('index_select', {
  input: { rank: [1, 8] },
  index: { dtypes: INDEX_DTYPES, rank: 1 },
});

/** The entries `index` of `input` along `dim` (torch.index_select). */
export function index_select(input: Tensor, dim: number, index: Tensor): Tensor {
  const { c, input: x, index: idx } = indexSelectDecl.validate({ input, index });
  // 1. dim is an axis of input.
  const axis = c.axis('dim', dim, x.rank);
  return layer1(x.net, { kind: 'gather', inputs: [x.id, idx.id], mode: 'default', axis, nbElementWiseDims: 0, name: 'index_select' });
}

const selectDecl = declareOp('select', {
  input: { rank: [1, 8] },
  index: { dtypes: INDEX_DTYPES, rank: [0, 1] },
});

/** input[..., index, ...] at `dim`: that dim is removed. `index` may be negative (from the end). */
export function select(input: Tensor, dim: number, index: number | Tensor): Tensor {
  const { c, input: x } = selectDecl.validate({ input });
  const check: Check = c;
  // 1. dim is an axis of input.
  const axis = c.axis('dim', dim, x.rank);
  const n = x.size(axis);
  let idx: Tensor;
  if (typeof index === 'number') {
    // 2. A number index lies in [-n, n) where n is static; negative counts from the end.
    check.int('index', index);
    if (typeof n === 'number' && (index < -n || index >= n))
      check.fail('index', `is ${index}, out of range for dim ${axis} of size ${n} (input ${shapeToString(x.shape)}; expected ${-n}..${n - 1})`);
    if (index >= 0 || typeof n === 'number') idx = x.net.constant([index < 0 ? index + (n as number) : index], 'int32', []);
    else {
      const len = partScalar(x.net, dimParts(x)[axis]);
      const off = x.net.constant([index], 'int64', []);
      idx = layer1(x.net, { kind: 'elementwise', op: 'sum', inputs: [len.id, off.id] });
    }
  } else {
    // 3. A tensor index is one int: 0-D or shape [1].
    if (!(index instanceof Tensor)) check.fail('index', `must be a number or a Tensor, got ${describe(index)}`);
    idx = c.operand('index', index, selectDecl.operands.index);
    if (idx.rank === 1 && idx.size(0) !== 1) check.fail('index', `has shape ${shapeToString(idx.shape)}; expected a 0-D or 1-element tensor`);
    if (idx.rank === 1) idx = layer1(x.net, { kind: 'shuffle', inputs: [idx.id], reshape: [], zeroIsPlaceholder: false });
  }
  // A 0-D index removes the dim (IGatherLayer: output = data[:axis] ++ indices.shape ++ data[axis+1:]).
  return layer1(x.net, { kind: 'gather', inputs: [x.id, idx.id], mode: 'default', axis, nbElementWiseDims: 0, name: 'select' });
}
