/** Rank alignment for elementwise ops, as TensorRT-LLM's `expand_dims_like`. */
import { shapeToString } from '../dsl/dim.js';
import { broadcastShapes } from '../dsl/infer.js';
import { Tensor } from '../dsl/network.js';
import { Check, layer1 } from './op.js';

/** Prepends `k` unit dims to `x` (a static reshape when possible, else via shape arithmetic). */
export function prependOnes(x: Tensor, k: number): Tensor {
  if (k === 0) return x;
  const net = x.net;
  if (x.shape.every((d) => typeof d === 'number')) {
    return layer1(net, { kind: 'shuffle', inputs: [x.id], reshape: [...Array(k).fill(1), ...(x.shape as number[])], zeroIsPlaceholder: false, name: 'unsqueeze' });
  }
  const ones = net.constant(new Array(k).fill(1), 'int64', [k]);
  const s = layer1(net, { kind: 'shape', inputs: [x.id] });
  const target = layer1(net, { kind: 'concatenation', inputs: [ones.id, s.id], axis: 0 });
  return layer1(net, { kind: 'shuffle', inputs: [x.id, target.id], reshape: { tensor: target.id }, zeroIsPlaceholder: false, name: 'unsqueeze' });
}

/** Aligns ranks of the operands and checks that their shapes broadcast (numpy rules). */
export function broadcastOperands(c: Check, args: [string, Tensor][]): Tensor[] {
  const rank = Math.max(...args.map(([, t]) => t.rank));
  const ts = args.map(([, t]) => prependOnes(t, rank - t.rank));
  let acc = ts[0].shape;
  for (let i = 1; i < ts.length; i++) {
    const r = broadcastShapes(acc, ts[i].shape);
    if (!r)
      c.fail(undefined, `arguments ${args.map(([n, t]) => `'${n}' ${shapeToString(t.shape)}`).join(' and ')} do not broadcast (each dim must be equal or 1)`);
    acc = r;
  }
  return ts;
}
