/** cast(input, dtype): ICastLayer; casting to the input's own dtype returns it (as TensorRT-LLM). */
import type { DType } from '../dsl/dtype.js';
import { DTYPES, getNumber, isDType, isFloat, isPackedQuant, lowestFinite, setNumber } from '../dsl/dtype.js';
import { Tensor } from '../dsl/network.js';
import { declareOp, describe, layer1 } from './op.js';

const decl = declareOp('cast', { input: {} });

/** Converts `input` to `dtype` (floats to ints truncate toward zero; non-zero to bool is true). */
export function cast(input: Tensor, dtype: DType): Tensor {
  const { c, input: x } = decl.validate({ input });
  // 1. dtype is a dtype.
  if (!isDType(dtype)) c.fail('dtype', `is ${describe(dtype)}; expected one of ${DTYPES.join(', ')}`);
  // 1b. int4 and fp8 are quantized storage: a value gets there through a scale.
  if (isPackedQuant(dtype)) c.fail('dtype', `is ${dtype}, a quantized type`, `use quantize(input, scale, { dtype: '${dtype}' })`);
  if (x.dtype === dtype) return x;
  // 2. A constant cast to a half type stays finite: float32's lowest (-3.4e38) would become
  //    -inf, and a mask of -inf turns a fully masked softmax into NaN (README: precision contract).
  if ((dtype === 'float16' || dtype === 'bfloat16') && isFloat(x.dtype)) {
    const p = x.net.producer(x.id);
    if (p?.kind === 'constant' && !p.weights.lazy) {
      const d = p.weights.data;
      const limit = -lowestFinite(dtype);
      const bits = new Uint16Array(1);
      for (let i = 0; i < d.length; i++) {
        const v = getNumber(p.weights.dtype, d, i);
        if (!Number.isFinite(v)) continue;
        setNumber(dtype, bits, 0, v);
        if (!Number.isFinite(getNumber(dtype, bits, 0)))
          c.fail('input', `is a constant holding ${v}, outside the finite range of ${dtype} (±${limit}): the cast would make it ${v < 0 ? '-' : ''}inf`, `use lowestFinite('${dtype}') (from redraft/dsl) for a mask value, or keep this computation in ${x.dtype}`);
      }
    }
  }
  return layer1(x.net, { kind: 'cast', inputs: [x.id], dtype, name: 'cast' });
}
