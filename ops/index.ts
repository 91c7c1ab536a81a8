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
export { gather, index_select, select } from './gather.js';
export { slice } from './slice.js';
export { expand } from './expand.js';
export { unsqueeze, squeeze, flatten } from './reshape.js';
export { permute, transpose } from './permute.js';
export { split, chunk } from './split.js';
export { cast } from './cast.js';
export { where } from './where.js';
export { scatter, scatter_nd } from './scatter.js';
export { nonzero } from './nonzero.js';
export { one_hot } from './one_hot.js';
export { repeat_interleave } from './repeat_interleave.js';
export { tril, triu, tril_mask } from './tril.js';
// -- math, reductions, nn (ops B) --
export {
  exp, log, sqrt, rsqrt, recip, sin, cos, erf, floor, ceil, round, abs, neg, sign, logical_not, isnan, isinf,
  relu, sigmoid, tanh, softplus, leaky_relu, clip, gelu, silu,
} from './unary.js';
export { matmul, linear } from './matmul.js';
export { softmax, log_softmax } from './softmax.js';
export { sum, mean, max, min, prod } from './reduce.js';
export { topk, argmax, argmin } from './topk.js';
export { cumsum, cumprod } from './cumsum.js';
export { embedding, rms_norm, layer_norm } from './nn.js';
export { attention, rotary_embedding, kv_cache_update, type AttentionOptions, type RotaryOptions } from './fused.js';
export { quantize, dequantize, type QuantizeOptions, type DequantizeOptions } from './quantize.js';
// -- tensor parallelism --
export { all_reduce, all_gather, broadcast, type AllReduceOptions, type AllGatherOptions, type BroadcastOptions } from './collective.js';
