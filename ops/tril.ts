/**
 * Triangular masks from arange comparisons (row index i, column index j, diagonal d):
 *
 * | op | keeps / true where |
 * |---|---|
 * | tril(input, d) | j - i <= d, zero elsewhere, over the last two dims |
 * | triu(input, d) | j - i >= d, zero elsewhere, over the last two dims |
 * | tril_mask(rows, cols, d) | j - i <= d, a bool [rows, cols] |
 */
import { INDEX_DTYPES } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import type { Network } from '../dsl/network.js';
import { Tensor } from '../dsl/network.js';
import { broadcastOperands } from './broadcast.js';
import { dimParts, type DimPart, dimsParam, reshapeTo } from './dims.js';
import { Check, declareOp, describe, layer1, netOf } from './op.js';

/** rows/cols: an integer >= 0 or a 0-D / 1-element int tensor. */
function sizeArg(c: Check, arg: string, v: unknown): DimPart {
  if (typeof v === 'number') return c.int(arg, v, 0);
  if (!(v instanceof Tensor)) return c.fail(arg, `must be a number or a Tensor, got ${describe(v)}`);
  const t = c.operand(arg, v, { dtypes: INDEX_DTYPES, rank: [0, 1] });
  if (t.rank === 1 && t.size(0) !== 1) c.fail(arg, `has shape ${shapeToString(t.shape)}; expected a 0-D or 1-element tensor`);
  return t;
}

/** 0..n-1 (int64) as a 'row' index [n, 1] or a 'col' index [1, n]. */
function indexGrid(net: Network, n: DimPart, along: 'row' | 'col'): Tensor {
  const d = dimsParam(net, [n]);
  const r = layer1(net, { kind: 'fill', inputs: d.ids, dims: d.param, dtype: 'int64', alpha: 0, beta: 1, name: 'arange' });
  return reshapeTo(r, along === 'row' ? [n, 1] : [1, n], 'tril_mask');
}

/** bool [rows, cols]: lower (j - i <= d) or upper (j - i >= d) triangle. */
function triMask(net: Network, rows: DimPart, cols: DimPart, diagonal: number, upper: boolean): Tensor {
  const i = indexGrid(net, rows, 'row');
  const j = indexGrid(net, cols, 'col');
  // Integers: j <= i + d  ⇔  j < i + d + 1;  j >= i + d  ⇔  i + d - 1 < j.
  const off = net.constant([upper ? diagonal - 1 : diagonal + 1], 'int64', [1, 1]);
  const shifted = layer1(net, { kind: 'elementwise', op: 'sum', inputs: [i.id, off.id] });
  const [a, b] = upper ? [shifted, j] : [j, shifted];
  return layer1(net, { kind: 'elementwise', op: 'less', inputs: [a.id, b.id], name: upper ? 'triu_mask' : 'tril_mask' });
}

/** True on and below diagonal `diagonal` (j - i <= diagonal) of a [rows, cols] grid; cols defaults to rows. */
export function tril_mask(rows: number | Tensor, cols?: number | Tensor, diagonal = 0): Tensor {
  const c: Check = new Check('tril_mask');
  // 1. rows and cols are sizes; diagonal is an integer.
  const r = sizeArg(c, 'rows', rows);
  const k = cols === undefined ? r : sizeArg(c, 'cols', cols);
  c.int('diagonal', diagonal);
  return triMask(netOf(rows, cols), r, k, diagonal, false);
}

function triangle(name: 'tril' | 'triu', input: Tensor, diagonal: number): Tensor {
  const { c, input: x } = declareOp(name, { input: { rank: [2, 8] } }).validate({ input });
  // 1. diagonal is an integer.
  c.int('diagonal', diagonal);
  const parts = dimParts(x);
  const mask = triMask(x.net, parts[x.rank - 2], parts[x.rank - 1], diagonal, name === 'triu');
  const zero = x.net.constant([0], x.dtype, []);
  const [m, a, z] = broadcastOperands(c, [['mask', mask], ['input', x], ['zero', zero]]);
  return layer1(x.net, { kind: 'select', inputs: [m.id, a.id, z.id], name });
}

/** input with elements above diagonal `diagonal` zeroed (torch.tril), over the last two dims. */
export function tril(input: Tensor, diagonal = 0): Tensor {
  return triangle('tril', input, diagonal);
}

/** input with elements below diagonal `diagonal` zeroed (torch.triu), over the last two dims. */
export function triu(input: Tensor, diagonal = 0): Tensor {
  return triangle('triu', input, diagonal);
}
