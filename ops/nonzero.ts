/** nonzero(input): INonZeroLayer. */
import type { Tensor } from '../dsl/network.js';
import { declareOp, layer1 } from './op.js';

const decl = declareOp('nonzero', { input: { rank: [1, 8] } });

/**
 * Indices of the non-zero elements as int64 [rank, count] in row-major order (TensorRT's
 * layout, the transpose of torch.nonzero); count is a data-dependent dim.
 *
 * TensorRT's INonZeroLayer takes kFLOAT, kHALF, kINT32 or kBOOL (ops/trt.ts); other inputs are
 * converted first without changing which elements are non-zero: bfloat16 → float32 and
 * int8 → int32 (exact casts), int64 → x != 0 as bool (a cast to int32 would turn 2^32 into 0).
 * The IR promises int64 indices; TensorRT 10.0–10.13 produce int32 (the plan records the
 * promised dtype, and the native bridge casts).
 */
export function nonzero(input: Tensor): Tensor {
  const { input: x } = decl.validate({ input });
  const net = x.net;
  let t = x;
  if (x.dtype === 'bfloat16') t = layer1(net, { kind: 'cast', inputs: [x.id], dtype: 'float32', name: 'nonzero' });
  else if (x.dtype === 'int8') t = layer1(net, { kind: 'cast', inputs: [x.id], dtype: 'int32', name: 'nonzero' });
  else if (x.dtype === 'int64') {
    const zero = net.constant([0], 'int64', new Array<number>(x.rank).fill(1));
    const isZero = layer1(net, { kind: 'elementwise', op: 'equal', inputs: [x.id, zero.id], name: 'nonzero' });
    t = layer1(net, { kind: 'unary', op: 'not', inputs: [isZero.id], name: 'nonzero' });
  }
  return layer1(net, { kind: 'nonzero', inputs: [t.id], name: 'nonzero' });
}
