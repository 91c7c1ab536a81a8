/** Row-wise selection helpers shared by the ReDrafter graph functions. */
import type { Tensor } from '../../dsl/network.js';
import { cast, concat, gather_nd, shape, unsqueeze, view } from '../../ops/index.js';

/**
 * x[b, index[b]] for x (B, N, ...) and index (B): the reference's `_select_one_per_row`, as a
 * gather_nd with one batch dim.
 */
export function select_one_per_row(x: Tensor, index: Tensor): Tensor {
  return gather_nd(x, unsqueeze(cast(index, 'int64'), -1), 1);
}

/** Flattens dims [1, 2] of a rank-3+ tensor: (B, W, L, ...) → (B, W·L, ...). */
export function merge_dims_1_2(x: Tensor): Tensor {
  const rest = x.shape.slice(3).map((_, i) => shape(x, 3 + i));
  return view(x, concat([shape(x, 0), -1, ...rest]));
}
