/**
 * The TensorRT bridge against a TensorRT double (native/test-double) compiled from the public
 * headers of TensorRT 10.0, 10.9, 10.16 and 11.1: the recorded network equals the plan, replays
 * on the plan executor to the IR's outputs, and whatever TensorRT rejects ends in a clean error
 * naming the layer and the model line. The headers must be present (../shared/third_party or
 * $REDRAFT_TRT_HEADERS): these tests fail, never skip, without them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork } from '../dsl/network.js';
import type { Graph } from '../dsl/ir.js';
import { LAYER_KINDS } from '../dsl/ir.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor } from '../dsl/host.js';
import { runGraph } from '../builders/interp/index.js';
import { lowerToPlan, type TrtPlan } from '../builders/trt/plan.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import { nativePlan } from '../builders/trt/build.js';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { interpEnv } from '../builders/conformance/env.js';
import { goldenFns } from '../models/golden.js';
import {
  add, arange, cast, concat, cumsum, exp, gather, gather_nd, gelu, matmul, nonzero, relu, scatter, scatter_nd, shape, slice, softmax, sum, topk, view, where, gt, isnan,
} from '../ops/index.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { GOLDEN } from './golden-root.js';
import { TAGS, addonOf, buildDouble, buildError, buildWith, expectRecordMatchesPlan, recordToPlan, stepInputs, type DoubleBuild, type Tag, ROOT } from './trt-double-util.js';

const RANGES = { batch: { min: 1, opt: 2, max: 4 } };

/** A graph using every layer kind (cumulative optional: TensorRT < 10.8 has no addCumulative). */
function everyKind(withCumulative = true): Graph {
  return buildNetwork('every', (net) => {
    const x = net.input('x', 'float32', ['batch', 4], RANGES);
    const w = net.constant(new Float32Array(16).map((_, i) => (i % 5) * 0.125 - 0.25), 'float32', [4, 4], 'w');
    const y = softmax(gelu(relu(exp(matmul(x, w)))), -1);
    const idx = net.constant([0, 2], 'int64', [2]);
    const g = gather(view(y, concat([shape(x, 0), 1, 4])), 2, view(cast(topk(y, 2)[1], 'int64'), concat([shape(x, 0), 1, 2])));
    const s = slice(y, [0, 1], [shape(x, 0), 4], undefined, 'fill', 1.5);
    const r = sum(add(s, 1), 1, true);
    const c = withCumulative ? cumsum(r, 1) : r;
    const nz = nonzero(gt(y, 0.2));
    const sc = scatter(y, 1, view(idx, [1, 2]), net.constant([9, 9], 'float32', [1, 2]));
    net.markOutput(g, 'g');
    net.markOutput(where(gt(c, 0), c, 0), 'c');
    net.markOutput(nz, 'nz');
    net.markOutput(sc, 'sc');
    net.markOutput(gather_nd(y, view(arange(0, 1, 'int64'), [1, 1]), 0), 'nd');
    net.markOutput(scatter_nd(w, net.constant([1, 3], 'int64', [2, 1]), net.constant(new Float32Array(8).fill(7), 'float32', [2, 4])), 'snd');
  });
}
const everyInputs = (): Record<string, HostTensor> => ({ x: hostTensor('float32', [3, 4], [0.1, -0.2, 0.3, 0.4, 1, 2, -3, 0.5, 0, 0.25, 0.75, -1]) });

function same(a: Record<string, HostTensor>, b: Record<string, HostTensor>, what: string): void {
  for (const k of Object.keys(a)) {
    expect(b[k]?.shape, `${what}: ${k} shape`).toEqual(a[k].shape);
    const x = Array.from(a[k].data as ArrayLike<unknown>, String), y = Array.from(b[k].data as ArrayLike<unknown>, String);
    expect(y, `${what}: ${k}`).toEqual(x);
  }
}

const builds = new Map<Tag, DoubleBuild>();
const B = (t: Tag) => builds.get(t)!;
const cumulativeOk = (b: DoubleBuild) => b.major > 10 || b.minor >= 8;
const expectFor = (b: DoubleBuild) => ({ major: b.major, minor: b.minor, workspaceBytes: 2 ** 26, optimizationLevel: 2 });

beforeAll(() => {
  for (const t of TAGS) builds.set(t, buildDouble(t));
}, 900_000);

describe('the double itself', () => {
  it('is generated from each NvInferImpl.h and hands over the headers it was compiled with', () => {
    for (const t of TAGS) {
      const a = addonOf(B(t));
      const info = a.info();
      expect(info.tensorrtHeaders).toBe(true);
      expect(info.cudaHeaders).toBe(true);
      expect(info.headersVersion!.split('.').slice(0, 2).map(Number)).toEqual([B(t).major, B(t).minor]);
      const lib = a.loadTensorRT();
      expect(lib.ok).toBe(true);
      expect(lib.version).toBe(info.headersVersion);
    }
  });
});

describe.each(TAGS)('TensorRT %s headers', (tag) => {
  it('every layer kind: the recorded network equals the plan and replays to the IR outputs', async () => {
    const b = B(tag);
    const g = everyKind(cumulativeOk(b));
    const kinds = new Set(g.layers.map((l) => l.kind));
    // The primitive kinds (fused ones lower to these in a default plan; quantization and
    // collectives have their own tests, test/trt-double-fused.test.ts).
    const primitive = LAYER_KINDS.filter((k) => !['attention', 'rotary_embedding', 'kv_cache_update', 'rms_norm', 'quantize', 'dequantize', 'collective'].includes(k));
    expect(primitive.filter((k) => !kinds.has(k))).toEqual(cumulativeOk(b) ? [] : ['cumulative']);
    const plan = nativePlan(g);
    const { record, logs, progress, logsAtSettle } = await buildWith(addonOf(b), plan);
    expectRecordMatchesPlan(record, plan, expectFor(b));
    // Every log line and progress step arrived before the promise settled.
    expect(logsAtSettle).toBe(logs.length);
    expect(logs.at(-1)?.[1]).toMatch(/the last log message/);
    expect(progress).toBeGreaterThan(plan.layers.length);
    same(runGraph(g, everyInputs()), executePlan(recordToPlan(record, plan.inputs), everyInputs(), g), `${tag} replay`);
  });

  it('a plan with addCumulative fails cleanly on headers older than 10.8, naming the layer and line', async () => {
    const b = B(tag);
    if (cumulativeOk(b)) return;
    const msg = await buildError(addonOf(b), nativePlan(everyKind(true)));
    expect(msg).toMatch(/layer 'cumsum\S*' \(addCumulative, at test\/trt-double\.test\.ts:\d+:\d+\): addCumulative needs TensorRT 10\.8/);
  });

  it('isnan: kISNAN from 10.1 (bool output); rejected with the layer named before', async () => {
    const b = B(tag);
    const g = buildNetwork('nan', (net) => net.markOutput(isnan(net.input('x', 'float32', [2, 3])), 'y'));
    const plan = nativePlan(g);
    if (b.major === 10 && b.minor < 1) {
      expect(await buildError(addonOf(b), plan)).toMatch(/layer 'isnan\S*' \(addUnary, at test\/trt-double\.test\.ts:\d+:\d+\): UnaryOperation::kISNAN needs TensorRT 10\.1/);
      return;
    }
    const { record } = await buildWith(addonOf(b), plan);
    expectRecordMatchesPlan(record, plan, expectFor(b));
    const u = record.layers.find((l) => l.method === 'addUnary')!;
    expect([u.params.op, u.outputs[0].dtype]).toEqual([24, 4]);
  });

  it('NonZero and TopK indices: int32 before 10.14 (the bridge casts to the IR dtype), the requested dtype from 10.14', async () => {
    const b = B(tag);
    const g = buildNetwork('idx', (net) => {
      const x = net.input('x', 'float32', [2, 5]);
      net.markOutput(nonzero(gt(x, 0)), 'nz');
      const [v, i] = topk(x, 2);
      net.markOutput(v, 'v');
      net.markOutput(i, 'i');
    });
    const plan = nativePlan(g);
    const { record } = await buildWith(addonOf(b), plan);
    expectRecordMatchesPlan(record, plan, expectFor(b));
    const nz = record.layers.find((l) => l.method.startsWith('addNonZero'))!;
    const v214 = b.major > 10 || b.minor >= 14;
    expect(nz.method).toBe(v214 ? 'addNonZeroV2' : 'addNonZero');
    expect(nz.outputs[0].dtype).toBe(v214 ? 8 : 3);
    const outNz = record.outputs.find((o) => o.name === 'nz')!;
    const producer = record.layers.find((l) => l.outputs.some((o) => o.id === outNz.id))!;
    expect(producer.outputs[0].dtype).toBe(8); // int64, as the IR promises
    if (!v214) expect(producer.method).toBe('addCast');
    const tk = record.layers.find((l) => l.method.startsWith('addTopK'))!;
    expect(tk.method).toBe(v214 ? 'addTopKV2' : 'addTopK');
    const x = { x: hostTensor('float32', [2, 5], [1, -2, 3, 0, 5, -1, 0, 2, 2, -7]) };
    same(runGraph(g, x), executePlan(recordToPlan(record, plan.inputs), x, g), `${tag} index dtypes`);
  });
});

/** Captures the graphs a golden program builds, by running it with a recording env. */
async function graphsOf(file: string): Promise<{ graph: Graph; inputs: Record<string, HostTensor> }[]> {
  const c = loadCase(file);
  const base = interpEnv();
  const seen: { graph: Graph; inputs: Record<string, HostTensor> }[] = [];
  await goldenFns[c.fn](c as never, { ...base, run: async (g: Graph, i: Record<string, HostTensor>) => (seen.push({ graph: g, inputs: i }), base.run(g, i)) } as never);
  return seen;
}

describe('golden functions and the ReDrafter step graph through the double', () => {
  it('every golden function: the record equals the plan for all four header sets; replayed on 10.9 and 11.1', async () => {
    let n = 0;
    for (const suite of ['tree_attention', 'accept', 'drafter', 'llama']) {
      for (const f of findCases(path.join(GOLDEN, suite))) {
        for (const { graph, inputs } of await graphsOf(f)) {
          const plan = nativePlan(graph);
          for (const t of TAGS) {
            const b = B(t);
            if (!cumulativeOk(b) && plan.layers.some((l) => l.method === 'addCumulative')) {
              expect(await buildError(addonOf(b), plan)).toMatch(/addCumulative needs TensorRT 10\.8/);
              continue;
            }
            const { record } = await buildWith(addonOf(b), plan);
            expectRecordMatchesPlan(record, plan, expectFor(b));
            if (t === 'v10.9.0' || t === 'v11.1') same(runGraph(graph, inputs), executePlan(recordToPlan(record, plan.inputs), inputs, graph), `${path.basename(f)} on ${t}`);
          }
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(0);
  });

  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    it(`the ReDrafter step graph in ${dtype}: the record equals the plan for all four header sets and replays`, async () => {
      const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
      const graph = def.build({ dtype, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 });
      const plan = nativePlan(graph);
      const inputs = stepInputs(graph); // a context row and a generation row with cached tokens
      const want = runGraph(graph, inputs);
      for (const t of TAGS) {
        const b = B(t);
        if (!cumulativeOk(b) && plan.layers.some((l) => l.method === 'addCumulative')) {
          expect(await buildError(addonOf(b), plan)).toMatch(/addCumulative needs TensorRT 10\.8/);
          continue;
        }
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, expectFor(b));
        if (t === 'v10.16' || (dtype === 'float32' && t === 'v10.9.0')) same(want, executePlan(recordToPlan(record, plan.inputs), inputs, graph), `redrafter ${dtype} on ${t}`);
      }
    });
  }
});
