/** shape(input, dim?): the run-time shape as an int64 tensor, values tracked at build time. */
import { Tensor } from '../dsl/network.js';
import { declareOp, layer1 } from './op.js';

const decl = declareOp('shape', { input: {} });

/** 1-D int64 shape of `input`; with `dim`, that one dim as a 0-D int64 tensor. */
export function shape(input: Tensor, dim?: number): Tensor {
  const { c, input: x } = decl.validate({ input });
  const s = layer1(x.net, { kind: 'shape', inputs: [x.id] });
  if (dim === undefined) return s;
  const d = c.axis('dim', dim, x.rank);
  const idx = x.net.constant([d], 'int32', []);
  return layer1(x.net, { kind: 'gather', inputs: [s.id, idx.id], mode: 'default', axis: 0, nbElementWiseDims: 0 });
}
