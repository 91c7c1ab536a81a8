/** Neural-network building blocks: embedding, rms_norm, layer_norm. */
import { FLOAT_DTYPES, INDEX_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import type { Tensor } from '../dsl/network.js';
import { cast } from './cast.js';
import { add, mul, pow, sub } from './elementwise.js';
import { declareOp, layer1, type Check } from './op.js';
import { mean } from './reduce.js';
import { rsqrt } from './unary.js';

const embDecl = declareOp('embedding', { input: { dtypes: INDEX_DTYPES }, weight: { dtypes: FLOAT_DTYPES, rank: 2 } });

/** Rows of `weight` [vocab, hidden] selected by the token ids in `input`. */
export function embedding(input: Tensor, weight: Tensor): Tensor {
  const { input: ids, weight: w } = embDecl.validate({ input, weight });
  return layer1(w.net, { kind: 'gather', inputs: [w.id, ids.id], mode: 'default', axis: 0, nbElementWiseDims: 0, name: 'embedding' });
}

const rmsDecl = declareOp('rms_norm', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] }, weight: { dtypes: FLOAT_DTYPES, rank: 1 } });

function checkNormalized(c: Check, x: Tensor, n: number, w?: Tensor): void {
  c.int('normalized_shape', n, 1);
  const last = x.size(-1);
  if (typeof last === 'number' && last !== n) c.fail('normalized_shape', `is ${n}, but the last dim of 'input' ${shapeToString(x.shape)} is ${last}`);
  if (w && typeof w.size(0) === 'number' && w.size(0) !== n) c.fail('weight', `has shape ${shapeToString(w.shape)}; expected [${n}]`);
}

/**
 * x * rsqrt(mean(x², -1) + eps) * weight, computed in float32 for half inputs and cast back
 * (as Hugging Face's LlamaRMSNorm).
 */
export function rms_norm(input: Tensor, normalized_shape: number, weight?: Tensor, eps = 1e-6): Tensor {
  const { c, input: x, weight: w } = rmsDecl.validate({ input, weight });
  checkNormalized(c, x, normalized_shape, w);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) c.fail('eps', `must be a finite number >= 0, got ${String(eps)}`);
  // One IR layer (builders/fused.ts decomposes it into cast, x², mean, + eps, sqrt, recip, ×, cast, × weight).
  const inputs = [x.id, ...(w ? [cast(w, x.dtype).id] : [])];
  return layer1(x.net, { kind: 'rms_norm', inputs, eps, name: 'rms_norm' });
}

const lnDecl = declareOp('layer_norm', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] }, weight: { dtypes: FLOAT_DTYPES, rank: 1 }, bias: { dtypes: FLOAT_DTYPES, rank: 1 } });

/** (x - mean) / sqrt(var + eps) * weight + bias over the last dim, in float32. */
export function layer_norm(input: Tensor, normalized_shape: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const { c, input: x, weight: w, bias: b } = lnDecl.validate({ input, weight, bias });
  checkNormalized(c, x, normalized_shape, w);
  const xf = cast(x, 'float32');
  const centered = sub(xf, mean(xf, -1, true));
  const variance = mean(pow(centered, 2), -1, true);
  let y = cast(mul(centered, rsqrt(add(variance, eps))), x.dtype);
  if (w) y = mul(y, cast(w, x.dtype));
  if (b) y = add(y, cast(b, x.dtype));
  return y;
}
