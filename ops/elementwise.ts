/**
 * Binary elementwise ops with numpy broadcasting. The table says, per op, which dtypes its
 * operands may have; numbers become constants of the other operand's dtype.
 *
 * | op | IR | dtypes |
 * |---|---|---|
 * | add sub mul div maximum minimum | sum sub prod div max min | float*, int* |
 * | pow | pow | float* |
 * | floordiv | floor_div | float*, int* |
 * | mod | a - floordiv(a,b)*b (sign of b, like torch.remainder) | float*, int* |
 * | eq gt lt | equal greater less → bool | float*, int*, (eq: bool too) |
 * | logical_and logical_or logical_xor | and or xor | bool |
 */
import type { DType } from '../dsl/dtype.js';
import { NUMERIC_DTYPES, FLOAT_DTYPES } from '../dsl/dtype.js';
import type { ElementWiseOp } from '../dsl/ir.js';
import { Tensor } from '../dsl/network.js';
import { broadcastOperands } from './broadcast.js';
import { Check, describe, layer1 } from './op.js';
import { toTensor, type TensorLike } from './constant.js';

const BOOL: readonly DType[] = ['bool'];
const EQ_DTYPES: readonly DType[] = [...NUMERIC_DTYPES, 'bool'];

function binary(name: string, op: ElementWiseOp, a: TensorLike, b: TensorLike, dtypes: readonly DType[]): Tensor {
  const c: Check = new Check(name);
  // 1. At least one operand is a tensor; numbers take its dtype.
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) c.fail(undefined, `needs at least one Tensor operand, got ${describe(a)} and ${describe(b)}`);
  const like = (a instanceof Tensor ? a : (b as Tensor)).dtype;
  const x = c.operand('input', toTensor(a, like, 'input', name), { dtypes });
  const y = c.operand('other', toTensor(b, like, 'other', name), { dtypes });
  // 2. Same dtype.
  c.sameDtype('input', x, 'other', y);
  // 3. Shapes broadcast.
  const [xa, ya] = broadcastOperands(c, [['input', x], ['other', y]]);
  return layer1(x.net, { kind: 'elementwise', op, inputs: [xa.id, ya.id], name });
}

export const add = (input: TensorLike, other: TensorLike) => binary('add', 'sum', input, other, NUMERIC_DTYPES);
export const sub = (input: TensorLike, other: TensorLike) => binary('sub', 'sub', input, other, NUMERIC_DTYPES);
export const mul = (input: TensorLike, other: TensorLike) => binary('mul', 'prod', input, other, NUMERIC_DTYPES);
export const div = (input: TensorLike, other: TensorLike) => binary('div', 'div', input, other, NUMERIC_DTYPES);
export const floordiv = (input: TensorLike, other: TensorLike) => binary('floordiv', 'floor_div', input, other, NUMERIC_DTYPES);
export const pow = (input: TensorLike, other: TensorLike) => binary('pow', 'pow', input, other, FLOAT_DTYPES);
export const maximum = (input: TensorLike, other: TensorLike) => binary('maximum', 'max', input, other, NUMERIC_DTYPES);
export const minimum = (input: TensorLike, other: TensorLike) => binary('minimum', 'min', input, other, NUMERIC_DTYPES);
export const eq = (input: TensorLike, other: TensorLike) => binary('eq', 'equal', input, other, EQ_DTYPES);
export const gt = (input: TensorLike, other: TensorLike) => binary('gt', 'greater', input, other, NUMERIC_DTYPES);
export const lt = (input: TensorLike, other: TensorLike) => binary('lt', 'less', input, other, NUMERIC_DTYPES);
export const logical_and = (input: TensorLike, other: TensorLike) => binary('logical_and', 'and', input, other, BOOL);
export const logical_or = (input: TensorLike, other: TensorLike) => binary('logical_or', 'or', input, other, BOOL);
export const logical_xor = (input: TensorLike, other: TensorLike) => binary('logical_xor', 'xor', input, other, BOOL);

/** Remainder with the sign of the divisor (torch.remainder / Python %): a - floordiv(a, b) * b. */
export function mod(input: TensorLike, other: TensorLike): Tensor {
  return sub(input, mul(floordiv(input, other), other));
}
