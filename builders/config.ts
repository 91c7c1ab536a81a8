/**
 * Validation of model configs (config.json): Hugging Face Llama and the ReDrafter drafter.
 * Each problem names the file and the JSON key, says what was expected and what was found.
 */
import { ModelError } from '../dsl/errors.js';
import { LLAMA_FAMILY_TYPES, ROPE_TYPES, ropeScalingOf, ropeTypeOf } from '../models/llama/config.js';

export type ModelKind = 'llama' | 'drafter';

/** Hugging Face model types with Llama's architecture (RMSNorm, rotary, GQA, SiLU MLP): Llama, Qwen2/2.5, Qwen3, Mistral. */
const LLAMA_TYPES: readonly string[] = LLAMA_FAMILY_TYPES;

type Rule = { key: string; type: 'posint' | 'number' | 'bool' | 'string' | 'int' | 'anyint'; required: boolean };

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
  { key: 'attention_bias', type: 'bool', required: false },
  { key: 'mlp_bias', type: 'bool', required: false },
  { key: 'use_sliding_window', type: 'bool', required: false },
  { key: 'max_window_layers', type: 'int', required: false },
];
const DRAFTER: Rule[] = [
  { key: 'vocab_size', type: 'posint', required: true },
  { key: 'hidden_size', type: 'posint', required: true },
  { key: 'exit_dim', type: 'posint', required: true },
  { key: 'num_draft_layers', type: 'int', required: true },
  // Apple's DrafterConfig writes -1 when unset; inference does not read it.
  { key: 'num_lookback_tokens', type: 'anyint', required: false },
  { key: 'rnn', type: 'bool', required: false },
  { key: 'emb_norm', type: 'bool', required: false },
];

function ok(type: Rule['type'], v: unknown): boolean {
  switch (type) {
    case 'posint': return Number.isSafeInteger(v) && (v as number) > 0;
    case 'int': return Number.isSafeInteger(v) && (v as number) >= 0;
    case 'anyint': return Number.isSafeInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v) && v > 0;
    case 'bool': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
  }
}
const WHAT: Record<Rule['type'], string> = { posint: 'a positive integer', int: 'a non-negative integer', anyint: 'an integer', number: 'a positive number', bool: 'true or false', string: 'a string' };

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
    validateRope(raw, file);
    validateWindows(raw, file, type === 'mistral' || type === 'qwen2' || type === 'qwen3');
  }
  if (kind === 'drafter') {
    if (raw.emb_norm === true)
      throw new ModelError(`${file}: "emb_norm" is true, but the ReDrafter drafter redraft builds has no embedding norm`, 'use a drafter checkpoint without emb_norm (Apple\'s recurrent_drafting_drafter layout)');
  }
}

/** rope_scaling / rope_parameters: the types transformers computes the same way redraft does. */
function validateRope(raw: Record<string, unknown>, file: string): void {
  const key = raw.rope_scaling !== undefined && raw.rope_scaling !== null ? 'rope_scaling' : 'rope_parameters';
  const given = raw[key];
  if (given === undefined || given === null) return;
  const r = ropeScalingOf(raw);
  if (!r) throw new ModelError(`${file}: "${key}" must be an object or null, got ${JSON.stringify(given)}`, `fix "${key}" in config.json`);
  const t = ropeTypeOf(r);
  if (!(ROPE_TYPES as readonly unknown[]).includes(t))
    throw new ModelError(`${file}: "${key}" type ${JSON.stringify(t)} is not supported (supported: ${ROPE_TYPES.join(', ')}); positions would be embedded wrongly`, 'use a checkpoint with llama3, linear or dynamic rope scaling, or none');
  const need = (k: string, required: boolean) => {
    const v = r[k];
    if (v === undefined || v === null) {
      if (required) throw new ModelError(`${file}: "${key}" of type ${String(t)} needs "${k}" (a positive number)`, `add "${k}" to "${key}"`);
      return;
    }
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new ModelError(`${file}: "${key}.${k}" must be a positive number, got ${JSON.stringify(v)}`, `fix "${key}.${k}" in config.json`);
  };
  if (key === 'rope_parameters') need('rope_theta', false);
  if (t === 'default') return;
  need('factor', true);
  if (t === 'llama3') {
    for (const k of ['low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) need(k, true);
    if ((r.high_freq_factor as number) <= (r.low_freq_factor as number))
      throw new ModelError(`${file}: "${key}.high_freq_factor" (${String(r.high_freq_factor)}) must exceed low_freq_factor (${String(r.low_freq_factor)})`, `fix "${key}" in config.json`);
  }
}

/** sliding_window / layer_types: a positive window where a layer uses one. */
function validateWindows(raw: Record<string, unknown>, file: string, hasWindows: boolean): void {
  const sw = raw.sliding_window;
  const types = raw.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== raw.num_hidden_layers || !types.every((x) => x === 'full_attention' || x === 'sliding_attention'))
      throw new ModelError(`${file}: "layer_types" must list "full_attention" or "sliding_attention" for each of the ${String(raw.num_hidden_layers)} layers, got ${JSON.stringify(types)}`, 'fix "layer_types" in config.json');
    if (types.includes('sliding_attention') && !Number.isSafeInteger(sw))
      throw new ModelError(`${file}: "layer_types" has sliding_attention layers but "sliding_window" is ${JSON.stringify(sw)}`, 'set "sliding_window" to the window size');
  }
  if (!hasWindows && (types === undefined || types === null)) return;
  if (sw !== undefined && sw !== null && !(Number.isSafeInteger(sw) && (sw as number) > 0))
    throw new ModelError(`${file}: "sliding_window" must be a positive integer or null, got ${JSON.stringify(sw)}`, 'fix "sliding_window" in config.json');
  if (raw.use_sliding_window === true && (sw === undefined || sw === null))
    throw new ModelError(`${file}: "use_sliding_window" is true but "sliding_window" is ${JSON.stringify(sw)}`, 'set "sliding_window" to the window size, or use_sliding_window to false');
}

/** A drafter must match its base model's vocabulary and hidden size. */
export function checkPair(llm: Record<string, unknown>, llmFile: string, drafter: Record<string, unknown>, drafterFile: string): void {
  if (llm.vocab_size !== drafter.vocab_size)
    throw new ModelError(`vocab_size differs: ${llmFile} has ${String(llm.vocab_size)}, ${drafterFile} has ${String(drafter.vocab_size)}`, 'use the drafter trained for this base model');
  if (llm.hidden_size !== drafter.hidden_size)
    throw new ModelError(`hidden_size differs: ${llmFile} has ${String(llm.hidden_size)}, ${drafterFile} has ${String(drafter.hidden_size)}`, 'use the drafter trained for this base model');
}
