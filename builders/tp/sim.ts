/**
 * The multi-rank simulator: runs the N rank graphs of a tensor-parallel build on the CPU
 * interpreter in lockstep. Each rank runs until its next collective; once every member of that
 * collective's group is waiting on it, the simulator exchanges the data as NCCL would
 * (all_reduce folds the inputs in group order, all_gather concatenates them along axis 0 in group
 * order, broadcast copies the root's) and resumes them. Ranks whose collectives disagree (another
 * op, group, shape or dtype: a deadlock or a corrupt exchange on a GPU) are refused naming both.
 */
import { RedraftError } from '../../dsl/errors.js';
import type { HostTensor } from '../../dsl/host.js';
import type { CollectiveLayer, Graph } from '../../dsl/ir.js';
import { allocate, dtypeSize, getNumber, setNumber } from '../../dsl/dtype.js';
import { graphSteps, type CollectiveRequest } from '../interp/index.js';

/** A mismatch between ranks (different collectives, groups or shapes, or a rank that never joins). */
export class CollectiveMismatchError extends RedraftError {
  constructor(message: string) {
    super(message, { exitCode: 4, hint: 'every rank graph must hold the same collectives in the same order with the same shapes: rebuild all ranks from one build (`redraft build --tp N`)' });
  }
}

/** Bytes one rank sent through collectives during a run, by op. */
export interface CollectiveStats {
  calls: number;
  /** Sum over collectives of this rank's input bytes (what NCCL moves per rank, before the algorithm's factor). */
  bytes: number;
  byOp: Record<CollectiveLayer['op'], { calls: number; bytes: number }>;
}

const emptyStats = (): CollectiveStats => ({ calls: 0, bytes: 0, byOp: { all_reduce: { calls: 0, bytes: 0 }, all_gather: { calls: 0, bytes: 0 }, broadcast: { calls: 0, bytes: 0 } } });

const describe = (r: CollectiveRequest) => `'${r.layer.name}' (${r.layer.op}${r.layer.reduce !== 'none' ? `/${r.layer.reduce}` : ''} over [${r.layer.group.join(', ')}], ${r.input.dtype}[${r.input.shape.join(', ')}])`;

/** The reduction of `inputs` (same dtype and shape) folded in group order, each partial result rounded to the dtype. */
function reduce(op: 'sum' | 'max', inputs: HostTensor[]): HostTensor {
  const { dtype, shape } = inputs[0];
  const n = inputs[0].data.length;
  const out = allocate(dtype, n);
  if (dtype === 'int64') {
    const o = out as BigInt64Array;
    o.set(inputs[0].data as BigInt64Array);
    for (const t of inputs.slice(1)) {
      const d = t.data as BigInt64Array;
      for (let i = 0; i < n; i++) o[i] = op === 'sum' ? BigInt.asIntN(64, o[i] + d[i]) : o[i] > d[i] ? o[i] : d[i];
    }
  } else if (dtype === 'int32') {
    const o = out as Int32Array;
    o.set(inputs[0].data as Int32Array);
    for (const t of inputs.slice(1)) {
      const d = t.data as Int32Array;
      for (let i = 0; i < n; i++) o[i] = op === 'sum' ? (o[i] + d[i]) | 0 : Math.max(o[i], d[i]);
    }
  } else {
    // setNumber rounds to the dtype: float32 via the typed array, half types to nearest even.
    for (let i = 0; i < n; i++) setNumber(dtype, out, i, getNumber(dtype, inputs[0].data, i));
    for (const t of inputs.slice(1))
      for (let i = 0; i < n; i++) {
        const a = getNumber(dtype, out, i);
        const b = getNumber(dtype, t.data, i);
        setNumber(dtype, out, i, op === 'sum' ? a + b : a >= b || Number.isNaN(a) ? a : b);
      }
  }
  return { dtype, shape: [...shape], data: out };
}

/** The group's inputs stacked along axis 0 in group order. */
function gather0(inputs: HostTensor[]): HostTensor {
  const { dtype, shape } = inputs[0];
  const n = inputs[0].data.length;
  const out = allocate(dtype, n * inputs.length);
  inputs.forEach((t, k) => (out as Float32Array).set(t.data as Float32Array, k * n));
  return { dtype, shape: [shape[0] * inputs.length, ...shape.slice(1)], data: out };
}

function exchange(layer: CollectiveLayer, inputs: HostTensor[]): HostTensor {
  switch (layer.op) {
    case 'all_reduce':
      if (layer.reduce === 'none') throw new CollectiveMismatchError(`collective '${layer.name}': all_reduce needs a reduction (sum or max), got none`);
      return reduce(layer.reduce, inputs);
    case 'all_gather':
      return gather0(inputs);
    case 'broadcast': {
      const src = inputs[layer.root];
      return { dtype: src.dtype, shape: [...src.shape], data: src.data.slice() as typeof src.data };
    }
  }
}

/** One rank's run: its graph and inputs. Ranks are communicator ids 0..N-1 (graphs[r] is rank r). */
export interface RankRun {
  graph: Graph;
  inputs: Record<string, HostTensor>;
}

/** Runs every rank's graph in lockstep; returns each rank's outputs and collective traffic, by rank. */
export function runRanks(ranks: readonly RankRun[], opts: { outputs?: string[] } = {}): { outputs: Record<string, HostTensor>[]; stats: CollectiveStats[] } {
  const N = ranks.length;
  const gens = ranks.map((r) => graphSteps(r.graph, r.inputs, opts));
  const outputs: (Record<string, HostTensor> | undefined)[] = new Array(N);
  const pending: (CollectiveRequest | undefined)[] = new Array(N);
  const stats = ranks.map(emptyStats);
  const advance = (r: number, value?: HostTensor) => {
    const res = value === undefined ? gens[r].next() : gens[r].next(value);
    if (res.done) {
      outputs[r] = res.value;
      pending[r] = undefined;
    } else pending[r] = res.value;
  };
  for (let r = 0; r < N; r++) advance(r);
  for (;;) {
    const waiting = pending.map((p, r) => (p ? r : -1)).filter((r) => r >= 0);
    if (waiting.length === 0) break;
    let progressed = false;
    for (const r of waiting) {
      const req = pending[r];
      if (!req) continue; // resumed earlier in this round
      const { layer } = req;
      if (layer.rank !== r) throw new CollectiveMismatchError(`rank ${r}'s graph '${ranks[r].graph.name}' records its collective ${describe(req)} as rank ${layer.rank}`);
      for (const m of layer.group)
        if (m >= N) throw new CollectiveMismatchError(`rank ${r}'s collective ${describe(req)} names rank ${m}, but only ${N} rank graphs run`);
      const members = layer.group.map((m) => pending[m]);
      if (members.some((p) => !p)) {
        const done = layer.group.find((m) => outputs[m]);
        if (done !== undefined) throw new CollectiveMismatchError(`rank ${r} waits in ${describe(req)}, but rank ${done} finished its graph without joining it`);
        continue; // a member is still running toward it
      }
      // Every member is waiting on a collective: it must be this one.
      for (const m of layer.group) {
        const o = members[layer.group.indexOf(m)]!;
        const same = o.layer.op === layer.op && o.layer.reduce === layer.reduce && o.layer.root === layer.root && o.layer.group.join() === layer.group.join();
        if (!same || o.input.dtype !== req.input.dtype || o.input.shape.join() !== req.input.shape.join())
          throw new CollectiveMismatchError(`rank ${r} is in ${describe(req)} while rank ${m} is in ${describe(o)}`);
      }
      const result = exchange(layer, members.map((p) => p!.input));
      for (const m of layer.group) {
        const s = stats[m];
        const bytes = req.input.data.length * dtypeSize(req.input.dtype);
        s.calls++;
        s.bytes += bytes;
        s.byOp[layer.op].calls++;
        s.byOp[layer.op].bytes += bytes;
        // Each rank gets its own copy: a later in-place consumer must not see a peer's writes.
        advance(m, m === layer.group[0] ? result : { ...result, data: result.data.slice() as typeof result.data });
      }
      progressed = true;
    }
    if (!progressed) {
      const w = waiting.filter((r) => pending[r]).map((r) => `rank ${r} in ${describe(pending[r]!)}`);
      throw new CollectiveMismatchError(`the ranks deadlock: ${w.join('; ')}`);
    }
  }
  return { outputs: outputs as Record<string, HostTensor>[], stats };
}
