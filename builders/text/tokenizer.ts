/**
 * The model's tokenizer from its `tokenizer.json` (and `tokenizer_config.json`), through
 * Hugging Face's tokenizers.js (@huggingface/tokenizers): BPE, WordPiece, Unigram and WordLevel
 * models with their normalizers, pre-tokenizers, post-processors and decoders, as the Rust
 * `tokenizers` crate defines them. Nothing here tokenizes by itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelError } from '../../dsl/errors.js';

export interface TextTokenizer {
  /** Where tokenizer.json was read from. */
  file: string;
  /** tokenizer_config.json, or {} when the directory has none. */
  config: Record<string, unknown>;
  /** Token ids of `text`; `addSpecialTokens` applies the post-processor (a BOS, as the model's tokenizer adds it). */
  encode(text: string, addSpecialTokens?: boolean): number[];
  /** Text of `ids`, special tokens (EOS, chat markers) left out by default. */
  decode(ids: readonly number[], skipSpecialTokens?: boolean): string;
  /** The id of a token string (special tokens included), if the vocabulary has it. */
  tokenToId(token: string): number | undefined;
}

function readJson(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelError(`${file} cannot be read as JSON: ${(e as Error).message}`, 'fix or remove the file');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelError(`${file} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/** tokenizer_config.json of `dir`, or {} when there is none. */
export function readTokenizerConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'tokenizer_config.json');
  return fs.existsSync(file) ? readJson(file) : {};
}

/** The tokenizer of a model directory; a ModelError when `tokenizer.json` is missing or not one. */
export function loadTokenizer(dir: string): TextTokenizer {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file))
    throw new ModelError(`${dir} has no tokenizer.json, so text prompts cannot be tokenized`, 'copy the model\'s tokenizer.json (and tokenizer_config.json) into the model directory, or pass token ids with --prompt-ids');
  const json = readJson(file);
  const config = readTokenizerConfig(dir);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new ModelError(`${file} is not a tokenizer the tokenizers library can load: ${(e as Error).message}`, 'use the tokenizer.json saved with the model (transformers or tokenizers save_pretrained)', e);
  }
  return {
    file,
    config,
    encode: (text, addSpecialTokens = true) => tok.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens = true) => (ids.length ? tok.decode([...ids], { skip_special_tokens: skipSpecialTokens }) : ''),
    tokenToId: (t) => tok.token_to_id(t),
  };
}
