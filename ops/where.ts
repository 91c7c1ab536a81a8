/** where(condition, left, right): ISelectLayer with numpy broadcasting. */
import type { DType } from '../dsl/dtype.js';
import { isFloat } from '../dsl/dtype.js';
import { Tensor } from '../dsl/network.js';
import { broadcastOperands } from './broadcast.js';
import type { TensorLike } from './constant.js';
import { type Check, declareOp, describe, layer1 } from './op.js';

const decl = declareOp('where', { condition: { dtypes: ['bool'] } });

/**
 * left where condition is true, else right. A number takes the dtype of the other operand;
 * when both are numbers the result is int32 for integers, else float32 (as TensorRT-LLM's
 * constant conversion).
 */
export function where(condition: Tensor, left: TensorLike, right: TensorLike): Tensor {
  const { c, condition: cond } = decl.validate({ condition });
  const check: Check = c;
  if (cond === undefined) return check.fail('condition', `must be a bool Tensor, got ${describe(condition)}`);
  // 1. left and right are tensors or numbers; numbers take the other operand's dtype.
  const like: DType =
    left instanceof Tensor ? left.dtype
    : right instanceof Tensor ? right.dtype
    : Number.isInteger(left) && Number.isInteger(right) ? 'int32' : 'float32';
  const operand = (arg: string, v: unknown): Tensor => {
    if (v instanceof Tensor) return c.operand(arg, v);
    if (typeof v !== 'number') return check.fail(arg, `must be a Tensor or a number, got ${describe(v)}`);
    if (!isFloat(like) && like !== 'bool' && !Number.isInteger(v))
      check.fail(arg, `is ${v}, not representable in ${like} (the dtype of the other operand)`, 'cast the tensor operand to a float dtype');
    if (like === 'bool' && v !== 0 && v !== 1) check.fail(arg, `is ${v}; a bool operand takes 0 or 1`);
    return cond.net.constant([v], like, []);
  };
  const a = operand('left', left);
  const b = operand('right', right);
  // 2. left and right have the same dtype.
  c.sameDtype('left', a, 'right', b);
  // 3. The three shapes broadcast.
  const [cb, ab, bb] = broadcastOperands(c, [['condition', cond], ['left', a], ['right', b]]);
  return layer1(cond.net, { kind: 'select', inputs: [cb.id, ab.id, bb.id], name: 'where' });
}
