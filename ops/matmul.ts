/** matmul and linear (IMatrixMultiplyLayer). */
import { FLOAT_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import type { Tensor } from '../dsl/network.js';
import { prependOnes } from './broadcast.js';
import { add } from './elementwise.js';
import { declareOp, layer1, type Check } from './op.js';
import { broadcastShapes } from '../dsl/infer.js';

const decl = declareOp('matmul', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] }, mat2: { dtypes: FLOAT_DTYPES, rank: [1, 8] } });

/**
 * input @ mat2 with batch broadcasting (ranks aligned by prepending unit dims); 1-D operands
 * are vectors. `transa`/`transb` transpose the last two dims of an operand.
 */
export function matmul(input: Tensor, mat2: Tensor, transa = false, transb = false): Tensor {
  const v = decl.validate({ input, mat2 });
  const c: Check = v.c;
  let a = v.input;
  let b = v.mat2;
  // 1. Same dtype.
  c.sameDtype('input', a, 'mat2', b);
  const opA = a.rank === 1 ? 'vector' : transa ? 'transpose' : 'none';
  const opB = b.rank === 1 ? 'vector' : transb ? 'transpose' : 'none';
  // 2. Contracted dims agree.
  const ka = opA === 'vector' ? a.size(-1) : opA === 'transpose' ? a.size(-2) : a.size(-1);
  const kb = opB === 'vector' ? b.size(-1) : opB === 'transpose' ? b.size(-1) : b.size(-2);
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb)
    c.fail(undefined, `contracted dims differ: 'input' ${shapeToString(a.shape)}${transa ? ' (transposed)' : ''} has ${ka}, 'mat2' ${shapeToString(b.shape)}${transb ? ' (transposed)' : ''} has ${kb}`);
  // 3. Batch dims broadcast (ranks aligned first).
  const ma = opA === 'vector' ? 1 : 2;
  const mb = opB === 'vector' ? 1 : 2;
  const batch = Math.max(a.rank - ma, b.rank - mb);
  a = prependOnes(a, batch - (a.rank - ma));
  b = prependOnes(b, batch - (b.rank - mb));
  if (!broadcastShapes(a.shape.slice(0, batch), b.shape.slice(0, batch)))
    c.fail(undefined, `batch dims of 'input' ${shapeToString(v.input.shape)} and 'mat2' ${shapeToString(v.mat2.shape)} do not broadcast`);
  return layer1(a.net, { kind: 'matmul', inputs: [a.id, b.id], opA, opB, name: 'matmul' });
}

const linDecl = declareOp('linear', { input: { dtypes: FLOAT_DTYPES, rank: [1, 8] }, weight: { dtypes: FLOAT_DTYPES, rank: 2 }, bias: { dtypes: FLOAT_DTYPES, rank: 1 } });

/** input @ weight^T + bias, with PyTorch's weight layout [out_features, in_features]. */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const { c, input: x, weight: w, bias: b } = linDecl.validate({ input, weight, bias });
  const check: Check = c;
  const inF = x.size(-1);
  if (typeof inF === 'number' && typeof w.size(1) === 'number' && inF !== w.size(1))
    check.fail('weight', `has shape ${shapeToString(w.shape)} ([out, in]); its in_features ${String(w.size(1))} differ from the last dim of 'input' ${shapeToString(x.shape)}`);
  if (b && typeof b.size(0) === 'number' && typeof w.size(0) === 'number' && b.size(0) !== w.size(0))
    check.fail('bias', `has shape ${shapeToString(b.shape)}; expected [${String(w.size(0))}] (out_features)`);
  const y = matmul(x, w, false, true);
  return b ? add(y, b) : y;
}
