/** cast(input, dtype): ICastLayer; casting to the input's own dtype returns it (as TensorRT-LLM). */
import type { DType } from '../dsl/dtype.js';
import { DTYPES, isDType } from '../dsl/dtype.js';
import { Tensor } from '../dsl/network.js';
import { declareOp, describe, layer1 } from './op.js';

const decl = declareOp('cast', { input: {} });

/** Converts `input` to `dtype` (floats to ints truncate toward zero; non-zero to bool is true). */
export function cast(input: Tensor, dtype: DType): Tensor {
  const { c, input: x } = decl.validate({ input });
  // 1. dtype is a dtype.
  if (!isDType(dtype)) c.fail('dtype', `is ${describe(dtype)}; expected one of ${DTYPES.join(', ')}`);
  if (x.dtype === dtype) return x;
  return layer1(x.net, { kind: 'cast', inputs: [x.id], dtype, name: 'cast' });
}
