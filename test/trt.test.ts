/**
 * The TensorRT path without a GPU: every golden function and the combined ReDrafter graph
 * lower to a plan that replays on the interpreter to the IR's outputs; the addon decodes
 * every layer kind of a plan exactly; a build without TensorRT fails with the fix.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildNetwork } from '../dsl/network.js';
import type { Graph } from '../dsl/ir.js';
import { LAYER_KINDS } from '../dsl/ir.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor } from '../dsl/host.js';
import { runGraph } from '../builders/interp/index.js';
import { graphForTrt, lowerToPlan } from '../builders/trt/plan.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import { tryNative } from '../builders/trt/native.js';
import { doctor } from '../builders/trt/doctor.js';
import { assertTensorRtUsable } from '../builders/trt/build.js';
import { MissingBackendError } from '../dsl/errors.js';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { interpEnv } from '../builders/conformance/env.js';
import { goldenFns } from '../models/golden.js';
import {
  add, arange, cast, concat, cumsum, exp, gather, gather_nd, gelu, matmul, nonzero, relu, scatter, shape, slice, softmax, sum, topk, view, where, gt, attention, rotary_embedding, kv_cache_update, rms_norm, quantize, dequantize,
} from '../ops/index.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { stepInputs } from './trt-double-util.js';

import { GOLDEN } from './golden-root.js';

/** Captures the graphs a golden program builds, by running it with a recording env. */
async function graphsOf(file: string): Promise<{ graph: Graph; inputs: Record<string, HostTensor> }[]> {
  const c = loadCase(file);
  const base = interpEnv();
  const seen: { graph: Graph; inputs: Record<string, HostTensor> }[] = [];
  await goldenFns[c.fn](c as never, { ...base, run: async (g: Graph, i: Record<string, HostTensor>) => (seen.push({ graph: g, inputs: i }), base.run(g, i)) } as never);
  return seen;
}

function same(a: Record<string, HostTensor>, b: Record<string, HostTensor>): void {
  for (const k of Object.keys(a)) {
    expect(b[k].shape).toEqual(a[k].shape);
    expect(Array.from(b[k].data as ArrayLike<unknown>)).toEqual(Array.from(a[k].data as ArrayLike<unknown>));
  }
}

describe('TensorRT plans replay on the interpreter', () => {
  for (const suite of ['tree_attention', 'accept', 'drafter', 'llama']) {
    it(`golden ${suite}: plan == IR for every case`, async () => {
      for (const f of findCases(path.join(GOLDEN, suite))) {
        for (const { graph, inputs } of await graphsOf(f)) same(runGraph(graph, inputs), executePlan(lowerToPlan(graph), inputs, graph));
      }
    });
  }
  it('the combined ReDrafter step graph lowers completely and replays', () => {
    const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
    const graph = def.build({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 });
    const plan = lowerToPlan(graph);
    // One plan entry per layer of the graph as TensorRT builds it (fused layers as primitives by default).
    expect(plan.layers.length).toBe(graphForTrt(graph).layers.length);
    const native = lowerToPlan(graph, { trtVersion: { major: 11, minor: 1 } });
    expect(native.layers.filter((l) => l.method === 'addAttentionV2').length).toBe(2);
    expect(native.layers.filter((l) => l.method === 'addRotaryEmbedding').length).toBe(4);
    const inputs = stepInputs(graph); // a context row and a generation row with cached tokens
    same(runGraph(graph, inputs), executePlan(plan, inputs, graph));
    // IAttention has no scale: q is pre-scaled, so the native plan rounds differently (float32 ulps).
    const want = runGraph(graph, inputs);
    const got = executePlan(native, inputs, graph);
    for (const k of Object.keys(want)) {
      const [a, b] = [Array.from(want[k].data as ArrayLike<number | bigint>, Number), Array.from(got[k].data as ArrayLike<number | bigint>, Number)];
      a.forEach((x, i) => expect(Math.abs(b[i] - x), `${k}[${i}]`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(x))));
    }
  });
});

/** A graph using every layer kind. */
function everyKind(): Graph {
  return buildNetwork('every', (net) => {
    const x = net.input('x', 'float32', ['batch', 4]);
    const w = net.constant(new Float32Array(16).fill(0.25), 'float32', [4, 4], 'w');
    const y = softmax(gelu(relu(exp(matmul(x, w)))), -1);
    const idx = net.constant([0, 2], 'int64', [2]);
    const g = gather(view(y, concat([shape(x, 0), 2, 2])), 2, view(cast(topk(y, 2)[1], 'int64'), concat([shape(x, 0), 2, 1])));
    const s = slice(y, [0, 1], [shape(x, 0), 2], undefined, 'fill', 0);
    const c = cumsum(sum(add(s, 1), 1, true), 1);
    const nz = nonzero(gt(y, 0.2));
    const sc = scatter(y, 1, view(idx, [1, 2]), net.constant([9, 9], 'float32', [1, 2]));
    net.markOutput(g, 'g');
    net.markOutput(where(gt(c, 0), c, 0), 'c');
    net.markOutput(nz, 'nz');
    net.markOutput(sc, 'sc');
    net.markOutput(gather_nd(y, view(arange(0, 1, 'int64'), [1, 1]), 0), 'nd');
    // The fused kinds (the default plan lowers them to primitives).
    const a4 = view(rms_norm(y, 4), concat([shape(x, 0), 1, 2, 2]));
    const cs = slice(view(y, concat([shape(x, 0), 2, 2])), [0, 0, 0], [shape(x, 0), 2, 1]);
    const r = rotary_embedding(attention(a4, a4, a4, { causal: 'lower_right' }), cs, cs);
    net.markOutput(kv_cache_update(a4, slice(r, [0, 0, 0, 0], [shape(x, 0), 1, 1, 2]), cast(sum(cast(gt(y, 0.2), 'int32'), 1), 'int64')), 'fused');
    // Quantization (three-argument addQuantize/addDequantize in every plan).
    const qs = net.constant([0.125], 'float32', [], 'qs');
    net.markOutput(dequantize(quantize(y, qs, { dtype: 'int8' }), qs), 'qdq');
  });
}
/** Every kind but collective, which needs a TensorRT 10.16+ plan and a rank (tested in trt-double-fused). */
const PLAN_KINDS = LAYER_KINDS.filter((k) => k !== 'collective');

describe('native addon', () => {
  const n = tryNative();
  it('builds and loads here; doctor reports it', () => {
    expect(n, 'native/build/Release/redraft_native.node should exist after npm install').toBeDefined();
    const d = doctor();
    expect(d.addon).toBe(true);
    expect(typeof d.tensorrtHeaders).toBe('boolean');
    expect(d.library.found).toBe(false);
  });
  it('describePlan decodes every layer kind into the TensorRT call structures, weights byte for byte', () => {
    const g = everyKind();
    const plan = lowerToPlan(g);
    const kinds = new Set(g.layers.map((l) => l.kind));
    expect([...PLAN_KINDS].filter((k) => !kinds.has(k))).toEqual([]);
    const d = n!.describePlan(plan);
    expect(d.layers.length).toBe(plan.layers.length);
    plan.layers.forEach((l, i) => {
      const got = d.layers[i];
      expect(got.method).toBe(l.method);
      expect(got.inputs).toEqual(l.inputs);
      expect(got.outputs).toEqual(l.outputs);
      for (const [k, v] of Object.entries(l.params)) expect(got[k], `${l.name}.${k}`).toEqual(v);
    });
    expect(d.inputs[0]).toMatchObject({ name: 'x', dtype: 'kFLOAT', dims: [-1, 4] });
    plan.weights.forEach((w, i) => {
      const bytes = new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
      expect(Buffer.from(d.weights[i].data as unknown as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
    });
  });
  it('describePlan decodes the native fused calls of an 11.1 plan (addAttentionV2 with its mask, addRotaryEmbedding, addKVCacheUpdate) and of a 10.14 plan (addAttention)', () => {
    const g = buildNetwork('fused', (net) => {
      const q = net.input('q', 'float16', [1, 4, 3, 8]);
      const k = net.input('k', 'float16', [1, 2, 5, 8]);
      const m = net.input('m', 'bool', [1, 1, 3, 5]);
      const c = net.input('c', 'float16', [9, 2]);
      const pos = net.input('pos', 'int64', [1, 5]);
      const r = rotary_embedding(k, c, c, { position_ids: pos, interleaved: true, rotary_dim: 4 });
      const a = attention(q, r, r, { mask: m });
      net.markOutput(kv_cache_update(net.input('cache', 'float16', [1, 4, 6, 8]), a, net.input('w', 'int32', [1])), 'out');
    });
    for (const [v, want] of [[{ major: 11, minor: 1 }, ['addAttentionV2', 'addRotaryEmbedding', 'addKVCacheUpdate']], [{ major: 10, minor: 14 }, ['addAttention']]] as const) {
      const plan = lowerToPlan(g, { trtVersion: v });
      const d = n!.describePlan(plan);
      for (const method of want) {
        const i = plan.layers.findIndex((l) => l.method === method);
        expect(i, method).toBeGreaterThanOrEqual(0);
        const got = d.layers[i];
        expect(got.method).toBe(method);
        expect(got.inputs).toEqual(plan.layers[i].inputs);
        for (const [key, val] of Object.entries(plan.layers[i].params)) expect(got[key], `${method}.${key}`).toEqual(val);
      }
    }
    expect(lowerToPlan(g, { trtVersion: { major: 11, minor: 1 } }).layers.find((l) => l.method === 'addAttentionV2')!.inputs.length).toBe(4);
    expect(lowerToPlan(g, { trtVersion: { major: 10, minor: 9 } }).layers.some((l) => /Attention|Rotary|KVCache/.test(l.method))).toBe(false);
  });
  it('rejects an unknown call and a bad enum with the layer name', () => {
    const plan = lowerToPlan(everyKind());
    expect(() => n!.describePlan({ ...plan, layers: [{ ...plan.layers[0], method: 'addPlugin' }] })).toThrow(/unknown TensorRT call 'addPlugin'/);
    const i = plan.layers.findIndex((l) => l.method === 'addElementWise');
    const bad = plan.layers.map((l, j) => (j === i ? { ...l, params: { op: 'kMODULO' } } : l));
    expect(() => n!.describePlan({ ...plan, layers: bad })).toThrow(new RegExp(`layer ${i} '[^']*' \\(at test/trt\\.test\\.ts:\\d+:\\d+\\): unknown ElementWiseOperation 'kMODULO'`));
  });
  it('a TensorRT build fails before any work, naming what is missing and the fix', () => {
    let err: unknown;
    try {
      assertTensorRtUsable();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingBackendError);
    expect((err as MissingBackendError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/TensorRT headers|libnvinfer/);
    expect((err as Error).message).toMatch(/fix:/);
  });
});
