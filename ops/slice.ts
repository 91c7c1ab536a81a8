/** slice(input, starts, sizes, strides, mode, fill_value): TensorRT ISliceLayer. */
import type { SliceMode } from '../dsl/ir.js';
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { checkParts, type DimPart, partValues, sliceLayer } from './dims.js';
import { type Check, declareOp, describe } from './op.js';

const decl = declareOp('slice', { input: { rank: [1, 8] } });
const MODES: readonly SliceMode[] = ['strict', 'wrap', 'clamp', 'fill'];

/**
 * output[i] = input[starts + i * strides] per dim, of shape `sizes`. Each of starts / sizes /
 * strides is an int 1-D tensor with one entry per dim, or an array of numbers and 0-D (or
 * 1-element) int tensors; all-number arrays stay static. `mode` says what out-of-bounds
 * coordinates do: 'strict' (error), 'wrap', 'clamp', or 'fill' with `fill_value` (default 0).
 */
export function slice(
  input: Tensor,
  starts: Tensor | readonly (number | Tensor)[],
  sizes: Tensor | readonly (number | Tensor)[],
  strides?: Tensor | readonly (number | Tensor)[],
  mode: SliceMode = 'strict',
  fill_value?: number,
): Tensor {
  const { c, input: x } = decl.validate({ input });
  const check: Check = c;
  const n = x.rank;
  // 1. starts / sizes / strides have one int entry per dim.
  const st = checkParts(c, 'starts', starts, n, 'shape');
  const sz = checkParts(c, 'sizes', sizes, n, 'shape');
  const sd: DimPart[] | Tensor = strides === undefined ? new Array<number>(n).fill(1) : checkParts(c, 'strides', strides, n, 'shape');
  // 2. mode is a slice mode; fill_value goes with mode 'fill' only.
  if (!MODES.includes(mode)) check.fail('mode', `is ${describe(mode)}; expected one of ${MODES.map((m) => `'${m}'`).join(', ')}`);
  if (fill_value !== undefined) {
    if (mode !== 'fill') check.fail('fill_value', `is only used with mode 'fill' (mode is '${mode}')`, "pass mode 'fill'");
    if (typeof fill_value !== 'number' || Number.isNaN(fill_value)) check.fail('fill_value', `must be a number, got ${describe(fill_value)}`);
  }
  // 3. Known sizes are >= 0; in strict mode known coordinates lie inside the input.
  const vs = partValues(st, n);
  const vz = partValues(sz, n);
  const vd = partValues(sd, n);
  for (let i = 0; i < n; i++) {
    const [s, z, d, dim] = [vs[i], vz[i], vd[i], x.size(i)];
    if (typeof z === 'number' && z < 0) check.fail('sizes', `has ${z} in dim ${i}; sizes are >= 0`);
    if (mode !== 'strict' || typeof s !== 'number' || typeof z !== 'number' || typeof d !== 'number' || typeof dim !== 'number' || z === 0) continue;
    const last = s + (z - 1) * d;
    if (s < 0 || s >= dim || last < 0 || last >= dim)
      check.fail('starts', `in dim ${i}: start ${s}, size ${z}, stride ${d} reads indices ${s}..${last}, outside 0..${dim - 1} of input ${shapeToString(x.shape)}`, "use mode 'clamp', 'wrap' or 'fill' to read out of bounds");
  }
  return sliceLayer(x, st, sz, sd, 'slice', mode, fill_value);
}
