/** `redraft generate`: ReDrafter speculative decoding on the CPU (interpreter or ONNX Runtime). */
import { UsageError } from '../../dsl/errors.js';
import { backendEnv } from '../../builders/conformance/env.js';
import { checkFinite } from '../../builders/generate/finite.js';
import { autoregressiveGenerate, finishedRows, redrafterGenerate, type GenerationShape } from '../../builders/generate/loop.js';
import type { RedrafterDefinition } from '../../models/redrafter/engine.js';
import type { Output } from '../output.js';
import { buildConfigFrom, resolveModel, type ModelFlags } from '../model.js';
import { prepareText, type TextFlags, type TextSession } from './generate-text.js';

interface GenerateFlags extends ModelFlags, TextFlags {
  promptIds?: string;
  maxLength?: string;
  backend: string;
  autoregressive?: boolean;
  temperature?: string;
  seed: string;
  checkFinite?: boolean;
}

function parsePrompt(s: string, vocab: number, pad: number): bigint[][] {
  const rows = s.split(';').map((r, i) => {
    if (!r.trim()) throw new UsageError(`--prompt-ids row ${i} is empty`, 'pass comma-separated integer ids, rows separated by ; (e.g. 5,6,7;8,9)');
    return r.split(',').map((x) => {
      const t = x.trim();
      const v = /^\d+$/.test(t) ? Number(t) : NaN;
      if (!Number.isSafeInteger(v) || v >= vocab) throw new UsageError(`--prompt-ids row ${i}: ${JSON.stringify(t)} is not a token id in [0, ${vocab})`, 'pass comma-separated integer ids, rows separated by ; (e.g. 5,6,7;8,9)');
      if (v === pad) throw new UsageError(`--prompt-ids row ${i}: ${v} is the id the engine pads with (pad_token_id), so the engine would take it for padding`, 'set "pad_token_id" in config.json to an id no prompt contains, or leave that token out');
      return BigInt(v);
    });
  });
  if (!rows.length) throw new UsageError('--prompt-ids is empty', 'pass e.g. --prompt-ids 5,6,7');
  const n = Math.max(...rows.map((r) => r.length));
  return rows.map((r) => [...Array(n - r.length).fill(BigInt(pad)), ...r]); // left-pad to one length
}

export async function generate(flags: GenerateFlags, out: Output): Promise<void> {
  const build = buildConfigFrom(flags);
  const model = await resolveModel(flags, out);
  const def = model.definition as Partial<RedrafterDefinition>;
  if (!def.stepGraph || !def.llmConfig) throw new UsageError(`model '${model.definition.name}' is not a ReDrafter model`, 'generate needs a built-in ReDrafter model or --model DIR --drafter DIR');
  const cfg = def.llmConfig;
  // Text prompts, generation_config.json's defaults (EOS ids, length, sampling): bin/commands/generate-text.ts.
  const textIO = prepareText(flags, model.llm?.dir, cfg, out, { maxSeq: build.maxSeq });
  const maxLength = Number(flags.maxLength);
  const prompt = textIO.rows
    ? textIO.rows.map((r, _, all) => [...Array(Math.max(...all.map((x) => x.length)) - r.length).fill(BigInt(cfg.padTokenId)), ...r.map(BigInt)])
    : parsePrompt(flags.promptIds!, cfg.vocabSize, cfg.padTokenId);
  // Positions past what the model was trained for are not meaningful (and the loop is CPU-bound).
  const maxPositions = cfg.maxPositionEmbeddings ?? 1 << 16;
  if (!/^\d+$/.test(flags.maxLength!) || maxLength <= prompt[0].length || maxLength > maxPositions)
    throw new UsageError(`--max-length must be an integer above the prompt length (${prompt[0].length}) and at most ${maxPositions}${cfg.maxPositionEmbeddings ? ' (max_position_embeddings)' : ''}, got ${JSON.stringify(flags.maxLength)}`);
  const opts = { dtype: build.dtype, beamWidth: build.beamWidth, beamLength: build.beamLength, maxBatch: Math.max(build.maxBatch, prompt.length), maxSeq: Math.max(build.maxSeq, maxLength + build.beamWidth * build.beamLength + 1) };
  const shape: GenerationShape = {
    beamWidth: build.beamWidth, beamLength: build.beamLength, maxLength, padTokenId: cfg.padTokenId, eosTokenIds: cfg.eosTokenIds,
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, kvDtype: build.dtype,
  };
  if (flags.temperature !== undefined) {
    const t = Number(flags.temperature);
    const seed = Number(flags.seed);
    if (!(t > 0) || !Number.isFinite(t)) throw new UsageError(`--temperature must be a positive number, got ${JSON.stringify(flags.temperature)}`, 'omit it for greedy decoding');
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${JSON.stringify(flags.seed)}`);
    if (flags.autoregressive) throw new UsageError('--temperature applies to speculative sampling; --autoregressive is greedy only');
    shape.sampling = { temperature: t, seed, vocabSize: cfg.vocabSize };
  }
  const env = await backendEnv(flags.backend);
  const run = flags.checkFinite ? checkFinite(env.run, build.dtype) : env.run;
  out.info(`generating with ${model.definition.name} on ${flags.backend} (beam width ${build.beamWidth}, length ${build.beamLength})`);
  const t0 = performance.now();
  let tokens: bigint[][];
  let steps: { length: number; accepted: number[] }[] = [];
  if (flags.autoregressive) tokens = await autoregressiveGenerate(def.llmGraph!(opts), run, prompt, shape, textIO.onTokens);
  else {
    const r = await redrafterGenerate(def.stepGraph(opts, !!shape.sampling), run, prompt, shape, (i, len, _n, grown) => (textIO.onTokens ? textIO.onTokens(grown) : out.progress('generate', Math.min(len, maxLength), maxLength)));
    tokens = r.outputIds;
    steps = r.lengthsPerStep.map((length, i) => ({ length, accepted: r.acceptedPerStep[i] }));
  }
  const seconds = (performance.now() - t0) / 1000;
  const pad = BigInt(cfg.padTokenId);
  const rows = finishedRows(tokens, prompt, cfg.padTokenId, cfg.eosTokenIds).map((r) => r.map(Number));
  const generated = rows.reduce((a, r, b) => a + r.length - prompt[b].filter((t) => t !== pad).length, 0);
  const meanAccepted = steps.length ? steps.reduce((a, s) => a + s.accepted.reduce((x, y) => x + y, 0) / s.accepted.length, 0) / steps.length : 0;
  // Tokens per step = accepted drafts + the one token the LLM adds itself.
  const result = {
    model: model.definition.name,
    backend: flags.backend,
    mode: flags.autoregressive ? 'autoregressive' : shape.sampling ? 'redrafter-sampling' : 'redrafter',
    tokens: rows,
    steps: steps.length,
    meanAcceptedPerStep: +meanAccepted.toFixed(3),
    meanTokensPerStep: steps.length ? +(meanAccepted + 1).toFixed(3) : 1,
    perStep: steps,
    generatedTokens: generated,
    seconds: +seconds.toFixed(3),
    tokensPerSecond: +(generated / seconds).toFixed(2),
  };
  const text = [
    ...rows.map((r, i) => `row ${i}: ${r.join(' ')}`),
    flags.autoregressive ? `${generated} tokens in ${result.seconds}s` : `${steps.length} steps, mean accepted tokens per step ${result.meanAcceptedPerStep} (${result.meanTokensPerStep} tokens per step), ${result.tokensPerSecond} tokens/s`,
  ].join('\n');
  textIO.checkGenerated(rows, prompt.map((r) => r.filter((t) => t !== BigInt(cfg.padTokenId)).length));
  if (!textIO.tokenizer) return out.result(result, text);
  // Text in, text out: the decoded text on stdout (streamed for one row), the numbers on stderr.
  const texts = textIO.texts(rows);
  const streamed = textIO.endStream(rows);
  out.result({ ...result, prompts: textIO.rendered, text: texts }, streamed ? '' : texts.map((t, i) => (rows.length > 1 ? `[${i}] ${t}` : t)).join('\n'));
  if (!out.json) out.info(text.split('\n').pop()!);
}
