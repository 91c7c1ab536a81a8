/**
 * Reductions (IReduceLayer): sum, mean, max, min, prod over one dim or several.
 * max/min return values only, like TensorRT-LLM's `max(input, dim, keepdim)`.
 */
import type { DType } from '../dsl/dtype.js';
import { NUMERIC_DTYPES } from '../dsl/dtype.js';
import type { ReduceOp } from '../dsl/ir.js';
import type { Tensor } from '../dsl/network.js';
import { declareOp, layer1, type Check } from './op.js';

function reduction(name: string, op: ReduceOp, dtypes: readonly DType[]) {
  const decl = declareOp(name, { input: { dtypes, rank: [1, 8] } });
  return (input: Tensor, dim: number | readonly number[], keepdim = false): Tensor => {
    const v = decl.validate({ input });
    const c: Check = v.c;
    const x = v.input;
    const dims = typeof dim === 'number' ? [dim] : [...dim];
    if (dims.length === 0) c.fail('dim', 'must name at least one dim');
    const axes = dims.map((d) => c.axis('dim', d, x.rank));
    if (new Set(axes).size !== axes.length) c.fail('dim', `names a dim twice (${JSON.stringify(dim)})`);
    return layer1(x.net, { kind: 'reduce', op, inputs: [x.id], axes: axes.sort((a, b) => a - b), keepDims: keepdim, name });
  };
}

export const sum = reduction('sum', 'sum', NUMERIC_DTYPES);
export const mean = reduction('mean', 'avg', NUMERIC_DTYPES);
export const max = reduction('max', 'max', NUMERIC_DTYPES);
export const min = reduction('min', 'min', NUMERIC_DTYPES);
export const prod = reduction('prod', 'prod', NUMERIC_DTYPES);
