/**
 * repeat_interleave(input, repeats, dim): each element repeated `repeats` times along dim,
 * lowered as TensorRT-LLM does: unsqueeze after dim, broadcast that dim (slice stride 0),
 * merge it into dim.
 */
import { Tensor } from '../dsl/network.js';
import { dimParts, mulPart, reshapeTo, sliceLayer } from './dims.js';
import { declareOp } from './op.js';

const decl = declareOp('repeat_interleave', { input: { rank: [1, 7] } });

/** [a, b] with repeats 2 along dim 0 → [a, a, b, b]. */
export function repeat_interleave(input: Tensor, repeats: number, dim: number): Tensor {
  const { c, input: x } = decl.validate({ input });
  // 1. repeats is an integer >= 0.
  const r = c.int('repeats', repeats, 0);
  // 2. dim is an axis of input.
  const axis = c.axis('dim', dim, x.rank);
  const parts = dimParts(x);
  const opened = reshapeTo(x, [...parts.slice(0, axis + 1), 1, ...parts.slice(axis + 1)], 'repeat_interleave');
  const tiledShape = [...parts.slice(0, axis + 1), r, ...parts.slice(axis + 1)];
  const stride = tiledShape.map((_, i) => (i === axis + 1 ? 0 : 1));
  const tiled = sliceLayer(opened, new Array<number>(x.rank + 1).fill(0), tiledShape, stride, 'repeat_interleave');
  const merged = [...parts];
  merged[axis] = mulPart(x.net, parts[axis], r);
  return reshapeTo(tiled, merged, 'repeat_interleave');
}
