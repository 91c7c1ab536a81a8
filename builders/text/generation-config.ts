/**
 * generation_config.json: the defaults transformers' generate() reads for a model — its EOS
 * ids, the length limit (max_new_tokens, else max_length) and sampling (do_sample, temperature).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from '../../dsl/errors.js';

export interface GenerationDefaults {
  file?: string;
  /** End-of-sequence ids; replace config.json's eos_token_id when given. */
  eosTokenIds?: number[];
  maxNewTokens?: number;
  maxLength?: number;
  /** Sampling at `temperature` (default 1) when do_sample is true. */
  doSample?: boolean;
  temperature?: number;
  /** Keys redraft does not apply (top_p, top_k, repetition_penalty, ...) with their values, to say so. */
  ignored: string[];
}

const APPLIED = new Set(['eos_token_id', 'max_new_tokens', 'max_length', 'do_sample', 'temperature', 'bos_token_id', 'pad_token_id', 'transformers_version', '_from_model_config', 'use_cache']);
/** Sampling knobs that change output when sampling: worth a note. */
const SAMPLING = ['top_k', 'top_p', 'min_p', 'typical_p', 'repetition_penalty', 'num_beams', 'no_repeat_ngram_size'];

/** generation_config.json of `dir` (all fields optional); {} when there is none. */
export function readGenerationConfig(dir: string, vocabSize?: number): GenerationDefaults {
  const file = path.join(dir, 'generation_config.json');
  if (!fs.existsSync(file)) return { ignored: [] };
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelError(`${file} is not valid JSON: ${(e as Error).message}`, 'fix the JSON syntax, or remove the file');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelError(`${file} must hold a JSON object`);
  const bad = (key: string, what: string) => new ModelError(`${file}: "${key}" must be ${what}, got ${JSON.stringify(raw[key])}`, `fix "${key}" in generation_config.json`);
  const out: GenerationDefaults = { file, ignored: [] };
  const eos = raw.eos_token_id;
  if (eos !== undefined && eos !== null) {
    const ids = Array.isArray(eos) ? eos : [eos];
    if (!ids.every((x) => Number.isSafeInteger(x) && (x as number) >= 0 && (vocabSize === undefined || (x as number) < vocabSize)))
      throw bad('eos_token_id', `an id or a list of ids${vocabSize !== undefined ? ` in [0, ${vocabSize})` : ''}`);
    out.eosTokenIds = ids as number[];
  }
  for (const [key, field] of [['max_new_tokens', 'maxNewTokens'], ['max_length', 'maxLength']] as const) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (!(Number.isSafeInteger(v) && (v as number) > 0)) throw bad(key, 'a positive integer');
    out[field] = v as number;
  }
  if (raw.do_sample !== undefined && raw.do_sample !== null) {
    if (typeof raw.do_sample !== 'boolean') throw bad('do_sample', 'true or false');
    out.doSample = raw.do_sample;
  }
  if (raw.temperature !== undefined && raw.temperature !== null) {
    if (!(typeof raw.temperature === 'number' && Number.isFinite(raw.temperature) && raw.temperature >= 0)) throw bad('temperature', 'a non-negative number');
    out.temperature = raw.temperature;
  }
  out.ignored = SAMPLING.filter((k) => raw[k] !== undefined && raw[k] !== null && !APPLIED.has(k)).map((k) => `${k}=${JSON.stringify(raw[k])}`);
  return out;
}
