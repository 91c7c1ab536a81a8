/** Benchmarks that need the combined ReDrafter graph: construction and end-to-end generation. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serializeGraph } from '../../dsl/serialize.js';
import { lowerToPlan } from '../../builders/trt/plan.js';
import { runGraph } from '../../builders/interp/index.js';
import { sessionForGraph, runGraphOnnx } from '../../builders/onnx/env.js';
import { loadAnyModel } from '../../builders/conformance/env.js';
import { autoregressiveGenerate, redrafterGenerate, type GenerationShape, type Runner } from '../../builders/generate/loop.js';
import type { Graph } from '../../dsl/ir.js';
import { redrafterModel } from '../../models/redrafter/engine.js';
import { DRAFTER_7B, LLAMA_7B, drafterShapes, lazyWeights, llamaShapes, median, randomModel, time, type ScenarioResult } from './scenarios.js';

const rssMB = () => process.resourceUsage().maxRSS / 1024;

/** 1. The combined graph for a Llama-2-7B-shaped model (W=8, L=5), weights not materialized. */
export function constructScenario(opts: { reps: number }): ScenarioResult {
  const llm = { dir: 'llama-7b-shaped', config: LLAMA_7B, weights: lazyWeights('llama-7b', llamaShapes(LLAMA_7B), 'float16') };
  const drafter = { dir: 'drafter-7b-shaped', config: DRAFTER_7B, weights: lazyWeights('drafter-7b', drafterShapes(DRAFTER_7B), 'float16') };
  const def = redrafterModel(llm, drafter, { name: 'llama-2-7b-shaped' });
  const buildMs: number[] = [];
  const lowerMs: number[] = [];
  const serializeMs: number[] = [];
  let layers = 0;
  for (let r = 0; r < opts.reps; r++) {
    const [g, b] = time(() => def.build({ dtype: 'float16', beamWidth: 8, beamLength: 5, maxBatch: 8, maxSeq: 4096 }));
    const [, l] = time(() => lowerToPlan(g));
    const [, s] = time(() => serializeGraph(g, { weights: 'reference' }));
    buildMs.push(b);
    lowerMs.push(l);
    serializeMs.push(s);
    layers = g.layers.length;
  }
  const total = median(buildMs) + median(lowerMs) + median(serializeMs);
  return { scenario: 'construct', layers, buildMs: median(buildMs), lowerMs: median(lowerMs), serializeMs: median(serializeMs), totalMs: total, ratioToGoal: total / 1000, peakRssMB: rssMB(), goal: 'total < 1000 ms, RSS < 500 MB' };
}

async function genRun(step: Graph, llmGraph: Graph, run: Runner, prompt: bigint[][], shape: GenerationShape) {
  const [rd, tRd] = await timed(() => redrafterGenerate(step, run, prompt, shape));
  const [ar, tAr] = await timed(() => autoregressiveGenerate(llmGraph, run, prompt, shape));
  const count = (rows: bigint[][]) => rows.reduce((a, r, b) => a + r.length - prompt[b]!.length, 0);
  const meanAccepted = rd.acceptedPerStep.reduce((a, s) => a + s.reduce((x, y) => x + y, 0) / s.length, 0) / Math.max(1, rd.steps);
  const lossless = rd.sequences.every((x, b) => {
    const y = ar[b]!;
    const n = Math.min(x.length, y.length);
    return x.slice(0, n).join() === y.slice(0, n).join();
  });
  return {
    redrafterTokPerS: count(rd.sequences) / (tRd / 1000),
    greedyTokPerS: count(ar) / (tAr / 1000),
    speedup: count(rd.sequences) / (tRd / 1000) / (count(ar) / (tAr / 1000)),
    meanAcceptedPerStep: meanAccepted,
    tokensPerStep: meanAccepted + 1,
    steps: rd.steps,
    lossless,
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

/** 4. redraft generate: ReDrafter vs plain greedy on the same backend. */
export async function generateScenario(opts: { quick: boolean }): Promise<ScenarioResult> {
  const golden = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/golden/models');
  const golden2 = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/models');
  const root = [golden, golden2].find((p) => { try { return !!loadAnyModel(path.join(p, 'distilled_llama_1')); } catch { return false; } });
  const out: Record<string, unknown> = { scenario: 'generate' };
  const cases: [string, ReturnType<typeof loadAnyModel> | ReturnType<typeof randomModel>, ReturnType<typeof loadAnyModel> | ReturnType<typeof randomModel>][] = [];
  if (root) cases.push(['golden-distilled', loadAnyModel(path.join(root, 'distilled_llama_1')), loadAnyModel(path.join(root, 'distilled_drafter_1'))]);
  const H = opts.quick ? 128 : 512;
  const V = opts.quick ? 2000 : 8000;
  const llmCfg = { vocab_size: V, hidden_size: H, intermediate_size: 2 * H, num_hidden_layers: 2, num_attention_heads: H / 64, num_key_value_heads: H / 64, rms_norm_eps: 1e-5, rope_theta: 10000, pad_token_id: 0 };
  const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: V, hidden_size: H, exit_dim: 2 * H, num_draft_layers: 1, num_lookback_tokens: 1, rnn: true };
  cases.push(['random-mid', randomModel('llm', llamaShapes(llmCfg), llmCfg, 11), randomModel('drafter', drafterShapes(drCfg), drCfg, 12)]);
  for (const [name, llm, drafter] of cases) {
    const def = redrafterModel(llm as never, drafter as never, { name });
    const W = 4;
    const L = 5;
    const maxLength = opts.quick ? 24 : 40;
    const o = { dtype: 'float32' as const, beamWidth: W, beamLength: L, maxBatch: 1, maxSeq: maxLength + W * L + 1 };
    const shape: GenerationShape = { beamWidth: W, beamLength: L, maxLength, eosTokenIds: [], numLayers: def.llmConfig.numLayers, numKvHeads: def.llmConfig.numKvHeads, headDim: def.llmConfig.headDim, kvDtype: 'float32' };
    const prompt = [[5n, 18n, 5n, 3n]];
    const step = def.stepGraph(o);
    const llmGraph = def.llmGraph(o);
    const interp: Runner = async (g, i) => runGraph(g, i);
    const sessions = new Map<Graph, Awaited<ReturnType<typeof sessionForGraph>>>();
    const onnx: Runner = async (g, i) => {
      let s = sessions.get(g);
      if (!s) sessions.set(g, (s = await sessionForGraph(g)));
      return runGraphOnnx(s, g, i);
    };
    await onnx(step, {}).catch(() => undefined); // session creation outside the timing
    await onnx(llmGraph, {}).catch(() => undefined);
    out[name] = { interp: await genRun(step, llmGraph, interp, prompt, shape), onnx: await genRun(step, llmGraph, onnx, prompt, shape) };
  }
  out.peakRssMB = rssMB();
  return out as ScenarioResult;
}
