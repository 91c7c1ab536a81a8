/**
 * Writes updates into a copy of input (TensorRT IScatterLayer):
 *
 * | op | mode | rule |
 * |---|---|---|
 * | scatter(input, dim, indices, updates) | element | out[.., indices[i,j,..], ..] = updates[i,j,..] at dim (torch.scatter) |
 * | scatter_nd(input, indices, updates) | nd | out[indices[i, :]] = updates[i] (ONNX ScatterND) |
 */
import { INDEX_DTYPES } from '../dsl/dtype.js';
import { dimEq, shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { type Check, declareOp, layer1 } from './op.js';

const scatterDecl = declareOp('scatter', {
  input: { rank: [1, 8] },
  indices: { dtypes: INDEX_DTYPES, rank: [1, 8] },
  updates: { rank: [1, 8] },
});

/** Element scatter along `dim`: indices and updates share a shape of input's rank. */
export function scatter(input: Tensor, dim: number, indices: Tensor, updates: Tensor): Tensor {
  const { c, input: x, indices: idx, updates: upd } = scatterDecl.validate({ input, indices, updates });
  const check: Check = c;
  // 1. dim is an axis of input.
  const axis = c.axis('dim', dim, x.rank);
  // 2. updates has input's dtype.
  c.sameDtype('input', x, 'updates', upd);
  // 3. indices has input's rank and updates' shape.
  if (idx.rank !== x.rank) check.fail('indices', `has rank ${idx.rank} (shape ${shapeToString(idx.shape)}); expected rank ${x.rank} like input ${shapeToString(x.shape)}`);
  if (upd.rank !== idx.rank || upd.shape.some((d, i) => typeof d === 'number' && typeof idx.size(i) === 'number' && d !== idx.size(i)))
    check.fail('updates', `has shape ${shapeToString(upd.shape)}; expected the shape of indices ${shapeToString(idx.shape)}`);
  // 4. Outside dim, indices is no larger than input.
  idx.shape.forEach((d, i) => {
    const e = x.size(i);
    if (i !== axis && typeof d === 'number' && typeof e === 'number' && d > e)
      check.fail('indices', `has shape ${shapeToString(idx.shape)}, larger than input ${shapeToString(x.shape)} in dim ${i} (only dim ${axis} may be larger)`);
  });
  return layer1(x.net, { kind: 'scatter', inputs: [x.id, idx.id, upd.id], mode: 'element', axis, name: 'scatter' });
}

const scatterNdDecl = declareOp('scatter_nd', {
  input: { rank: [1, 8] },
  indices: { dtypes: INDEX_DTYPES, rank: [1, 8] },
  updates: { rank: [0, 8] },
});

/**
 * ND scatter: the last dim k of indices addresses input's first k dims; updates has shape
 * indices.shape[:-1] ++ input.shape[k:].
 */
export function scatter_nd(input: Tensor, indices: Tensor, updates: Tensor): Tensor {
  const { c, input: x, indices: idx, updates: upd } = scatterNdDecl.validate({ input, indices, updates });
  const check: Check = c;
  // 1. updates has input's dtype.
  c.sameDtype('input', x, 'updates', upd);
  // 2. The index depth is static and at most rank(input).
  const k = idx.size(-1);
  if (typeof k !== 'number') check.fail('indices', `must have a static last dim (the index depth), got ${shapeToString(idx.shape)}`);
  if (k < 1 || k > x.rank) check.fail('indices', `has index depth ${k} (shape ${shapeToString(idx.shape)}); expected 1..${x.rank} for input ${shapeToString(x.shape)}`);
  // 3. updates has shape indices.shape[:-1] ++ input.shape[k:].
  const want = [...idx.shape.slice(0, -1), ...x.shape.slice(k)];
  const ok = upd.rank === want.length && upd.shape.every((d, i) => dimEq(d, want[i]) || typeof d !== 'number' || typeof want[i] !== 'number');
  if (!ok) check.fail('updates', `has shape ${shapeToString(upd.shape)}; expected ${shapeToString(want)} (indices.shape[:-1] ++ input.shape[${k}:])`);
  return layer1(x.net, { kind: 'scatter', inputs: [x.id, idx.id, upd.id], mode: 'nd', axis: 0, name: 'scatter_nd' });
}
