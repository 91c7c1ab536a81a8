/**
 * The Llama-family configuration the graph builders need, from a Hugging Face config.json:
 * Llama (1–3.x, with rope scaling), Qwen2/2.5 (q/k/v biases), Qwen3 (per-head q/k RMSNorm)
 * and Mistral (sliding-window attention). Fields are validated by builders/config.ts first.
 */
import { checkpointQuant, type CheckpointQuant } from './prequant.js';
import { ModelError } from '../../dsl/errors.js';

/** The Hugging Face model types built by models/llama/model.ts. */
export const LLAMA_FAMILY_TYPES = ['llama', 'qwen2', 'qwen3', 'mistral'] as const;
export type LlamaFamily = (typeof LLAMA_FAMILY_TYPES)[number];

/** Rotary scaling (Hugging Face `rope_scaling` / `rope_parameters`). */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  /** Dynamic NTK: the base grows with the longest position of each call past max_position_embeddings. */
  | { type: 'dynamic'; factor: number; maxPositionEmbeddings: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

/** Rope types redraft builds; others are refused by builders/config.ts naming the type. */
export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3'] as const;

export interface LlamaConfig {
  family: LlamaFamily;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  rope: RopeScaling;
  /** Biases on q/k/v (Qwen2: always; others: attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (attention_bias in Llama/Qwen3/Mistral; never in Qwen2). */
  oBias: boolean;
  /** Biases on gate/up/down (Llama's mlp_bias). */
  mlpBias: boolean;
  /** Qwen3: RMSNorm over head_dim on each query and key head, before the rotary embedding. */
  qkNorm: boolean;
  /** Per layer: the sliding-window size (a query sees keys less than this many positions back), or null for full attention. */
  layerWindows: (number | null)[];
  tieWordEmbeddings: boolean;
  /**
   * The id the engine pads prompts with (and detects padding by): config.json's pad_token_id,
   * else the last id of the vocabulary (`padTokenIdChosen`). Prompts containing it are refused
   * until the engine takes explicit lengths.
   */
  padTokenId: number;
  /** True when config.json has no pad_token_id and redraft chose padTokenId. */
  padTokenIdChosen: boolean;
  eosTokenIds: number[];
  /** Longest position the model was trained for, when config.json says (none with dynamic scaling, which exists to go past it). */
  maxPositionEmbeddings?: number;
  /** How the checkpoint's projections are already quantized (config.json quantization_config; ./prequant.ts). */
  quantization?: CheckpointQuant;
}

const num = (raw: Record<string, unknown>, k: string, d?: number): number => {
  const v = raw[k] ?? d;
  if (typeof v !== 'number') throw new Error(`config.json: "${k}" must be a number`);
  return v;
};

/** The rope scaling object of a config (`rope_scaling`, or transformers v5's `rope_parameters`), or undefined. */
export function ropeScalingOf(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const r = (raw.rope_scaling ?? raw.rope_parameters) as Record<string, unknown> | null | undefined;
  return r && typeof r === 'object' && !Array.isArray(r) ? r : undefined;
}

/** The rope type a scaling object names (`rope_type`, or the older `type`). */
export const ropeTypeOf = (r: Record<string, unknown>): unknown => r.rope_type ?? r.type ?? 'default';

function ropeFromHf(raw: Record<string, unknown>): RopeScaling {
  const r = ropeScalingOf(raw);
  if (!r) return { type: 'default' };
  const t = ropeTypeOf(r);
  const f = (k: string, d?: number) => num(r, k, d);
  switch (t) {
    case 'linear':
      return { type: 'linear', factor: f('factor') };
    case 'dynamic':
      return { type: 'dynamic', factor: f('factor'), maxPositionEmbeddings: num(raw, 'max_position_embeddings', 2048) };
    case 'llama3':
      return { type: 'llama3', factor: f('factor'), lowFreqFactor: f('low_freq_factor', 1), highFreqFactor: f('high_freq_factor', 4), originalMaxPositionEmbeddings: f('original_max_position_embeddings', 8192) };
    default:
      return { type: 'default' };
  }
}

/** The sliding window of each layer, as transformers derives it for each family. */
export function layerWindowsFromHf(raw: Record<string, unknown>, family: LlamaFamily, numLayers: number): (number | null)[] {
  const sw = typeof raw.sliding_window === 'number' ? raw.sliding_window : null;
  const types = Array.isArray(raw.layer_types) ? (raw.layer_types as string[]) : undefined;
  if (types) return Array.from({ length: numLayers }, (_, l) => (types[l] === 'sliding_attention' ? sw : null));
  if (family === 'mistral') return Array(numLayers).fill(sw);
  if (family === 'qwen2' || family === 'qwen3') {
    // Qwen: the window applies only with use_sliding_window, from layer max_window_layers on.
    if (raw.use_sliding_window !== true || sw === null) return Array(numLayers).fill(null);
    const from = typeof raw.max_window_layers === 'number' ? raw.max_window_layers : numLayers;
    return Array.from({ length: numLayers }, (_, l) => (l >= from ? sw : null));
  }
  return Array(numLayers).fill(null);
}

/** Maps Hugging Face field names (validated by builders/config.ts) to LlamaConfig. */
/** The Llama config of a Hugging Face config.json (`file`: its path, named by every error). */
export function llamaConfigFromHf(raw: Record<string, unknown>, file = 'config.json'): LlamaConfig {
  const num = (r: Record<string, unknown>, k: string, d?: number): number => {
    const v = r[k] ?? d;
    if (typeof v !== 'number') throw new ModelError(`${file}: "${k}" must be a number, got ${JSON.stringify(v)}`, 'fix the model\'s config.json (a Hugging Face Llama-family config)');
    return v;
  };
  const family = ((raw.model_type as string | undefined) ?? 'llama') as LlamaFamily;
  const numHeads = num(raw, 'num_attention_heads');
  const hiddenSize = num(raw, 'hidden_size');
  const vocabSize = num(raw, 'vocab_size');
  const numLayers = num(raw, 'num_hidden_layers');
  const eos = raw.eos_token_id;
  const attentionBias = raw.attention_bias === true;
  const ropeParams = raw.rope_parameters as Record<string, unknown> | undefined;
  const hasPad = typeof raw.pad_token_id === 'number';
  const rope = ropeFromHf(raw);
  return {
    family,
    vocabSize,
    hiddenSize,
    intermediateSize: num(raw, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads: num(raw, 'num_key_value_heads', numHeads),
    headDim: num(raw, 'head_dim', hiddenSize / numHeads),
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: typeof raw.rope_theta === 'number' ? raw.rope_theta : typeof ropeParams?.rope_theta === 'number' ? ropeParams.rope_theta : 10000,
    rope,
    qkvBias: family === 'qwen2' ? true : attentionBias,
    oBias: family === 'qwen2' ? false : attentionBias,
    mlpBias: raw.mlp_bias === true,
    qkNorm: family === 'qwen3',
    layerWindows: layerWindowsFromHf(raw, family, numLayers),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    padTokenId: hasPad ? (raw.pad_token_id as number) : vocabSize - 1,
    padTokenIdChosen: !hasPad,
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
    maxPositionEmbeddings: typeof raw.max_position_embeddings === 'number' && rope.type !== 'dynamic' ? raw.max_position_embeddings : undefined,
    quantization: checkpointQuant(raw, file),
  };
}
