/** softmax (ISoftMaxLayer) and log_softmax. */
import { FLOAT_DTYPES } from '../dsl/dtype.js';
import type { Tensor } from '../dsl/network.js';
import { exp, log } from './unary.js';
import { sub } from './elementwise.js';
import { max, sum } from './reduce.js';
import { declareOp, layer1 } from './op.js';

const decl = declareOp('softmax', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] } });

export function softmax(input: Tensor, dim = -1): Tensor {
  const { c, input: x } = decl.validate({ input });
  const axis = c.axis('dim', dim, x.rank);
  return layer1(x.net, { kind: 'softmax', inputs: [x.id], axis, name: 'softmax' });
}

const lsDecl = declareOp('log_softmax', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] } });

/** x - max - log(sum(exp(x - max))): stable for large logits. */
export function log_softmax(input: Tensor, dim = -1): Tensor {
  const { c, input: x } = lsDecl.validate({ input });
  const axis = c.axis('dim', dim, x.rank);
  const shifted = sub(x, max(x, axis, true));
  return sub(shifted, log(sum(exp(shifted), axis, true)));
}
