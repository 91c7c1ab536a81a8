/**
 * The op vocabulary, named like TensorRT-LLM's functional API (snake_case on purpose, so
 * PyTorch / TensorRT-LLM code ports line for line).
 */
export { declareOp, Check } from './op.js';
export { constant, arange, toTensor, type TensorLike } from './constant.js';
export { shape } from './shape.js';
export { view } from './view.js';
export { concat } from './concat.js';
export { gather_nd } from './gather_nd.js';
export {
  add, sub, mul, div, floordiv, mod, pow, maximum, minimum, eq, gt, lt,
  logical_and, logical_or, logical_xor,
} from './elementwise.js';
// -- data movement and shapes (ops A) --
// -- math, reductions, nn (ops B) --
