/**
 * The ReDrafter drafter (the reference's modeling_drafter.py): optional input projection
 * (2H → exit_dim, only when they differ), residual blocks x + silu(Wx + b), a vocabulary
 * projection without bias, and the RNN s = silu(W e + U s + b_U) (or a running embedding sum).
 * The LLM's embedding table is an input of the drafter, not one of its weights.
 */
import type { DType } from '../../dsl/dtype.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { add, cast, silu } from '../../ops/index.js';
import type { WeightSource } from '../env.js';
// A float or quantized projection (--quantize-drafter), and the linear that applies either.
import { linear, projectionWeight, type Projection, type QuantScheme } from '../llama/linear.js';
import { weightConstant } from '../llama/model.js';
import { maintain_logits, warp_logits } from './logits.js';

export interface DrafterConfig {
  vocabSize: number;
  hiddenSize: number;
  exitDim: number;
  numDraftLayers: number;
  numLookbackTokens: number;
  rnn: boolean;
  /** False when config.json has no "rnn": the checkpoint's weights decide (rnn_u present or not). */
  rnnGiven?: boolean;
}

/** The drafter config of its config.json (`file`: the file's path, named by errors). */
export function drafterConfigFromHf(raw: Record<string, unknown>, file = 'drafter config.json'): DrafterConfig {
  const n = (k: string, d?: number) => {
    const v = raw[k] ?? d;
    if (typeof v !== 'number') throw new Error(`${file}: "${k}" must be a number`);
    return v;
  };
  return {
    vocabSize: n('vocab_size'),
    hiddenSize: n('hidden_size'),
    exitDim: n('exit_dim'),
    numDraftLayers: n('num_draft_layers'),
    numLookbackTokens: n('num_lookback_tokens', 1),
    rnn: raw.rnn !== false,
    rnnGiven: typeof raw.rnn === 'boolean',
  };
}

/** The drafter's weights as constants of one network, in `dtype`. */
export interface DrafterWeights {
  cfg: DrafterConfig;
  inputProj?: { w: Projection; b: Tensor };
  blocks: { w: Projection; b: Tensor }[];
  head: Projection;
  rnn?: { w: Projection; u: Projection; ub: Tensor };
}

/** `quantize` (--quantize-drafter) quantizes every [out, in] weight; biases stay in `dtype`. */
export function drafterWeights(net: Network, given: DrafterConfig, ws: WeightSource, dtype: DType = 'float32', quantize?: QuantScheme): DrafterWeights {
  // Apple's DrafterConfig defaults rnn to false; a config without the key is read from its weights.
  const cfg = given.rnnGiven === false ? { ...given, rnn: ws.has('rnn_u.weight') } : given;
  const E = cfg.exitDim;
  const H = cfg.hiddenSize;
  const w = (name: string, s: number[]) => weightConstant(net, ws, name, s, dtype);
  const p = (name: string, s: number[]) => projectionWeight(net, ws, name, s, dtype, quantize, () => w(name, s));
  return {
    cfg,
    inputProj: 2 * H !== E ? { w: p('input_proj.weight', [E, 2 * H]), b: w('input_proj.bias', [E]) } : undefined,
    blocks: Array.from({ length: cfg.numDraftLayers }, (_, i) => ({ w: p(`lm_head.${i}.linear.weight`, [E, E]), b: w(`lm_head.${i}.linear.bias`, [E]) })),
    head: p(`lm_head.${cfg.numDraftLayers}.weight`, [cfg.vocabSize, E]),
    rnn: cfg.rnn ? { w: p('rnn_w.weight', [H, H]), u: p('rnn_u.weight', [H, H]), ub: w('rnn_u.bias', [H]) } : undefined,
  };
}

/** lm_head(input_proj?(x)): residual blocks then the vocabulary projection. */
export function drafter_lm_head(dw: DrafterWeights, x: Tensor): Tensor {
  let h = dw.inputProj ? linear(x, dw.inputProj.w, dw.inputProj.b) : x;
  for (const blk of dw.blocks) h = add(h, silu(linear(h, blk.w, blk.b)));
  return linear(h, dw.head);
}

/**
 * The reference's compute_logits: warp_logits(maintain_logits(lm_head(...))), top-k 50.
 * Logits are float32 whatever the weights' dtype, as the LLM's are: the beam search adds
 * log-probs of LOG_0 (-50000) magnitude, and two of them overflow float16.
 */
export function compute_logits(dw: DrafterWeights, x: Tensor, top_k = 50): Tensor {
  return warp_logits(maintain_logits(cast(drafter_lm_head(dw, x), 'float32')), top_k);
}

/** One RNN step: silu(W e + U s + b_U), or e + s without an RNN. */
export function rnn_step(dw: DrafterWeights, embedded: Tensor, state: Tensor): Tensor {
  if (!dw.rnn) return add(embedded, state);
  return silu(add(linear(embedded, dw.rnn.w), linear(state, dw.rnn.u, dw.rnn.ub)));
}
