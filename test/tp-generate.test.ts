/**
 * Tensor-parallel generation on the multi-rank simulator: on every golden generate case, tp=2
 * and tp=4 ReDrafter (and plain autoregressive) generation equals tp=1 token for token (and the
 * reference's output_ids), and each step's outputs agree with tp=1's within float tolerance
 * (integers exactly) when fed the same inputs.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareTensor } from '../builders/conformance/compare.js';
import { loadAnyModel } from '../builders/conformance/env.js';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { autoregressiveGenerate, redrafterGenerate, type GenerationShape } from '../builders/generate/loop.js';
import { runGraph } from '../builders/interp/index.js';
import { runTp, tpGraphRunner, type TpBundle } from '../builders/tp/runner.js';
import type { CollectiveStats } from '../builders/tp/sim.js';
import type { HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import type { BuildOptions } from '../models/definition.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { parseQuantScheme } from '../models/llama/linear.js';
import { GOLDEN } from './golden-root.js';

const files = findCases(path.join(GOLDEN, 'generate'));
const interp = async (g: Graph, ins: Record<string, HostTensor>) => runGraph(g, ins);

function setup(file: string) {
  const c = loadCase(file);
  const def = redrafterModel(loadAnyModel(c.models.llm), loadAnyModel(c.models.drafter), { name: c.name });
  const W = c.attrs.beam_width as number;
  const L = c.attrs.beam_length as number;
  const maxLength = c.attrs.max_length as number;
  const pad = BigInt(c.attrs.pad_token_id as number);
  const ids = c.inputs.input_ids;
  const prompt = Array.from({ length: ids.shape[0] }, (_, b) => {
    const row = Array.from((ids.data as BigInt64Array).subarray(b * ids.shape[1], (b + 1) * ids.shape[1]));
    let n = 0;
    while (n < row.length && row[n] === pad) n++;
    return row.slice(n);
  });
  const opts: BuildOptions = { dtype: 'float32', beamWidth: W, beamLength: L, maxBatch: prompt.length, maxSeq: maxLength + W * L + 1 };
  const cfg = def.llmConfig;
  const shape: GenerationShape = { beamWidth: W, beamLength: L, maxLength, stopping: 'reference', padTokenId: Number(pad), eosTokenIds: [], numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, kvDtype: 'float32' };
  const bundle = (N: number, graph: (o: BuildOptions) => Graph): TpBundle => ({
    graphs: Array.from({ length: N }, (_, rank) => graph({ ...opts, tp: { size: N, rank } })),
    layout: def.tensorParallel!(N),
  });
  return { c, def, opts, prompt, shape, bundle };
}

describe('tensor-parallel generation on the simulator', () => {
  it('has cases', () => expect(files.length).toBeGreaterThan(0));
  for (const f of files)
    it(`${path.basename(f, '.json')}: tp=2 and tp=4 generate tp=1's tokens, and each step's outputs agree`, async () => {
      const { c, def, opts, prompt, shape, bundle } = setup(f);
      // tp=1, recording each step call's inputs to replay them on the ranks.
      const calls: Record<string, HostTensor>[] = [];
      const step1 = def.stepGraph(opts);
      const one = await redrafterGenerate(step1, async (g, ins) => (calls.push(ins), runGraph(g, ins)), prompt, shape);
      const ar1 = await autoregressiveGenerate(def.llmGraph(opts), interp, prompt, shape);
      const want = c.outputs.output_ids;
      expect(one.outputIds.map((r) => r.map(Number))).toEqual(Array.from({ length: want.shape[0] }, (_, b) => Array.from((want.data as BigInt64Array).subarray(b * want.shape[1], (b + 1) * want.shape[1]), Number)));
      for (const N of [2, 4]) {
        const step = bundle(N, (o) => def.stepGraph(o));
        const llm = bundle(N, (o) => def.llmGraph(o));
        const traffic: CollectiveStats[][] = [];
        const run = tpGraphRunner([step, llm], interp, (s) => traffic.push(s));
        const r = await redrafterGenerate(step.graphs[0], run, prompt, shape);
        expect(r.outputIds, `tp=${N} output_ids`).toEqual(one.outputIds);
        expect(r.lengthsPerStep, `tp=${N} lengths_per_step`).toEqual(one.lengthsPerStep);
        expect(await autoregressiveGenerate(llm.graphs[0], run, prompt, shape), `tp=${N} autoregressive`).toEqual(ar1);
        // Every call moved the same collective bytes on every rank.
        for (const s of traffic) expect(new Set(s.map((x) => x.bytes)).size).toBe(1);
        // Replayed step calls (the context call and the first generation calls): outputs within tolerance of tp=1's.
        for (const ins of calls.slice(0, 3)) {
          const a = runGraph(step1, ins);
          const b = runTp(step, ins).outputs;
          expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
          for (const [name, t] of Object.entries(a)) expect(compareTensor(name, t, b[name], { atol: 1e-5, rtol: 1e-5 }) ?? 'ok', `tp=${N} ${name}`).toBe('ok');
        }
      }
    }, 120_000);

  // --quantize with --tp: each rank quantizes its own shards. int4-wo groups along the inputs
  // fall inside each column shard, so every scale is tp=1's and the tokens are too.
  for (const f of files)
    it(`${path.basename(f, '.json')}: --quantize int4-wo:4 at tp=2 generates the tokens of int4-wo:4 at tp=1`, async () => {
      const { def, opts: base, prompt, shape, bundle } = setup(f);
      const opts: BuildOptions = { ...base, quantize: parseQuantScheme('int4-wo:4') };
      const one = await redrafterGenerate(def.stepGraph(opts), interp, prompt, shape);
      const step = bundle(2, (o) => def.stepGraph({ ...o, quantize: opts.quantize }));
      expect(step.graphs[0].layers.filter((l) => l.kind === 'dequantize').length).toBe(7 * def.llmConfig.numLayers);
      const r = await redrafterGenerate(step.graphs[0], tpGraphRunner([step], interp), prompt, shape);
      expect(r.outputIds).toEqual(one.outputIds);
    }, 120_000);
});
