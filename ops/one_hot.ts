/** one_hot(indices, num_classes, dtype): indices compared for equality against an arange. */
import type { DType } from '../dsl/dtype.js';
import { DTYPES, INDEX_DTYPES, isDType, isPackedQuant } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { dimParts, type DimPart, dimsParam, reshapeTo } from './dims.js';
import { type Check, declareOp, describe, layer1 } from './op.js';

const decl = declareOp('one_hot', {
  indices: { dtypes: INDEX_DTYPES, rank: [0, 7] },
  num_classes: { dtypes: INDEX_DTYPES, rank: [0, 1] },
});

/**
 * Shape indices.shape ++ [num_classes]: 1 where the last coordinate equals the index, else 0.
 * An index outside 0..num_classes-1 gives a row of zeros. `num_classes` may be a 0-D int tensor.
 */
export function one_hot(indices: Tensor, num_classes: number | Tensor, dtype: DType = 'int64'): Tensor {
  const { c, indices: idx } = decl.validate({ indices });
  const check: Check = c;
  // 1. num_classes is an integer >= 1, or a 0-D / 1-element int tensor.
  let classes: DimPart;
  if (typeof num_classes === 'number') classes = c.int('num_classes', num_classes, 1);
  else {
    if (!(num_classes instanceof Tensor)) check.fail('num_classes', `must be a number or a Tensor, got ${describe(num_classes)}`);
    classes = c.operand('num_classes', num_classes, decl.operands.num_classes);
    if (classes.rank === 1 && classes.size(0) !== 1) check.fail('num_classes', `has shape ${shapeToString(classes.shape)}; expected a 0-D or 1-element tensor`);
  }
  // 2. dtype is a dtype.
  if (!isDType(dtype) || isPackedQuant(dtype)) check.fail('dtype', `is ${describe(dtype)}; expected one of ${DTYPES.filter((d) => !isPackedQuant(d)).join(', ')}`);
  const net = idx.net;
  // [1, ..., 1, C] of 0..C-1 against [..., 1] of the indices: equal broadcasts to [..., C].
  const dims = dimsParam(net, [classes]);
  const range = layer1(net, { kind: 'fill', inputs: dims.ids, dims: dims.param, dtype: idx.dtype, alpha: 0, beta: 1, name: 'one_hot' });
  const row = reshapeTo(range, [...new Array<number>(idx.rank).fill(1), classes], 'one_hot');
  const col = reshapeTo(idx, [...dimParts(idx), 1], 'one_hot');
  const hot = layer1(net, { kind: 'elementwise', op: 'equal', inputs: [col.id, row.id], name: 'one_hot' });
  return dtype === 'bool' ? hot : layer1(net, { kind: 'cast', inputs: [hot.id], dtype, name: 'one_hot' });
}
