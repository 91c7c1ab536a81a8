/**
 * Tensor-parallel Llama forward on the multi-rank simulator: every golden llama case at tp=2
 * and tp=4 gives tp=1's logits and hidden states (within float tolerance, identical on every
 * rank), each rank's present_kv is its kv-head slice of tp=1's, and each rank's graph holds the
 * collectives of the layout (2 all_reduce per layer, one all_gather) and reads only its shards.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { compareTensor } from '../builders/conformance/compare.js';
import { loadAnyModel } from '../builders/conformance/env.js';
import { runGraph } from '../builders/interp/index.js';
import { sliceAxis } from '../builders/tp/host-slices.js';
import { runRanks } from '../builders/tp/sim.js';
import type { HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { buildNetwork, type Tensor } from '../dsl/network.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { llamaShardWeights } from '../models/llama/tp-weights.js';
import { rankShards, tpNotes } from '../models/llama/tp.js';
import { GOLDEN } from './golden-root.js';

const files = findCases(path.join(GOLDEN, 'llama'));
const TOL = { atol: 1e-5, rtol: 1e-5 };

function forwardGraph(c: ReturnType<typeof loadCase>, inputs: Record<string, HostTensor>, rank?: { rank: number; size: number }, dtype: 'float32' | 'float16' = 'float32'): Graph {
  const m = loadAnyModel(c.models.llm);
  const cfg = llamaConfigFromHf(m.config);
  return buildNetwork(rank ? `rank${rank.rank}` : 'tp1', (net) => {
    if (rank) net.rank = rank.rank;
    const ins: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) ins[name] = net.input(name, t.dtype, t.shape);
    const w = rank ? llamaShardWeights(net, cfg, m.weights, dtype, rank) : llamaWeights(net, cfg, m.weights, dtype);
    const out = llama_forward(cfg, w, { input_ids: ins.input_ids, attention_mask: ins.attention_mask, position_ids: ins.position_ids, past_kv: ins.past_kv });
    net.markOutput(out.logits, 'logits');
    net.markOutput(out.hidden_states, 'hidden_states');
    net.markOutput(out.present_kv, 'present_kv');
  });
}

describe('tensor-parallel llama forward on the simulator', () => {
  it('has cases', () => expect(files.length).toBeGreaterThan(0));
  for (const f of files)
    for (const N of [2, 4])
      it(`${path.basename(f, '.json')} at tp=${N} equals tp=1`, () => {
        const c = loadCase(f);
        const m = loadAnyModel(c.models.llm);
        const cfg = llamaConfigFromHf(m.config);
        const one = runGraph(forwardGraph(c, c.inputs), c.inputs);
        const shards = Array.from({ length: N }, (_, r) => rankShards(cfg, { rank: r, size: N }));
        // Each rank gets the kv heads it holds of the past cache (layers, 2, B, kvh, past, hd).
        const inputs = shards.map((sh) => {
          const { past_kv, ...ins } = c.inputs as Record<string, HostTensor>;
          return past_kv ? { ...ins, past_kv: sliceAxis(past_kv, 3, sh.kvHeads[0], sh.kvHeads[1]) } : ins;
        });
        const graphs = shards.map((_, r) => forwardGraph(c, inputs[r], { rank: r, size: N }));
        const { outputs, stats } = runRanks(graphs.map((graph, r) => ({ graph, inputs: inputs[r] })), { outputs: ['logits', 'hidden_states'] });
        for (let r = 0; r < N; r++) {
          for (const name of ['logits', 'hidden_states']) {
            expect(compareTensor(name, one[name], outputs[r][name], TOL) ?? 'ok').toBe('ok');
            // Replicated results are bit-identical on every rank (one all_reduce result for all).
            expect(outputs[r][name].data).toEqual(outputs[0][name].data);
          }
          // Two all_reduce per layer, one all_gather of the vocab shards; the same on every rank.
          expect(stats[r].byOp.all_reduce.calls).toBe(2 * cfg.numLayers);
          expect(stats[r].byOp.all_gather.calls).toBe(1);
          expect(stats[r].bytes).toBe(stats[0].bytes);
        }
        // present_kv on ranks with heads: the kv-head slice of tp=1's.
        {
          const full = runRanks(graphs.map((graph, r) => ({ graph, inputs: inputs[r] }))).outputs;
          for (const [r, sh] of shards.entries()) expect(compareTensor('present_kv', sliceAxis(one.present_kv, 3, sh.kvHeads[0], sh.kvHeads[1]), full[r].present_kv, TOL) ?? 'ok').toBe('ok');
        }
        // Against the reference too, at the case's tolerance (padding positions are free: compare the real ones).
        const want = c.outputs.logits;
        const ids = c.inputs.position_ids.data as BigInt64Array;
        const q = c.inputs.position_ids.shape[1];
        expect(compareTensor('logits', want, outputs[N - 1].logits, c.tolerance, (idx) => ids[idx[0] * q + idx[1]] >= 0n) ?? 'ok').toBe('ok');
      });

  it('float16 from a float32 checkpoint with fewer heads than ranks (o_proj halved after the conversion): tp=4 within float16 rounding of tp=1', () => {
    const c = loadCase(files.find((f) => path.basename(f) === 'context_1.json')!); // llama_1_1: 2 heads
    const one = runGraph(forwardGraph(c, c.inputs, undefined, 'float16'), c.inputs);
    const graphs = [0, 1, 2, 3].map((r) => forwardGraph(c, c.inputs, { rank: r, size: 4 }, 'float16'));
    const { outputs } = runRanks(graphs.map((graph) => ({ graph, inputs: c.inputs })), { outputs: ['logits'] });
    expect(compareTensor('logits', one.logits, outputs[0].logits, { atol: 2e-2, rtol: 2e-2 }) ?? 'ok').toBe('ok');
  });

  it('splits heads, kv heads, MLP rows and the vocabulary as documented, and says what is not even', () => {
    const m = loadAnyModel(path.join(GOLDEN, 'models/llama_1_2')); // 6 heads, 3 kv heads, I 40, V 40
    const cfg = llamaConfigFromHf(m.config);
    expect(tpNotes(cfg, 3)).toEqual([expect.stringMatching(/intermediate_size 40 is not a multiple of --tp 3/), expect.stringMatching(/vocab_size 40 .* 14 rows, the last zero-padded/)]);
    expect(tpNotes(cfg, 2).join()).toMatch(/num_key_value_heads 3 does not split evenly over --tp 2: .*rank kv heads: \[0, 2\), \[1, 3\)/);
    const s = [0, 1, 2, 3].map((r) => rankShards(cfg, { rank: r, size: 4 }));
    expect(s.map((x) => x.heads)).toEqual([[0, 2], [2, 4], [4, 5], [5, 6]]);
    expect(s.map((x) => x.kvHeads)).toEqual([[0, 1], [1, 2], [2, 3], [2, 3]]);
    expect(s.map((x) => x.vocab)).toEqual([0, 10, 20, 30].map((start) => ({ start, size: 10, padded: 10 })));
    const notes = tpNotes(cfg, 4);
    expect(notes.join('\n')).toMatch(/num_attention_heads 6 is not a multiple of --tp 4: ranks hold 2 or 1 query heads/);
    expect(notes.join('\n')).toMatch(/kv heads are replicated .*rank kv heads: \[0, 1\), \[1, 2\), \[2, 3\), \[2, 3\)/);
    // Fewer heads than ranks (2 heads over 4): each head on two ranks, o_proj halved on each.
    const tiny = llamaConfigFromHf(loadAnyModel(path.join(GOLDEN, 'models/llama_1_1')).config);
    const t = [0, 1, 2, 3].map((r) => rankShards(tiny, { rank: r, size: 4 }));
    expect(t.map((x) => [x.heads, x.kvHeads, x.oScale])).toEqual([[[0, 1], [0, 1], 0.5], [[0, 1], [0, 1], 0.5], [[1, 2], [0, 1], 0.5], [[1, 2], [0, 1], 0.5]]);
    expect(tpNotes(tiny, 4).join('\n')).toMatch(/num_attention_heads 2 is less than --tp 4: each head is computed on 2 ranks/);
    // 4 heads over 5 ranks: head 0 on ranks 0 and 1, heads 1..3 on one rank each (oScale undefined there).
    const four = { ...cfg, numHeads: 4, numKvHeads: 2 };
    expect([0, 1, 2, 3, 4].map((r) => rankShards(four, { rank: r, size: 5 }).oScale)).toEqual([0.5, 0.5, undefined, undefined, undefined]);
    const n5 = tpNotes(four, 5).join('\n');
    expect(n5).toMatch(/num_attention_heads 4 is less than --tp 5: each head is computed on 1 or 2 ranks, whose o_proj/);
    expect(n5).not.toMatch(/NaN|undefined/);
  });
});
