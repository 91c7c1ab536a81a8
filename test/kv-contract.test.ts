/**
 * The per-layer in-place KV contract equals the old concatenating semantics: for random cache
 * lengths, prompt lengths and cache contents, llm_step (caches [B, kvh, capacity, hd] updated at
 * cache_lengths, attention over the whole capacity under a length mask) gives the tokens and
 * keys/values that llama_forward gives over a left-padded past concatenated with the new
 * tokens (the contract before issue 17). Slots past a row's length hold junk: it must not matter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { hostTensor, type HostTensor } from '../dsl/host.js';
import { buildNetwork } from '../dsl/network.js';
import { deserializeGraph, serializeGraph } from '../dsl/serialize.js';
import { engineIoTable } from '../builders/engine-io.js';
import { add, kv_cache_update } from '../ops/index.js';
import { mulberry32 } from '../dsl/random.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { buildLlmStepGraph } from '../models/redrafter/engine.js';
import { randomPair } from './precision-util.js';

const V = 16;

describe('in-place per-layer caches vs concatenated past', () => {
  const { llm } = randomPair(11, V, 8, 2);
  const cfg = llamaConfigFromHf(llm.config);
  const { numLayers: nl, numKvHeads: kvh, headDim: hd } = cfg;
  const step = buildLlmStepGraph(llm, { beamWidth: 1, beamLength: 2, maxBatch: 3, maxSeq: 16, dtype: 'float32' });

  /** The old contract's forward: past_kv [layers, 2, B, kvh, P, hd] left-padded, ids left-padded, explicit mask and positions. */
  const oldGraph = (B: number, T: number, P: number) =>
    buildNetwork('old', (net) => {
      const input_ids = net.input('input_ids', 'int64', [B, T]);
      const attention_mask = net.input('attention_mask', 'bool', [B, T, P + T]);
      const position_ids = net.input('position_ids', 'int64', [B, T]);
      const past_kv = net.input('past_kv', 'float32', [nl, 2, B, kvh, P, hd]);
      const out = llama_forward(cfg, llamaWeights(net, cfg, llm.weights), { input_ids, attention_mask, position_ids, past_kv });
      net.markOutput(out.logits, 'logits');
      net.markOutput(out.present_kv, 'present_kv');
    });

  for (const [backend, run] of [['interpreter', async (g: Parameters<typeof runGraph>[0], i: Record<string, HostTensor>) => runGraph(g, i)], ['ONNX Runtime', onnxEnv().run]] as const)
    it(`llm_step on ${backend}: tokens, new entries and untouched history equal the concatenating forward`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ cached: fc.integer({ min: 0, max: 6 }), prompt: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 2 ** 31 }), async (rows, seed) => {
          const rand = mulberry32(seed);
          const B = rows.length;
          const T = Math.max(...rows.map((r) => r.prompt));
          const P = Math.max(...rows.map((r) => r.cached));
          const C = P + T + Math.floor(rand() * 3);
          const ids = rows.map((r) => Array.from({ length: r.prompt }, () => Math.floor(rand() * V))); // any id, 0 included
          // New contract: left-aligned ids (junk after each row's length), caches with junk past each row's length.
          const caches: Record<string, HostTensor> = {};
          const cacheData: Float32Array[] = [];
          for (let l = 0; l < nl; l++)
            for (const kv of ['k', 'v']) {
              const d = Float32Array.from({ length: B * kvh * C * hd }, () => rand() * 2 - 1);
              cacheData.push(d);
              caches[`${kv}_cache_${l}`] = { dtype: 'float32', shape: [B, kvh, C, hd], data: d };
            }
          const at = (b: number, h: number, j: number) => ((b * kvh + h) * C + j) * hd;
          const got = await run(step, {
            input_ids: hostTensor('int64', [B, T], ids.flatMap((r) => [...r, ...Array.from({ length: T - r.length }, () => Math.floor(rand() * V))])),
            prompt_lengths: hostTensor('int64', [B], rows.map((r) => r.prompt)),
            cache_lengths: hostTensor('int64', [B], rows.map((r) => r.cached)),
            ...caches,
          });
          // Old contract: the same history left-padded to P, the same tokens left-padded to T.
          const past = new Float32Array(nl * 2 * B * kvh * P * hd);
          const pastAt = (lk: number, b: number, h: number, j: number) => (((lk * B + b) * kvh + h) * P + j) * hd;
          rows.forEach((r, b) => {
            for (let lk = 0; lk < 2 * nl; lk++)
              for (let h = 0; h < kvh; h++) for (let j = 0; j < r.cached; j++) past.set(cacheData[lk]!.subarray(at(b, h, j), at(b, h, j) + hd), pastAt(lk, b, h, P - r.cached + j));
          });
          const mask = new Uint8Array(B * T * (P + T));
          rows.forEach((r, b) => {
            const pads = T - r.prompt;
            for (let i = 0; i < T; i++)
              for (let k = 0; k < P + T; k++) mask[(b * T + i) * (P + T) + k] = +(k < P ? k >= P - r.cached : k - P >= pads && k - P <= i);
          });
          const want = await run(oldGraph(B, T, P), {
            input_ids: hostTensor('int64', [B, T], ids.flatMap((r) => [...Array(T - r.length).fill(0), ...r])),
            attention_mask: { dtype: 'bool', shape: [B, T, P + T], data: mask },
            position_ids: hostTensor('int64', [B, T], rows.flatMap((r) => Array.from({ length: T }, (_, i) => Math.max(0, r.cached + i - (T - r.prompt))))),
            past_kv: { dtype: 'float32', shape: [nl, 2, B, kvh, P, hd], data: past },
          });
          const logits = want.logits!.data as Float32Array;
          rows.forEach((r, b) => {
            const last = logits.subarray((b * T + T - 1) * V, (b * T + T) * V);
            expect(Number((got.next_token!.data as BigInt64Array)[b]), `row ${b}`).toBe(last.indexOf(Math.max(...last)));
            expect(Number((got.next_cache_lengths!.data as BigInt64Array)[b])).toBe(r.cached + r.prompt);
            const present = want.present_kv!.data as Float32Array;
            for (let lk = 0; lk < 2 * nl; lk++) {
              const out = got[`${lk % 2 ? 'v' : 'k'}_cache_${lk >> 1}_out`]!.data as Float32Array;
              for (let h = 0; h < kvh; h++) {
                // History untouched, bit for bit.
                expect(Array.from(out.subarray(at(b, h, 0), at(b, h, r.cached)))).toEqual(Array.from(cacheData[lk]!.subarray(at(b, h, 0), at(b, h, r.cached))));
                // The new entries at cache_length + i are the old contract's present entries.
                for (let i = 0; i < r.prompt; i++) {
                  const o = (((lk * B + b) * kvh + h) * (P + T) + P + T - r.prompt + i) * hd;
                  const n = at(b, h, r.cached + i);
                  for (let e = 0; e < hd; e++) expect(Math.abs(out[n + e]! - present[o + e]!)).toBeLessThan(1e-5);
                }
              }
            }
          });
        }),
        { numRuns: backend === 'interpreter' ? 12 : 4 },
      );
    });
});

describe('in-place outputs (Graph.aliases)', () => {
  const cacheGraph = () =>
    buildNetwork('inplace', (net) => {
      const cache = net.input('cache', 'float32', ['batch', 2, 'capacity', 4]);
      const upd = net.input('update', 'float32', ['batch', 2, 1, 4]);
      const at = net.input('at', 'int64', ['batch']);
      // Two updates in a chain (the write, then the compaction) are still in place of the input.
      net.markOutput(kv_cache_update(kv_cache_update(cache, upd, at), upd, add(at, 1)), 'cache_out', { inPlaceOf: cache });
    });
  it('markOutput records them; the graph format and the engine I/O table keep them', () => {
    const g = cacheGraph();
    expect(g.aliases).toEqual({ cache_out: 'cache' });
    expect(deserializeGraph(serializeGraph(g)).aliases).toEqual({ cache_out: 'cache' });
    expect(engineIoTable(g).outputs).toEqual([expect.objectContaining({ name: 'cache_out', inPlaceOf: 'cache' })]);
    expect(buildNetwork('plain', (net) => net.markOutput(add(net.input('x', 'float32', [2]), 1), 'y')).aliases).toBeUndefined();
  });
  it('refuses an output that is not the input updated by kv_cache_update, or a second one for an input', () => {
    expect(() =>
      buildNetwork('bad', (net) => {
        const x = net.input('x', 'float32', [1, 1, 2, 1]);
        net.markOutput(add(x, 1), 'y', { inPlaceOf: x });
      }),
    ).toThrow(/'y' cannot be in place of input 'x': it is not that input updated by kv_cache_update/);
    expect(() =>
      buildNetwork('bad', (net) => {
        const x = net.input('x', 'float32', [1, 1, 2, 1]);
        net.markOutput(x, 'y', { inPlaceOf: x });
      }),
    ).toThrow(/cannot be in place/);
    expect(() =>
      buildNetwork('bad', (net) => {
        const x = net.input('x', 'float32', [1, 1, 2, 1]);
        const u = kv_cache_update(x, x, net.input('w', 'int64', [1]));
        net.markOutput(u, 'a', { inPlaceOf: x });
        net.markOutput(kv_cache_update(u, x, net.input('w2', 'int64', [1])), 'b', { inPlaceOf: x });
      }),
    ).toThrow(/input 'x' already has an in-place output/);
    expect(() =>
      buildNetwork('bad', (net) => {
        const x = net.input('x', 'float32', [1, 1, 2, 1]);
        net.markOutput(kv_cache_update(x, x, net.input('w', 'int64', [1])), 'a', { inPlaceOf: add(x, 1) });
      }),
    ).toThrow(/inPlaceOf must be a network input/);
  });
});
