/** gather_nd(input, indices, batch_dims): TensorRT's GatherMode::kND (ONNX GatherND). */
import { INDEX_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { type Check, declareOp, layer1 } from './op.js';

const decl = declareOp('gather_nd', {
  input: { rank: [1, 8] },
  indices: { dtypes: INDEX_DTYPES, rank: [1, 8] },
});

/**
 * Gathers slices of `input` addressed by the last dim of `indices`; the first `batch_dims`
 * dims of both are matched element-wise. Output shape:
 * indices.shape[:-1] ++ input.shape[batch_dims + indices.shape[-1]:].
 */
export function gather_nd(input: Tensor, indices: Tensor, batch_dims = 1): Tensor {
  const { c, input: x, indices: idx } = decl.validate({ input, indices });
  const check: Check = c;
  // 1. batch_dims is below both ranks.
  c.int('batch_dims', batch_dims, 0, Math.min(x.rank, idx.rank) - 1);
  // 2. The index depth is static and fits the non-batch dims of input.
  const k = idx.size(-1);
  if (typeof k !== 'number') check.fail('indices', `must have a static last dim (the index depth), got ${shapeToString(idx.shape)}`);
  if (batch_dims + k > x.rank)
    c.fail('indices', `addresses ${k} dims after ${batch_dims} batch dims, but input ${shapeToString(x.shape)} has rank ${x.rank}`);
  // 3. Batch dims agree.
  for (let i = 0; i < batch_dims; i++) c.sameDim('input', x.size(i), 'indices', idx.size(i), `batch dim ${i}`);
  return layer1(x.net, { kind: 'gather', inputs: [x.id, idx.id], mode: 'nd', axis: 0, nbElementWiseDims: batch_dims, name: 'gather_nd' });
}
