/** view(input, shape): reshape with TensorRT's rules (0 copies a dim, -1 is inferred). */
import type { Dim } from '../dsl/dim.js';
import { isStaticShape, shapeToString, volume } from '../dsl/dim.js';
import { reshapeDims } from '../dsl/infer.js';
import { Tensor } from '../dsl/network.js';
import { concat } from './concat.js';
import { declareOp, layer1 } from './op.js';

const decl = declareOp('view', { input: {} });

/**
 * Reshapes `input` to `shape`: an int shape tensor (1-D), or an array of numbers and 0-D/1-D
 * int tensors (e.g. `[shape(x, 0), 4, -1]`). Numbers only → a static reshape.
 */
export function view(input: Tensor, shape: Tensor | readonly (number | Tensor)[], zeroIsPlaceholder = true): Tensor {
  const { c, input: x } = decl.validate({ input });
  if (Array.isArray(shape) && shape.every((d) => typeof d === 'number')) {
    const dims = shape as number[];
    dims.forEach((d, i) => {
      if (!Number.isInteger(d) || d < -1) c.fail('shape', `has ${d} at position ${i}; dims are integers >= -1`);
    });
    // 1. Static reshape: element counts must agree where known.
    const r = reshapeDims(x.shape, dims, zeroIsPlaceholder);
    if (typeof r === 'string') c.fail('shape', `${r} (input ${shapeToString(x.shape)})`);
    return layer1(x.net, { kind: 'shuffle', inputs: [x.id], reshape: dims, zeroIsPlaceholder, name: 'view' });
  }
  const st = shape instanceof Tensor ? shape : concat(shape as (number | Tensor)[]);
  c.operand('shape', st, { dtypes: ['int32', 'int64'], rank: 1 });
  if (typeof st.shape[0] !== 'number') c.fail('shape', `must have a static length, got ${shapeToString(st.shape)}`);
  // 2. Dynamic reshape: when the target's values are known, check the element count.
  if (st.values) {
    const r = reshapeDims(x.shape, st.values, zeroIsPlaceholder);
    if (typeof r === 'string') c.fail('shape', `${r} (input ${shapeToString(x.shape)})`);
    const target = r as Dim[];
    if (isStaticShape(x.shape) && isStaticShape(target) && volume(x.shape) !== volume(target))
      c.fail('shape', `cannot view ${shapeToString(x.shape)} as ${shapeToString(target)}`);
  }
  const s64 = st;
  return layer1(x.net, { kind: 'shuffle', inputs: [x.id, s64.id], reshape: { tensor: s64.id }, zeroIsPlaceholder, name: 'view' });
}
