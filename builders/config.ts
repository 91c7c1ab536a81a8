/**
 * Validation of model configs (config.json): Hugging Face Llama and the ReDrafter drafter.
 * Each problem names the file and the JSON key, says what was expected and what was found.
 */
import { ModelError } from '../dsl/errors.js';

export type ModelKind = 'llama' | 'drafter';

/** Hugging Face model types with Llama's architecture (RMSNorm, rotary, GQA, SiLU MLP, no biases). */
const LLAMA_TYPES = ['llama'];

type Rule = { key: string; type: 'posint' | 'number' | 'bool' | 'string' | 'int'; required: boolean };

const LLAMA: Rule[] = [
  { key: 'vocab_size', type: 'posint', required: true },
  { key: 'hidden_size', type: 'posint', required: true },
  { key: 'intermediate_size', type: 'posint', required: true },
  { key: 'num_hidden_layers', type: 'posint', required: true },
  { key: 'num_attention_heads', type: 'posint', required: true },
  { key: 'num_key_value_heads', type: 'posint', required: false },
  { key: 'head_dim', type: 'posint', required: false },
  { key: 'rms_norm_eps', type: 'number', required: false },
  { key: 'rope_theta', type: 'number', required: false },
  { key: 'hidden_act', type: 'string', required: false },
  { key: 'tie_word_embeddings', type: 'bool', required: false },
  { key: 'pad_token_id', type: 'int', required: false },
  { key: 'bos_token_id', type: 'int', required: false },
  { key: 'max_position_embeddings', type: 'posint', required: false },
];
const DRAFTER: Rule[] = [
  { key: 'vocab_size', type: 'posint', required: true },
  { key: 'hidden_size', type: 'posint', required: true },
  { key: 'exit_dim', type: 'posint', required: true },
  { key: 'num_draft_layers', type: 'int', required: true },
  { key: 'num_lookback_tokens', type: 'posint', required: false },
  { key: 'rnn', type: 'bool', required: false },
];

function ok(type: Rule['type'], v: unknown): boolean {
  switch (type) {
    case 'posint': return Number.isSafeInteger(v) && (v as number) > 0;
    case 'int': return Number.isSafeInteger(v) && (v as number) >= 0;
    case 'number': return typeof v === 'number' && Number.isFinite(v) && v > 0;
    case 'bool': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
  }
}
const WHAT: Record<Rule['type'], string> = { posint: 'a positive integer', int: 'a non-negative integer', number: 'a positive number', bool: 'true or false', string: 'a string' };

/** Throws ModelError for the first problem in `raw` (a parsed config.json of `kind`). */
export function validateConfig(raw: Record<string, unknown>, kind: ModelKind, file: string): void {
  const isDrafter = raw.model_type === 'recurrent_drafting_drafter';
  if (kind === 'llama' && isDrafter) throw new ModelError(`${file} describes a ReDrafter drafter, but a base model was expected here`, 'pass the base LLM directory to --model and the drafter to --drafter');
  if (kind === 'drafter' && !isDrafter)
    throw new ModelError(`${file}: model_type is ${JSON.stringify(raw.model_type)}, expected "recurrent_drafting_drafter"`, 'pass the ReDrafter drafter checkpoint to --drafter');
  for (const r of kind === 'llama' ? LLAMA : DRAFTER) {
    const v = raw[r.key];
    if (v === undefined || v === null) {
      if (r.required) throw new ModelError(`${file}: missing required field "${r.key}" (${WHAT[r.type]})`, `add "${r.key}" to config.json`);
      continue;
    }
    if (!ok(r.type, v)) throw new ModelError(`${file}: "${r.key}" must be ${WHAT[r.type]}, got ${JSON.stringify(v)}`, `fix "${r.key}" in config.json`);
  }
  if (kind === 'llama') {
    const heads = raw.num_attention_heads as number;
    const kv = (raw.num_key_value_heads as number | undefined) ?? heads;
    if (raw.head_dim === undefined && (raw.hidden_size as number) % heads !== 0)
      throw new ModelError(`${file}: hidden_size ${String(raw.hidden_size)} is not divisible by num_attention_heads ${heads}`, 'fix hidden_size or num_attention_heads (or give head_dim)');
    if (heads % kv !== 0) throw new ModelError(`${file}: num_key_value_heads ${kv} does not divide num_attention_heads ${heads}`, 'grouped-query attention needs heads to be a multiple of key/value heads');
    if (raw.hidden_act !== undefined && raw.hidden_act !== 'silu') throw new ModelError(`${file}: hidden_act ${JSON.stringify(raw.hidden_act)} is not supported (only "silu")`, 'Llama-family models use silu');
    const eos = raw.eos_token_id;
    if (eos !== undefined && eos !== null && !(Number.isSafeInteger(eos) || (Array.isArray(eos) && eos.every((e) => Number.isSafeInteger(e)))))
      throw new ModelError(`${file}: "eos_token_id" must be an integer or a list of integers, got ${JSON.stringify(eos)}`);
    // Token ids the generation loop feeds back into the embedding must exist in the vocabulary.
    const vocab = raw.vocab_size as number;
    for (const key of ['pad_token_id', 'bos_token_id', 'eos_token_id'])
      for (const id of ([] as unknown[]).concat(raw[key] ?? []))
        if ((id as number) >= vocab) throw new ModelError(`${file}: "${key}" ${String(id)} is outside the vocabulary (vocab_size ${vocab})`, `fix "${key}" or "vocab_size" in config.json`);
    // Only the Llama architecture is built; a config for another family would be silently wrong.
    const type = raw.model_type;
    if (type !== undefined && !LLAMA_TYPES.includes(type as string))
      throw new ModelError(`${file}: model_type ${JSON.stringify(type)} is not a Llama-family model (supported: ${LLAMA_TYPES.join(', ')})`, 'redraft builds Llama-architecture base models; convert the checkpoint or pick a Llama-family model');
    if (raw.rope_scaling !== undefined && raw.rope_scaling !== null)
      throw new ModelError(`${file}: "rope_scaling" ${JSON.stringify(raw.rope_scaling)} is not supported; positions would be embedded wrongly`, 'use a checkpoint without rope scaling (or remove the key if the model was not trained with it)');
    if (raw.attention_bias === true || raw.mlp_bias === true)
      throw new ModelError(`${file}: ${raw.attention_bias === true ? '"attention_bias"' : '"mlp_bias"'} is true, but redraft's Llama has no projection biases`, 'use a checkpoint without projection biases');
  }
}

/** A drafter must match its base model's vocabulary and hidden size. */
export function checkPair(llm: Record<string, unknown>, llmFile: string, drafter: Record<string, unknown>, drafterFile: string): void {
  if (llm.vocab_size !== drafter.vocab_size)
    throw new ModelError(`vocab_size differs: ${llmFile} has ${String(llm.vocab_size)}, ${drafterFile} has ${String(drafter.vocab_size)}`, 'use the drafter trained for this base model');
  if (llm.hidden_size !== drafter.hidden_size)
    throw new ModelError(`hidden_size differs: ${llmFile} has ${String(llm.hidden_size)}, ${drafterFile} has ${String(drafter.hidden_size)}`, 'use the drafter trained for this base model');
}
