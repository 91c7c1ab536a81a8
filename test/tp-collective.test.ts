/** Collectives: the ops' checks, the IR round trip, the single-graph refusal, and the multi-rank simulator's exchanges. */
import { describe, expect, it } from 'vitest';
import { runGraph, CollectiveOutsideSimulatorError } from '../builders/interp/index.js';
import { CollectiveMismatchError, runRanks } from '../builders/tp/sim.js';
import { runTp } from '../builders/tp/runner.js';
import { exportOnnx } from '../builders/onnx/export.js';
import { sessionForGraph } from '../builders/onnx/env.js';
import { onnx } from '../builders/onnx/proto.js';
import { MissingBackendError } from '../dsl/errors.js';
import { f16ToF32 } from '../dsl/dtype.js';
import { DslError } from '../dsl/errors.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { buildNetwork, Network } from '../dsl/network.js';
import { deserializeGraph, serializeGraph } from '../dsl/serialize.js';
import { add, all_gather, all_reduce, broadcast, mul } from '../ops/index.js';

/** Rank r's graph: sum / max over the group, gather on axis 0 and 1, broadcast from group rank 1. */
function rankGraph(r: number, N: number, dtype: 'float32' | 'float16' = 'float32'): Graph {
  return buildNetwork(`rank${r}`, (net) => {
    net.rank = r;
    const group = Array.from({ length: N }, (_, i) => i);
    const x = net.input('x', dtype, [2, 3]);
    net.markOutput(all_reduce(x, { group }), 'sum');
    net.markOutput(all_reduce(x, { op: 'max', group }), 'max');
    net.markOutput(all_gather(x, { group }), 'gather0');
    net.markOutput(all_gather(x, { axis: -1, group }), 'gather1');
    net.markOutput(broadcast(add(x, 0), { root: 1, group }), 'bcast');
  });
}

const rankInput = (r: number) => hostTensor('float32', [2, 3], [1, 2, 3, 4, 5, 6].map((v) => v * (r + 1) * (r % 2 ? -1 : 1)));

describe('collective ops', () => {
  it('checks the group, the rank, the op, the axis and the root, naming the argument', () => {
    const net = new Network('n');
    const x = net.input('x', 'float32', [2, 3]);
    expect(() => all_reduce(x, { group: [0, 1] })).toThrow(/all_reduce: argument 'rank' is not known: the network 'n' has no rank/);
    net.rank = 2;
    expect(() => all_reduce(x, { group: [0, 1] })).toThrow(/all_reduce: argument 'rank' is 2, not in group \[0, 1\]/);
    expect(() => all_reduce(x, { group: [] })).toThrow(/argument 'group' must be a non-empty array/);
    expect(() => all_reduce(x, { group: [2, 2] })).toThrow(/argument 'group' \[2, 2\] names a rank twice/);
    expect(() => all_reduce(x, { group: [0, 2], op: 'prod' as 'sum' })).toThrow(/argument 'op' is "prod"; expected 'sum' or 'max'/);
    expect(() => all_gather(x, { group: [0, 2], axis: 2 })).toThrow(/all_gather: argument 'axis' is 2, out of range/);
    expect(() => broadcast(x, { group: [0, 2], root: 2 })).toThrow(/broadcast: argument 'root' must be an integer >= 0 <= 1, got number 2/);
    expect(() => all_reduce(net.input('b', 'bool', [2]), { group: [2] })).toThrow(DslError);
    // The rank may come from the argument instead of the network.
    const g = all_gather(x, { group: [0, 1], rank: 1 });
    expect(g.shape).toEqual([4, 3]);
    expect(all_gather(x, { group: [0, 1, 2], axis: 1 }).shape).toEqual([2, 9]);
  });

  it('round-trips through the graph format and is refused by the single-graph interpreter, pointing to the simulator', () => {
    const g = rankGraph(0, 2);
    const back = deserializeGraph(serializeGraph(g));
    const c = back.layers.find((l) => l.kind === 'collective')!;
    expect(c).toMatchObject({ kind: 'collective', op: 'all_reduce', reduce: 'sum', group: [0, 1], rank: 0 });
    expect(serializeGraph(back)).toEqual(serializeGraph(g));
    let err: unknown;
    try {
      runGraph(g, { x: rankInput(0) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollectiveOutsideSimulatorError);
    expect(String((err as Error).message)).toMatch(/holds the collective 'all_reduce' \(all_reduce over ranks \[0, 1\], this graph is rank 0\): a single rank's graph cannot run alone/);
    expect((err as CollectiveOutsideSimulatorError).hint).toMatch(/multi-rank simulator/);
  });
});

describe('collectives in ONNX', () => {
  it('export as com.redraft custom-domain nodes with their attributes, and ONNX Runtime is refused naming the reason', async () => {
    const g = rankGraph(1, 2);
    const m = onnx.ModelProto.decode(exportOnnx(g).model);
    expect(m.opsetImport!.map((o) => o.domain)).toContain('com.redraft');
    const nodes = m.graph!.node!.filter((n) => n.domain === 'com.redraft');
    expect(nodes.map((n) => n.opType)).toEqual(['AllReduce', 'AllReduce', 'AllGather', 'AllGather', 'Broadcast']);
    const attrs = (i: number) => Object.fromEntries(nodes[i].attribute!.map((a) => [a.name, a.ints?.length ? a.ints.map(Number) : a.s?.length ? new TextDecoder().decode(a.s) : Number(a.i)]));
    expect(attrs(0)).toEqual({ group: [0, 1], rank: 1, reduce: 'sum' });
    expect(attrs(1)).toEqual({ group: [0, 1], rank: 1, reduce: 'max' });
    expect(attrs(2)).toEqual({ group: [0, 1], rank: 1 });
    expect(attrs(4)).toEqual({ group: [0, 1], rank: 1, root: 1 });
    // The axis-1 gather is a Transpose around the axis-0 node.
    const types = m.graph!.node!.map((n) => n.opType);
    const at = types.indexOf('AllGather', types.indexOf('AllGather') + 1);
    expect([types[at - 1], types[at + 1]]).toEqual(['Transpose', 'Transpose']);
    // A graph without collectives imports the default domain only.
    const plain = buildNetwork('p', (net) => net.markOutput(mul(net.input('x', 'float32', [2]), 2), 'y'));
    expect(onnx.ModelProto.decode(exportOnnx(plain).model).opsetImport!.map((o) => o.domain)).toEqual(['']);
    await expect(sessionForGraph(g)).rejects.toThrow(MissingBackendError);
    await expect(sessionForGraph(g)).rejects.toThrow(/ONNX Runtime's CPU build cannot run it \(its ONNX form is a com.redraft custom-domain node/);
  });
});

describe('the multi-rank simulator', () => {
  for (const N of [2, 4]) {
    it(`exchanges like NCCL at tp=${N}: sum and max in group order, gather along axis 0 and -1, broadcast`, () => {
      const ins = Array.from({ length: N }, (_, r) => rankInput(r));
      const { outputs, stats } = runRanks(ins.map((x, r) => ({ graph: rankGraph(r, N), inputs: { x } })));
      const vals = ins.map((t) => toNumbers(t) as number[]);
      const sum = vals[0].map((_, i) => vals.reduce((a, v) => a + v[i], 0));
      const max = vals[0].map((_, i) => Math.max(...vals.map((v) => v[i])));
      const g1: number[] = [];
      for (let row = 0; row < 2; row++) for (const v of vals) g1.push(...v.slice(row * 3, row * 3 + 3));
      for (let r = 0; r < N; r++) {
        expect(toNumbers(outputs[r].sum)).toEqual(sum);
        expect(toNumbers(outputs[r].max)).toEqual(max);
        expect(outputs[r].gather0.shape).toEqual([2 * N, 3]);
        expect(toNumbers(outputs[r].gather0)).toEqual(vals.flat());
        expect(outputs[r].gather1.shape).toEqual([2, 3 * N]);
        expect(toNumbers(outputs[r].gather1)).toEqual(g1);
        expect(toNumbers(outputs[r].bcast)).toEqual(vals[1]);
        // Five collectives of 6 float32 each per rank.
        expect(stats[r]).toMatchObject({ calls: 5, bytes: 5 * 24 });
        expect(stats[r].byOp.all_gather).toEqual({ calls: 2, bytes: 48 });
      }
      // Each rank owns its result: writing one does not change a peer's.
      (outputs[0].sum.data as Float32Array)[0] = 1e9;
      expect((outputs[1].sum.data as Float32Array)[0]).toBe(sum[0]);
    });
  }

  it('rounds each partial sum to the dtype, folding in group order (float16)', () => {
    // 2048 + 1 + 1 in float16: (2048 + 1) rounds to 2048 and again: 2048, not 2050.
    const g = (r: number) => buildNetwork(`r${r}`, (net) => {
      net.rank = r;
      net.markOutput(all_reduce(net.input('x', 'float16', [1]), { group: [0, 1, 2] }), 'y');
    });
    const x = (v: number) => hostTensor('float16', [1], [v]);
    const { outputs } = runRanks([0, 1, 2].map((r) => ({ graph: g(r), inputs: { x: x(r === 0 ? 2048 : 1) } })));
    expect(f16ToF32((outputs[2].y.data as Uint16Array)[0])).toBe(2048);
  });

  it('refuses ranks whose collectives disagree, or a rank that never joins', () => {
    const shaped = (r: number, n: number, scale: boolean) => buildNetwork(`r${r}`, (net) => {
      net.rank = r;
      const x = net.input('x', 'float32', [n]);
      net.markOutput(scale ? mul(x, 2) : all_reduce(x, { group: [0, 1] }), 'y');
    });
    const run = (a: Graph, b: Graph, na: number, nb: number) => runRanks([{ graph: a, inputs: { x: hostTensor('float32', [na], Array(na).fill(1)) } }, { graph: b, inputs: { x: hostTensor('float32', [nb], Array(nb).fill(1)) } }]);
    expect(() => run(shaped(0, 2, false), shaped(1, 3, false), 2, 3)).toThrow(/rank 0 is in 'all_reduce' \(all_reduce\/sum over \[0, 1\], float32\[2\]\) while rank 1 is in 'all_reduce' \(all_reduce\/sum over \[0, 1\], float32\[3\]\)/);
    expect(() => run(shaped(0, 2, false), shaped(1, 2, true), 2, 2)).toThrow(CollectiveMismatchError);
    expect(() => run(shaped(0, 2, false), shaped(1, 2, true), 2, 2)).toThrow(/rank 1 finished its graph without joining it/);
    expect(() => run(shaped(1, 2, false), shaped(1, 2, false), 2, 2)).toThrow(/records its collective .* as rank 1/);
  });
});

describe('the tensor-parallel runner', () => {
  // Rank r holds heads [r, r + 2) of 3 (head 1 on both): it doubles its slice and sums a replicated value.
  const g = (r: number, replicatedOffset = 0) => buildNetwork(`r${r}`, (net) => {
    net.rank = r;
    const kv = net.input('kv', 'float32', [1, 2, 2]);
    const x = net.input('x', 'float32', [2]);
    net.markOutput(mul(kv, 2), 'kv_out');
    net.markOutput(add(all_reduce(x, { group: [0, 1] }), replicatedOffset), 'total');
  });
  const spec = (start: number) => ({ axis: 1, start, end: start + 2, full: 3 });
  const layout = { size: 2, ranks: [{ io: { kv: spec(0), kv_out: spec(0) } }, { io: { kv: spec(1), kv_out: spec(1) } }], notes: [] };
  const inputs = { kv: hostTensor('float32', [1, 3, 2], [1, 2, 3, 4, 5, 6]), x: hostTensor('float32', [2], [1, 2]) };

  it('cuts sliced inputs per rank, reassembles sliced outputs from the first rank holding each entry, and returns replicated ones once', () => {
    const { outputs } = runTp({ graphs: [g(0), g(1)], layout }, inputs);
    expect(outputs.kv_out.shape).toEqual([1, 3, 2]);
    expect(toNumbers(outputs.kv_out)).toEqual([2, 4, 6, 8, 10, 12]);
    expect(toNumbers(outputs.total)).toEqual([2, 4]);
  });
  it('refuses a replicated output that differs between ranks', () => {
    expect(() => runTp({ graphs: [g(0), g(1, 1)], layout }, inputs)).toThrow(/output 'total' is replicated but rank 1 computed other values than rank 0/);
  });
});
