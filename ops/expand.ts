/**
 * expand(input, expand_shape): broadcasts dims of size 1, lowered like TensorRT-LLM's
 * `expand` to a slice with stride 0 in the broadcast dims.
 */
import type { Dim } from '../dsl/dim.js';
import { dimEq, dimToString, shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { prependOnes } from './broadcast.js';
import { checkParts, dimParts, type DimPart, partScalar, partValues, sliceLayer } from './dims.js';
import { type Check, declareOp, layer1 } from './op.js';

const decl = declareOp('expand', { input: { rank: [0, 8] } });

/**
 * Broadcasts `input` to `expand_shape` (an int 1-D tensor, or numbers and 0-D int tensors;
 * -1 keeps a dim). A longer shape prepends dims, as torch's expand.
 */
export function expand(input: Tensor, expand_shape: Tensor | readonly (number | Tensor)[]): Tensor {
  const { c, input: x0 } = decl.validate({ input });
  const check: Check = c;
  // 1. expand_shape has at least rank(input) entries (as a tensor: a static length).
  let n: number;
  if (expand_shape instanceof Tensor) {
    const t = c.operand('expand_shape', expand_shape, { dtypes: ['int32', 'int64'], rank: 1 });
    const len = t.size(0);
    if (typeof len !== 'number') check.fail('expand_shape', `must have a static length, got shape ${shapeToString(t.shape)}`);
    n = len;
  } else n = Array.isArray(expand_shape) ? expand_shape.length : x0.rank;
  if (n < x0.rank) check.fail('expand_shape', `has ${n} entries, fewer than the ${x0.rank} dims of input ${shapeToString(x0.shape)}`);
  const x = prependOnes(x0, n - x0.rank);
  const target = checkParts(c, 'expand_shape', expand_shape, n, 'shape');
  // 2. -1 keeps the input dim (array form only; in the leading new dims it has nothing to keep).
  const have = dimParts(x);
  let parts: DimPart[] | Tensor = target;
  if (!(target instanceof Tensor)) {
    parts = target.map((p, i) => {
      if (p !== -1) return p;
      if (i < n - x0.rank) check.fail('expand_shape', `has -1 at position ${i}, a new leading dim; -1 may only keep an existing dim`);
      return have[i];
    });
    parts.forEach((p, i) => {
      if (typeof p === 'number' && p < 0) check.fail('expand_shape', `has ${p} at position ${i}; dims are >= 0 (or -1 to keep the dim)`);
    });
  }
  // 3. Each input dim is 1 or equals the target dim (where both are known).
  const want = partValues(parts, n);
  x.shape.forEach((d, i) => {
    const w = want[i];
    if (d === 1 || w === undefined || dimEq(d, w)) return;
    if (typeof d === 'number' && typeof w === 'number')
      check.fail('expand_shape', `asks for ${dimToString(w)} in dim ${i}, but input ${shapeToString(x0.shape)} has ${d} there (only dims of size 1 expand)`);
  });
  // Stride 0 repeats the single element of a size-1 dim; 1 walks a dim that is kept. A
  // symbolic dim that may or may not be 1 gets min(dim - 1, 1) at run time.
  const strides: DimPart[] = x.shape.map((d: Dim, i) => {
    if (typeof d === 'number') return d === 1 ? 0 : 1;
    if (want[i] !== undefined && dimEq(d, want[i]!)) return 1;
    const len = partScalar(x.net, have[i]);
    const one = x.net.constant([1], 'int64', []);
    const less = layer1(x.net, { kind: 'elementwise', op: 'sub', inputs: [len.id, one.id] });
    return layer1(x.net, { kind: 'elementwise', op: 'min', inputs: [less.id, one.id] });
  });
  return sliceLayer(x, new Array<number>(n).fill(0), parts, strides, 'expand');
}
