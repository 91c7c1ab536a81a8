/**
 * Collectives across tensor-parallel ranks (IDistCollectiveLayer, TensorRT 10.16+):
 *
 * | op | output |
 * |---|---|
 * | all_reduce(x, { op, group }) | the group's inputs combined elementwise (sum or max), same shape |
 * | all_gather(x, { axis, group }) | the group's inputs concatenated along `axis` in group order |
 * | broadcast(x, { root, group }) | the input of group rank `root` (an index into `group`) |
 *
 * Every rank's graph must hold the same collectives in the same order with the same shapes
 * (NCCL's rule); the rank is the network's (`net.rank`) unless `rank` is given. The layer
 * itself gathers along axis 0 only (NCCL's layout): another axis is a permute to the front,
 * the gather, and the permute back.
 */
import { FLOAT_DTYPES, INDEX_DTYPES } from '../dsl/dtype.js';
import type { Tensor } from '../dsl/network.js';
import { type Check, declareOp, describe, layer1 } from './op.js';
import { permute } from './permute.js';

/** dtypes NCCL reduces and TensorRT's DistCollective accepts. */
const COLLECTIVE_DTYPES = [...FLOAT_DTYPES, ...INDEX_DTYPES];

export interface GroupOptions {
  /** Participating ranks (communicator ids), in group order. */
  group: readonly number[];
  /** This graph's rank; default: the network's `rank`. */
  rank?: number;
}

export interface AllReduceOptions extends GroupOptions {
  op?: 'sum' | 'max';
}
export interface AllGatherOptions extends GroupOptions {
  /** Axis to concatenate along (default 0; negatives count from the end). */
  axis?: number;
}
export interface BroadcastOptions extends GroupOptions {
  /** Group rank (index into `group`) whose input every rank receives (default 0). */
  root?: number;
}

/** Checks the group and the rank (steps shared by every collective); returns them. */
function groupAndRank(c: Check, x: Tensor, opts: GroupOptions | undefined): { group: number[]; rank: number } {
  if (!opts || typeof opts !== 'object') c.fail('options', `must be an object with a 'group' of ranks, got ${describe(opts)}`);
  // a. group is a non-empty array of distinct non-negative integers.
  const g = opts.group;
  if (!Array.isArray(g) || g.length === 0) c.fail('group', `must be a non-empty array of ranks, got ${describe(g)}`, 'pass every participating rank, e.g. { group: [0, 1] }');
  g.forEach((r, i) => c.int(`group[${i}]`, r, 0));
  if (new Set(g).size !== g.length) c.fail('group', `[${g.join(', ')}] names a rank twice`);
  // b. this graph's rank is known and in the group.
  const rank = opts.rank ?? x.net.rank;
  if (rank === undefined)
    c.fail('rank', `is not known: the network '${x.net.name}' has no rank`, 'set net.rank = R while building rank R\'s graph, or pass { rank: R }');
  c.int('rank', rank, 0);
  if (!g.includes(rank)) c.fail('rank', `is ${rank}, not in group [${g.join(', ')}]`, 'a rank only runs collectives of groups it belongs to');
  return { group: [...g], rank };
}

const reduceDecl = declareOp('all_reduce', { x: { dtypes: COLLECTIVE_DTYPES, rank: [0, 8] } });

/** The group's tensors combined elementwise (`op`: sum, the default, or max). */
export function all_reduce(x: Tensor, opts: AllReduceOptions): Tensor {
  const { c, x: t } = reduceDecl.validate({ x });
  // 1. group and rank (see groupAndRank).
  const { group, rank } = groupAndRank(c, t, opts);
  // 2. op is sum or max.
  const op = opts.op ?? 'sum';
  if (op !== 'sum' && op !== 'max') c.fail('op', `is ${describe(op)}; expected 'sum' or 'max'`);
  return layer1(t.net, { kind: 'collective', op: 'all_reduce', reduce: op, root: 0, group, rank, inputs: [t.id], name: 'all_reduce' });
}

const gatherDecl = declareOp('all_gather', { x: { dtypes: COLLECTIVE_DTYPES, rank: [1, 8] } });

/** The group's tensors concatenated along `axis` in group order (every rank's has the same shape). */
export function all_gather(x: Tensor, opts: AllGatherOptions): Tensor {
  const { c, x: t } = gatherDecl.validate({ x });
  // 1. group and rank.
  const { group, rank } = groupAndRank(c, t, opts);
  // 2. axis is an axis of x.
  const axis = c.axis('axis', opts.axis ?? 0, t.rank);
  const gather0 = (v: Tensor) => layer1(v.net, { kind: 'collective', op: 'all_gather', reduce: 'none', root: 0, group, rank, inputs: [v.id], name: 'all_gather' });
  if (axis === 0) return gather0(t);
  // The layer concatenates along axis 0: bring `axis` to the front and put it back after.
  const front = [axis, ...t.shape.map((_, i) => i).filter((i) => i !== axis)];
  const back = t.shape.map((_, i) => (i < axis ? i + 1 : i === axis ? 0 : i));
  return permute(gather0(permute(t, front)), back);
}

const broadcastDecl = declareOp('broadcast', { x: { dtypes: COLLECTIVE_DTYPES, rank: [0, 8] } });

/** Group rank `root`'s tensor on every rank of the group. */
export function broadcast(x: Tensor, opts: BroadcastOptions): Tensor {
  const { c, x: t } = broadcastDecl.validate({ x });
  // 1. group and rank.
  const { group, rank } = groupAndRank(c, t, opts);
  // 2. root is a group rank.
  const root = c.int('root', opts.root ?? 0, 0, group.length - 1);
  return layer1(t.net, { kind: 'collective', op: 'broadcast', reduce: 'none', root, group, rank, inputs: [t.id], name: 'broadcast' });
}
