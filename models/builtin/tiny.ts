/**
 * `tiny-redrafter`: a small Llama base model and ReDrafter drafter with weights generated
 * from a seed, so the quick start and CI need no download. Same configs and weight names as
 * Hugging Face / the reference checkpoints.
 */
import type { LoadedModel, WeightTensor } from '../env.js';
import { memoryWeights } from '../memory-weights.js';
import { mulberry32 } from '../../dsl/random.js';

export const TINY_LLAMA_CONFIG = {
  model_type: 'llama',
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  hidden_act: 'silu',
  pad_token_id: 0,
  bos_token_id: 1,
  eos_token_id: 2,
  max_position_embeddings: 4096,
  tie_word_embeddings: false,
};

export const TINY_DRAFTER_CONFIG = {
  model_type: 'recurrent_drafting_drafter',
  vocab_size: 64,
  hidden_size: 32,
  exit_dim: 64,
  num_draft_layers: 1,
  num_lookback_tokens: 1,
  rnn: true,
};

/** The same seed gives the same weights everywhere. */
const rng = mulberry32;

function normal(next: () => number, shape: number[], std: number): WeightTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    data[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) data[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return { dtype: 'float32', shape, data };
}
const ones = (n: number): WeightTensor => ({ dtype: 'float32', shape: [n], data: new Float32Array(n).fill(1) });

/** The tiny base model; lm_head row 0 (the pad id) is zero so pads are never generated. */
export function tinyLlama(seed = 1234): LoadedModel {
  const c = TINY_LLAMA_CONFIG;
  const next = rng(seed);
  const H = c.hidden_size;
  const hd = H / c.num_attention_heads;
  const w = new Map<string, WeightTensor>();
  w.set('model.embed_tokens.weight', normal(next, [c.vocab_size, H], 1));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    w.set(`${p}.self_attn.q_proj.weight`, normal(next, [c.num_attention_heads * hd, H], 0.3));
    w.set(`${p}.self_attn.k_proj.weight`, normal(next, [c.num_key_value_heads * hd, H], 0.3));
    w.set(`${p}.self_attn.v_proj.weight`, normal(next, [c.num_key_value_heads * hd, H], 0.3));
    w.set(`${p}.self_attn.o_proj.weight`, normal(next, [H, c.num_attention_heads * hd], 0.3));
    w.set(`${p}.mlp.gate_proj.weight`, normal(next, [c.intermediate_size, H], 0.3));
    w.set(`${p}.mlp.up_proj.weight`, normal(next, [c.intermediate_size, H], 0.3));
    w.set(`${p}.mlp.down_proj.weight`, normal(next, [H, c.intermediate_size], 0.3));
    w.set(`${p}.input_layernorm.weight`, ones(H));
    w.set(`${p}.post_attention_layernorm.weight`, ones(H));
  }
  w.set('model.norm.weight', ones(H));
  const head = normal(next, [c.vocab_size, H], 0.5);
  (head.data as Float32Array).fill(0, 0, H);
  w.set('lm_head.weight', head);
  return { dir: 'builtin:tiny-redrafter/llm', config: { ...c }, weights: memoryWeights('builtin:tiny-redrafter/llm', w) };
}

/** The tiny drafter, matching tinyLlama's vocabulary and hidden size. */
export function tinyDrafter(seed = 4321): LoadedModel {
  const c = TINY_DRAFTER_CONFIG;
  const next = rng(seed);
  const H = c.hidden_size;
  const w = new Map<string, WeightTensor>();
  const inDim = 2 * H;
  if (c.exit_dim !== inDim) {
    w.set('input_proj.weight', normal(next, [c.exit_dim, inDim], 0.2));
    w.set('input_proj.bias', normal(next, [c.exit_dim], 0.05));
  }
  for (let i = 0; i < c.num_draft_layers; i++) {
    w.set(`lm_head.${i}.linear.weight`, normal(next, [c.exit_dim, c.exit_dim], 0.2));
    w.set(`lm_head.${i}.linear.bias`, normal(next, [c.exit_dim], 0.05));
  }
  const head = normal(next, [c.vocab_size, c.exit_dim], 0.5);
  w.set(`lm_head.${c.num_draft_layers}.weight`, head);
  w.set('rnn_u.weight', normal(next, [H, H], 0.2));
  w.set('rnn_u.bias', normal(next, [H], 0.05));
  w.set('rnn_w.weight', normal(next, [H, H], 0.2));
  return { dir: 'builtin:tiny-redrafter/drafter', config: { ...c }, weights: memoryWeights('builtin:tiny-redrafter/drafter', w) };
}
