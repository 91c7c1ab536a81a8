/**
 * Backends and models for the precision invariants: the same graph on the interpreter, ONNX
 * Runtime and the TensorRT plan executor, in float32, float16 and bfloat16.
 */
import type { DType } from '../dsl/dtype.js';
import { firstNonFinite, type HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { runGraph } from '../builders/interp/index.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { lowerToPlan, type TrtPlan } from '../builders/trt/plan.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import type { GenerationShape, Runner } from '../builders/generate/loop.js';
import type { RedrafterDefinition } from '../models/redrafter/engine.js';
import { drafterShapes, llamaShapes, randomModel } from './bench/scenarios.js';


export type BackendName = 'interp' | 'onnx' | 'plan';
export const BACKENDS: readonly BackendName[] = ['interp', 'onnx', 'plan'];

/** A graph runner per backend; the plan backend lowers each graph once and replays the plan. */
export function runner(name: BackendName): Runner {
  if (name === 'interp') return async (g, i) => runGraph(g, i);
  if (name === 'onnx') return onnxEnv().run;
  const plans = new WeakMap<Graph, TrtPlan>();
  return async (g: Graph, i: Record<string, HostTensor>) => {
    let p = plans.get(g);
    if (!p) plans.set(g, (p = lowerToPlan(g)));
    return executePlan(p, i, g);
  };
}

/** A random small Llama and drafter (GQA, one draft layer, RNN). */
export function randomPair(seed: number, vocab = 16, hidden = 8, layers = 1, scale = 0.5) {
  const llmCfg = { vocab_size: vocab, hidden_size: hidden, intermediate_size: 2 * hidden, num_hidden_layers: layers, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: 1e-5, rope_theta: 10000, pad_token_id: 0 };
  const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: vocab, hidden_size: hidden, exit_dim: 2 * hidden, num_draft_layers: 1, num_lookback_tokens: 1, rnn: true };
  return { llm: randomModel('llm', llamaShapes(llmCfg), llmCfg, seed, scale), drafter: randomModel('drafter', drafterShapes(drCfg), drCfg, seed + 1, scale) };
}

/** The generation loop's shape for a model, in `dtype`. */
export function generationShape(def: RedrafterDefinition, W: number, L: number, maxLength: number, dtype: DType): GenerationShape {
  const c = def.llmConfig;
  return { beamWidth: W, beamLength: L, maxLength, eosTokenIds: [], numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, kvDtype: dtype };
}

/** Each row of a left-padded matrix (a golden's) without its padding (the pad id never appears inside those rows). */
export const unpadded = (rows: bigint[][], pad = 0n): string[] => rows.map((r) => r.filter((t) => t !== pad).join(' '));

/** Outputs holding a NaN or ±Inf, as `name[index]`. */
export function nonFinite(outputs: Record<string, HostTensor>): string[] {
  return Object.entries(outputs).flatMap(([name, t]) => {
    const i = firstNonFinite(t);
    return i < 0 ? [] : [`${name}[${i}]`];
  });
}
