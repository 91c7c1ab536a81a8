/** concat(inputs, dim): joins tensors; numbers and 0-D tensors become 1-element pieces (shape building). */
import { Tensor } from '../dsl/network.js';
import { shapeToString } from '../dsl/dim.js';
import { Check, describe, layer1, netOf } from './op.js';

export function concat(inputs: readonly (Tensor | number)[], dim = 0): Tensor {
  const c: Check = new Check('concat');
  // 1. inputs is a non-empty array of tensors or numbers.
  if (!Array.isArray(inputs) || inputs.length === 0) c.fail('inputs', `must be a non-empty array, got ${describe(inputs)}`);
  const net = netOf(inputs);
  const firstT = inputs.find((x) => x instanceof Tensor) as Tensor | undefined;
  // 2. Numbers join int shape tensors: they take the dtype of the first tensor (int64 default).
  const intDtype = firstT && (firstT.dtype === 'int32' || firstT.dtype === 'int64') ? firstT.dtype : 'int64';
  const ts = inputs.map((x, i) => {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) c.fail(`inputs[${i}]`, `is ${x}; numbers in concat are shape values and must be integers`);
      return net.constant([x], intDtype, [1]);
    }
    const t = c.operand(`inputs[${i}]`, x);
    // 3. 0-D tensors (shape(x, d)) become 1-element 1-D tensors.
    return t.rank === 0 ? layer1(net, { kind: 'shuffle', inputs: [t.id], reshape: [1], zeroIsPlaceholder: false }) : t;
  });
  const t0 = ts[0];
  const axis = c.axis('dim', dim, t0.rank);
  // 4. Same dtype and rank everywhere; dims other than `dim` agree.
  ts.forEach((t, i) => {
    if (t.dtype !== t0.dtype) c.fail(`inputs[${i}]`, `has dtype ${t.dtype}, but inputs[0] has ${t0.dtype}`, 'cast the inputs to one dtype');
    if (t.rank !== t0.rank) c.fail(`inputs[${i}]`, `has rank ${t.rank} (${shapeToString(t.shape)}), but inputs[0] has rank ${t0.rank} (${shapeToString(t0.shape)})`);
    t.shape.forEach((d, k) => {
      const e = t0.shape[k];
      if (k !== axis && typeof d === 'number' && typeof e === 'number' && d !== e)
        c.fail(`inputs[${i}]`, `has shape ${shapeToString(t.shape)}, which differs from inputs[0] ${shapeToString(t0.shape)} in dim ${k} (only dim ${axis} may differ)`);
    });
  });
  if (ts.length === 1) return t0;
  return layer1(net, { kind: 'concatenation', inputs: ts.map((t) => t.id), axis });
}
