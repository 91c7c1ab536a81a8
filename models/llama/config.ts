/** The Llama configuration the graph builders need, from a Hugging Face config.json. */
export interface LlamaConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  padTokenId: number;
  eosTokenIds: number[];
  /** Longest position the model was trained for, when config.json says. */
  maxPositionEmbeddings?: number;
}

const num = (raw: Record<string, unknown>, k: string, d?: number): number => {
  const v = raw[k] ?? d;
  if (typeof v !== 'number') throw new Error(`config.json: "${k}" must be a number`);
  return v;
};

/** Maps Hugging Face field names (validated by builders/config.ts) to LlamaConfig. */
export function llamaConfigFromHf(raw: Record<string, unknown>): LlamaConfig {
  const numHeads = num(raw, 'num_attention_heads');
  const hiddenSize = num(raw, 'hidden_size');
  const eos = raw.eos_token_id;
  return {
    vocabSize: num(raw, 'vocab_size'),
    hiddenSize,
    intermediateSize: num(raw, 'intermediate_size'),
    numLayers: num(raw, 'num_hidden_layers'),
    numHeads,
    numKvHeads: num(raw, 'num_key_value_heads', numHeads),
    headDim: num(raw, 'head_dim', hiddenSize / numHeads),
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: num(raw, 'rope_theta', 10000),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    padTokenId: num(raw, 'pad_token_id', 0),
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
    maxPositionEmbeddings: typeof raw.max_position_embeddings === 'number' ? raw.max_position_embeddings : undefined,
  };
}
