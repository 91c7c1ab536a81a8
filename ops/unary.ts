/**
 * Unary elementwise ops (IUnaryLayer) and activations (IActivationLayer).
 *
 * | op | IR | dtypes |
 * |---|---|---|
 * | exp log sqrt rsqrt recip sin cos erf floor ceil round | unary | float* |
 * | abs neg sign | unary | float*, int32, int64, int8 |
 * | logical_not | unary not | bool |
 * | isnan isinf | unary → bool | float* |
 * | relu sigmoid tanh softplus leaky_relu clip gelu | activation | float* |
 * | silu | x * sigmoid(x) (as TensorRT-LLM) | float* |
 */
import type { DType } from '../dsl/dtype.js';
import { FLOAT_DTYPES, NUMERIC_DTYPES } from '../dsl/dtype.js';
import type { ActivationOp, UnaryOp } from '../dsl/ir.js';
import type { Tensor } from '../dsl/network.js';
import { mul } from './elementwise.js';
import { declareOp, layer1 } from './op.js';

const SIGNED: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8'];

function unaryOp(name: string, op: UnaryOp, dtypes: readonly DType[]) {
  const decl = declareOp(name, { input: { dtypes } });
  return (input: Tensor): Tensor => {
    const { input: x } = decl.validate({ input });
    return layer1(x.net, { kind: 'unary', op, inputs: [x.id], name });
  };
}

export const exp = unaryOp('exp', 'exp', FLOAT_DTYPES);
export const log = unaryOp('log', 'log', FLOAT_DTYPES);
export const sqrt = unaryOp('sqrt', 'sqrt', FLOAT_DTYPES);
export const recip = unaryOp('recip', 'recip', FLOAT_DTYPES);
export const sin = unaryOp('sin', 'sin', FLOAT_DTYPES);
export const cos = unaryOp('cos', 'cos', FLOAT_DTYPES);
export const erf = unaryOp('erf', 'erf', FLOAT_DTYPES);
export const floor = unaryOp('floor', 'floor', FLOAT_DTYPES);
export const ceil = unaryOp('ceil', 'ceil', FLOAT_DTYPES);
export const round = unaryOp('round', 'round', FLOAT_DTYPES);
export const abs = unaryOp('abs', 'abs', SIGNED);
export const neg = unaryOp('neg', 'neg', SIGNED);
export const sign = unaryOp('sign', 'sign', SIGNED);
export const logical_not = unaryOp('logical_not', 'not', ['bool']);
export const isnan = unaryOp('isnan', 'isnan', FLOAT_DTYPES);
export const isinf = unaryOp('isinf', 'isinf', FLOAT_DTYPES);

/** 1 / sqrt(x) (sqrt then recip, as TensorRT-LLM lowers it). */
export function rsqrt(input: Tensor): Tensor {
  return recip(sqrt(input));
}

function activationOp(name: string, op: ActivationOp) {
  const decl = declareOp(name, { input: { dtypes: FLOAT_DTYPES } });
  return (input: Tensor, alpha?: number, beta?: number): Tensor => {
    const { input: x } = decl.validate({ input });
    return layer1(x.net, { kind: 'activation', op, inputs: [x.id], alpha, beta, name });
  };
}

const reluA = activationOp('relu', 'relu');
const sigmoidA = activationOp('sigmoid', 'sigmoid');
const tanhA = activationOp('tanh', 'tanh');
const softplusA = activationOp('softplus', 'softplus');
const leakyA = activationOp('leaky_relu', 'leaky_relu');
const clipA = activationOp('clip', 'clip');
const geluErf = activationOp('gelu', 'gelu_erf');
const geluTanh = activationOp('gelu', 'gelu_tanh');

export const relu = (input: Tensor): Tensor => reluA(input);
export const sigmoid = (input: Tensor): Tensor => sigmoidA(input);
export const tanh = (input: Tensor): Tensor => tanhA(input);
export const softplus = (input: Tensor): Tensor => softplusA(input, 1, 1);
export const leaky_relu = (input: Tensor, alpha = 0.01): Tensor => leakyA(input, alpha);
/** Clamps to [min, max]. */
export function clip(input: Tensor, min: number, max: number): Tensor {
  const c = declareOp('clip', { input: { dtypes: NUMERIC_DTYPES } }).check();
  if (!(min <= max)) c.fail('min', `(${min}) must not exceed max (${max})`);
  return clipA(input, min, max);
}
/** GELU, erf form by default; `approximate = 'tanh'` for the tanh approximation. */
export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh') declareOp('gelu', {}).check().fail('approximate', `must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
  return approximate === 'tanh' ? geluTanh(input) : geluErf(input);
}
/** x * sigmoid(x). */
export function silu(input: Tensor): Tensor {
  return mul(input, sigmoid(input));
}


