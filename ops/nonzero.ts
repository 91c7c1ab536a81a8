/** nonzero(input): INonZeroLayer. */
import { Tensor } from '../dsl/network.js';
import { declareOp, layer1 } from './op.js';

const decl = declareOp('nonzero', { input: { rank: [1, 8] } });

/**
 * Indices of the non-zero elements as int64 [rank, count] in row-major order (TensorRT's
 * layout, the transpose of torch.nonzero); count is a data-dependent dim.
 */
export function nonzero(input: Tensor): Tensor {
  const { input: x } = decl.validate({ input });
  return layer1(x.net, { kind: 'nonzero', inputs: [x.id], name: 'nonzero' });
}
