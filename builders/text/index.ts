/**
 * Text in, text out for `redraft generate`: prompts from text (or a file, one prompt a line),
 * optionally through the model's chat template, tokenized with its tokenizer.json; the
 * generated ids decoded back; generation_config.json's defaults.
 */
import * as fs from 'node:fs';
import { UsageError } from '../../dsl/errors.js';
import { chatTemplateOf, renderChat, type ChatMessage } from './chat.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';

export { chatTemplateOf, renderChat, specialToken, type ChatMessage } from './chat.js';
export { readGenerationConfig, type GenerationDefaults } from './generation-config.js';
export { TextStream } from './stream.js';
export { loadTokenizer, readTokenizerConfig, type TextTokenizer } from './tokenizer.js';

export interface TextPromptOptions {
  /** --prompt TEXT */
  prompt?: string;
  /** --prompt-file FILE: one prompt per line (blank lines skipped) → one batch row each. */
  promptFile?: string;
  /** Render each prompt as a user message through the model's chat template. */
  chat?: boolean;
  /** A system message before each prompt (with chat). */
  system?: string;
}

/** The prompt texts of --prompt / --prompt-file. */
export function promptTexts(o: TextPromptOptions): string[] {
  if (o.prompt !== undefined && o.promptFile !== undefined) throw new UsageError('--prompt and --prompt-file cannot be combined', 'pass one prompt with --prompt, or a file of prompts (one per line) with --prompt-file');
  if (o.prompt !== undefined) {
    if (!o.prompt.length) throw new UsageError('--prompt is empty', 'pass the text to continue, e.g. --prompt "Once upon a time"');
    return [o.prompt];
  }
  let text: string;
  try {
    text = fs.readFileSync(o.promptFile!, 'utf8');
  } catch (e) {
    throw new UsageError(`--prompt-file '${o.promptFile}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'pass a text file with one prompt per line');
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (!lines.length) throw new UsageError(`--prompt-file '${o.promptFile}' holds no prompt`, 'write one prompt per line');
  return lines;
}

/** Token ids of each prompt: through the chat template (no extra special tokens: the template has them), else as plain text with the tokenizer's own BOS. */
export function encodePrompts(dir: string, tok: TextTokenizer, texts: string[], o: TextPromptOptions): { ids: number[][]; rendered: string[] } {
  const template = o.chat ? chatTemplateOf(dir, tok.config) : undefined;
  const rendered = texts.map((t) => {
    if (!template) return t;
    const messages: ChatMessage[] = [...(o.system !== undefined ? [{ role: 'system', content: o.system }] : []), { role: 'user', content: t }];
    return renderChat(template, tok.config, messages);
  });
  const ids = rendered.map((r, i) => {
    const e = tok.encode(r, !template);
    if (!e.length) throw new UsageError(`prompt ${i} tokenizes to no tokens`, 'pass some text');
    return e;
  });
  return { ids, rendered };
}

/** Tokenizer directory: the base model's. */
export function tokenizerFor(dir: string | undefined): TextTokenizer {
  // A built-in model (dir 'builtin:NAME/llm') lives in memory: there is no directory to copy a tokenizer into.
  if (!dir || dir.startsWith('builtin:'))
    throw new UsageError(`text prompts need the model's tokenizer.json, which ${dir ? `the built-in model '${dir.slice('builtin:'.length).split('/')[0]}'` : 'a module model'} does not have`, 'pass token ids with --prompt-ids, or use a model directory with tokenizer.json: --model DIR --drafter DIR');
  return loadTokenizer(dir);
}
