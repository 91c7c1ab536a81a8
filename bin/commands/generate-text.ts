/**
 * The text side of `redraft generate`: --prompt / --prompt-file (one prompt a line, one batch
 * row each) through the model's tokenizer.json, --chat through its chat template,
 * generation_config.json's defaults (EOS ids, length, sampling), the decoded text streamed as
 * tokens are accepted (builders/text). Prompts are ragged rows: no id is special, so a prompt
 * may hold the pad id.
 */
import * as path from 'node:path';
import { UsageError } from '../../dsl/errors.js';
import { encodePrompts, promptTexts, readGenerationConfig, TextStream, tokenizerFor, type GenerationDefaults, type TextTokenizer } from '../../builders/text/index.js';
import type { LlamaConfig } from '../../models/llama/config.js';
import type { Output } from '../output.js';

export interface TextFlags {
  promptIds?: string;
  prompt?: string;
  promptFile?: string;
  chat?: boolean;
  system?: string;
  maxLength?: string;
  maxNewTokens?: string;
  temperature?: string;
  greedy?: boolean;
  /** Follow generation_config.json's do_sample/temperature (default: greedy). */
  sample?: boolean;
  autoregressive?: boolean;
}

/** What generate needs from the text side: prompt rows, and afterwards the decoded text. */
export interface TextSession {
  /** Prompt ids per row (not padded); undefined with --prompt-ids. */
  rows?: number[][];
  tokenizer?: TextTokenizer;
  /** Rendered prompt text per row (after the chat template). */
  rendered?: string[];
  generation: GenerationDefaults;
  /** Streams decoded text to stdout (one row, text mode): call with the rows as they grow. */
  onTokens?: (rows: readonly (readonly bigint[])[]) => void;
  /** The generated text of each finished row (prompt removed, EOS and special tokens left out). */
  texts(finished: readonly (readonly number[])[]): string[];
  /** Ends the stream (a final newline) and says whether stdout already holds the text. */
  endStream(finished: readonly (readonly number[])[]): boolean;
  /** The flag --max-length was settled from, as the user gave it (errors name it); undefined: a default. */
  lengthFlag?: { flag: '--max-length' | '--max-new-tokens'; value: string };
}

/**
 * Reads generation_config.json and the prompts, and settles the flags generate reads later:
 * --max-length (from --max-new-tokens, else generation_config's max_new_tokens / max_length,
 * else 64; a default capped at opts.maxSeq) and --temperature (generation_config's do_sample and temperature with --sample).
 * config.json's EOS ids are replaced by generation_config.json's.
 */
export function prepareText(flags: TextFlags, modelDir: string | undefined, cfg: LlamaConfig, out: Output, opts: { maxSeq?: number } = {}): TextSession {
  const generation = modelDir ? readGenerationConfig(modelDir, cfg.vocabSize) : { ignored: [] };
  if (generation.eosTokenIds) cfg.eosTokenIds = generation.eosTokenIds;
  const textMode = flags.prompt !== undefined || flags.promptFile !== undefined;
  if (textMode && flags.promptIds !== undefined) throw new UsageError('--prompt-ids cannot be combined with --prompt or --prompt-file', 'pass either token ids or text');
  if (!textMode && flags.promptIds === undefined) throw new UsageError('a prompt is required: --prompt TEXT, --prompt-file FILE or --prompt-ids IDS', 'e.g. --prompt "Once upon a time", or --prompt-ids 5,6,7');
  if (!textMode && (flags.chat || flags.system !== undefined)) throw new UsageError('--chat and --system apply to text prompts', 'pass the prompt as text with --prompt or --prompt-file');
  if (flags.system !== undefined && !flags.chat) throw new UsageError('--system needs --chat (it is a message of the chat template)');
  let rows: number[][] | undefined;
  let tokenizer: TextTokenizer | undefined;
  let rendered: string[] | undefined;
  if (textMode) {
    tokenizer = tokenizerFor(modelDir);
    ({ ids: rows, rendered } = encodePrompts(modelDir!, tokenizer, promptTexts(flags), flags));
    rows.forEach((r, b) => {
      const bad = r.find((t) => t >= cfg.vocabSize);
      if (bad !== undefined) throw new UsageError(`prompt ${b} tokenizes to id ${bad}, outside the model's vocabulary (vocab_size ${cfg.vocabSize})`, `check that ${path.join(modelDir!, 'tokenizer.json')} belongs to this model`);
    });
  }
  // Lengths: a flag wins; else generation_config.json; else 64 tokens in all. A default is
  // capped at what this run's build holds (--max-seq) and the model's positions; a flag is not.
  const lengthFlag = flags.maxNewTokens !== undefined ? { flag: '--max-new-tokens' as const, value: flags.maxNewTokens } : flags.maxLength !== undefined ? { flag: '--max-length' as const, value: flags.maxLength } : undefined;
  const promptLen = rows ? Math.max(...rows.map((r) => r.length)) : flags.promptIds!.split(';').reduce((m, r) => Math.max(m, r.split(',').length), 0);
  if (flags.maxNewTokens !== undefined) {
    if (flags.maxLength !== undefined) throw new UsageError('--max-length and --max-new-tokens cannot be combined', 'pass one of them');
    if (!/^\d+$/.test(flags.maxNewTokens) || Number(flags.maxNewTokens) < 1) throw new UsageError(`--max-new-tokens must be a positive integer, got ${JSON.stringify(flags.maxNewTokens)}`);
    flags.maxLength = String(promptLen + Number(flags.maxNewTokens));
  } else if (flags.maxLength === undefined) {
    const fromFile = generation.maxNewTokens !== undefined ? promptLen + generation.maxNewTokens : generation.maxLength;
    let n = fromFile ?? 64;
    // A file's limit (often the whole context) is capped by what this run's engine holds.
    if (fromFile !== undefined && opts.maxSeq !== undefined && n > opts.maxSeq) {
      out.info(`generation_config.json asks for up to ${n} tokens; capped at --max-seq ${opts.maxSeq}`);
      n = opts.maxSeq;
    }
    n = Math.min(n, opts.maxSeq ?? n, cfg.maxPositionEmbeddings ?? n);
    flags.maxLength = String(Math.max(n, promptLen + 1));
  }
  // Sampling only when asked: --temperature, or --sample to follow generation_config.json's
  // do_sample/temperature. Greedy is the default because greedy ReDrafter is lossless (its
  // tokens are the model's greedy tokens), which is what a build is checked against.
  if (flags.greedy && (flags.temperature !== undefined || flags.sample)) throw new UsageError(`--greedy and ${flags.sample ? '--sample' : '--temperature'} cannot be combined`, 'pass one of them');
  if (flags.sample && flags.temperature !== undefined) throw new UsageError('--sample follows generation_config.json\'s temperature; --temperature sets one', 'pass one of them');
  if (flags.temperature === undefined && generation.doSample && !flags.autoregressive) {
    const t = generation.temperature ?? 1;
    if (flags.sample && t > 0) {
      flags.temperature = String(t);
      out.info(`sampling at temperature ${t} (generation_config.json: do_sample, --sample)`);
    } else if (!flags.sample && !flags.greedy) out.info(`generation_config.json asks for sampling (do_sample, temperature ${t}); decoding greedily: --sample follows it`);
  }
  if (flags.sample && !generation.doSample && flags.temperature === undefined) throw new UsageError('--sample follows generation_config.json, which does not set do_sample: true', 'pass --temperature T to sample');
  if (generation.ignored.length && flags.temperature !== undefined) out.info(`generation_config.json settings not applied: ${generation.ignored.join(', ')}`);
  const promptLens = rows?.map((r) => r.length);
  const generatedOf = (finished: readonly (readonly number[])[]) =>
    finished.map((r, b) => {
      const g = r.slice(promptLens![b]);
      return cfg.eosTokenIds.includes(g[g.length - 1]!) ? g.slice(0, -1) : g;
    });
  const texts = (finished: readonly (readonly number[])[]) => (tokenizer ? generatedOf(finished).map((g) => tokenizer!.decode(g)) : []);
  // Stream only one row, in text mode, to a reader (not --json).
  const streaming = !!tokenizer && rows!.length === 1 && !out.json;
  let stream: TextStream | undefined;
  let streamed = false; // whether any text reached stdout
  const onTokens = streaming
    ? (grown: readonly (readonly bigint[])[]) => {
        stream ??= new TextStream(tokenizer!);
        const row = grown[0]!.slice(0, Number(flags.maxLength)).map(Number); // the loop reports a step's tokens before truncating
        const gen = row.slice(promptLens![0]!); // rows are unpadded: the prompt, then what was generated
        const eos = gen.findIndex((t) => cfg.eosTokenIds.includes(t));
        const delta = stream.push(eos >= 0 ? gen.slice(0, eos) : gen);
        if (delta) {
          process.stdout.write(delta);
          streamed = true;
        }
      }
    : undefined;
  return {
    rows,
    tokenizer,
    rendered,
    generation,
    lengthFlag,
    onTokens,
    texts,
    endStream: (finished) => {
      if (!streaming) return false;
      stream ??= new TextStream(tokenizer!);
      const rest = stream.push(generatedOf(finished)[0]!, true);
      process.stdout.write(rest + (streamed || rest ? '\n' : ''));
      return true;
    },
  };
}
