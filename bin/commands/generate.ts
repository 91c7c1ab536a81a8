/**
 * `redraft generate`: ReDrafter speculative decoding from a model (`--model`) or from a build
 * output (`--engine DIR`) on the interpreter, ONNX Runtime or the TensorRT plan executor.
 */
import { UsageError } from '../../dsl/errors.js';
import { backendEnv } from '../../builders/conformance/env.js';
import { checkFinite } from '../../builders/generate/finite.js';
import { autoregressiveGenerate, finishedRows, redrafterGenerate, type GenerationShape } from '../../builders/generate/loop.js';
import type { Graph } from '../../dsl/ir.js';
import type { Runner } from '../../builders/generate/loop.js';
import type { RedrafterDefinition } from '../../models/redrafter/engine.js';
import type { Output } from '../output.js';
import { buildConfigFrom, buildOptionsFrom, resolveModel, type ModelFlags } from '../model.js';
import { tpLaunchFromEnv } from '../../builders/trt/tp.js';
import { rankStepGraph, refuseTpBackend, tpGeneration, tpOf, type TpFlags } from '../tp.js';
import { prepareText, type TextFlags, type TextSession } from './generate-text.js';
import { checkLimits, checkRankBackend, defaultBackend, engineModelFlags, engineRunner, ENGINE_BACKENDS, type EngineBackend } from '../engine.js';

export interface GenerateFlags extends ModelFlags, TextFlags, TpFlags {
  promptIds?: string;
  maxLength?: string;
  /** interp | onnx (with --model); with --engine also plan | trt, default the engine's target. */
  backend?: string;
  /** A `redraft build` output directory: model, dtype, beam shape and limits come from its config.json. */
  engine?: string;
  autoregressive?: boolean;
  temperature?: string;
  /** Seed of the sampling uniforms (default 0); only with sampling (--temperature or --sample). */
  seed?: string;
  checkFinite?: boolean;
}

/** `--prompt-ids` rows, ragged: every id is an ordinary token (no padding, no special id). */
function parsePrompt(s: string, vocab: number): bigint[][] {
  const rows = s.split(';').map((r, i) => {
    if (!r.trim()) throw new UsageError(`--prompt-ids row ${i} is empty`, 'pass comma-separated integer ids, rows separated by ; (e.g. 5,6,7;8,9)');
    return r.split(',').map((x) => {
      const t = x.trim();
      const v = /^\d+$/.test(t) ? Number(t) : NaN;
      if (!Number.isSafeInteger(v) || v >= vocab) throw new UsageError(`--prompt-ids row ${i}: ${JSON.stringify(t)} is not a token id in [0, ${vocab})`, 'pass comma-separated integer ids, rows separated by ; (e.g. 5,6,7;8,9)');
      return BigInt(v);
    });
  });
  if (!rows.length) throw new UsageError('--prompt-ids is empty', 'pass e.g. --prompt-ids 5,6,7');
  return rows;
}

/** Everything a generation run needs, resolved and checked (generate, bench and doctor --smoke share it). */
export interface PreparedGeneration {
  name: string;
  backend: string;
  def: RedrafterDefinition;
  prompt: bigint[][];
  shape: GenerationShape;
  stepGraph: Graph;
  /** The LLM-only graph (--autoregressive); not part of an engine directory, so --model only. */
  llmGraph?: Graph;
  run: Runner;
  /** Real tokens added to the prompts (after each row's first EOS nothing counts). */
  generatedTokens(sequences: bigint[][]): number;
  /** Text prompts and decoded output (--prompt, --prompt-file, --chat). */
  textIO: TextSession;
  /** This process's place when it runs one rank of a --tp build (REDRAFT_TP_SIZE). */
  tp?: { rank: number; size: number };
}

/**
 * `how.tpLaunch`: the caller runs a launched rank (generate): under REDRAFT_TP_SIZE (builders/trt/tp.ts)
 * --engine opens this process's rank of a --tp build; other callers refuse a --tp build.
 */
export async function prepareGeneration(flags: GenerateFlags, out: Output, how: { tpLaunch?: boolean } = {}): Promise<PreparedGeneration> {
  let engine: ReturnType<typeof engineModelFlags>['engine'] | undefined;
  const launch = flags.engine && how.tpLaunch ? tpLaunchFromEnv() : undefined;
  if (flags.engine) ({ engine, flags } = engineModelFlags(flags.engine, flags, { launch, launchable: how.tpLaunch }));
  const backend = flags.backend ?? (engine ? defaultBackend(engine) : 'interp');
  if (!(ENGINE_BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`unknown backend '${backend}'`, `use --backend ${ENGINE_BACKENDS.join(', ')}`);
  if (engine) checkRankBackend(engine, backend);
  if (!engine && (backend === 'plan' || backend === 'trt')) throw new UsageError(`--backend ${backend} runs a build output`, `build first (redraft build --target ${backend} --out DIR), then pass --engine DIR`);
  if (engine && flags.autoregressive) throw new UsageError('--autoregressive runs the LLM-only graph, which an engine directory does not hold', 'pass the model with --model (and --drafter) for plain greedy decoding');
  const build = buildConfigFrom(flags);
  // ONNX Runtime holds the weights itself: stream them to it from the checkpoint, keep no copy.
  // A launched rank reads only its slices, streamed (as build --tp does), to hash its graph.
  const model = await resolveModel(flags, out, { lazyWeights: backend === 'onnx' || !!engine?.rank });
  const def = model.definition as Partial<RedrafterDefinition>;
  if (!def.stepGraph || !def.llmConfig) throw new UsageError(`model '${model.definition.name}' is not a ReDrafter model`, 'generate needs a built-in ReDrafter model or --model DIR --drafter DIR');
  const cfg = def.llmConfig;
  // Text prompts, generation_config.json's defaults (EOS ids, length, sampling): bin/commands/generate-text.ts.
  const textIO = prepareText(flags, model.llm?.dir, cfg, out, { maxSeq: build.maxSeq });
  const maxLength = Number(flags.maxLength);
  // Ragged rows: each row's own length is sent to the engine, nothing is padded.
  const prompt = textIO.rows ? textIO.rows.map((r) => r.map(BigInt)) : parsePrompt(flags.promptIds!, cfg.vocabSize);
  const longest = Math.max(...prompt.map((r) => r.length));
  // The length bound: the build's --max-seq (its profile holds no longer sequence, on every
  // backend), or the positions the model was trained for where fewer. Errors name the flag given.
  const where = engine ? `engine ${engine.dir}` : `${flags.maxBatch || flags.maxSeq || flags.config ? '' : 'default '}build settings`;
  const maxPositions = cfg.maxPositionEmbeddings ?? 1 << 16;
  const bound = Math.min(maxPositions, build.maxSeq);
  const bySeq = build.maxSeq <= maxPositions;
  const boundText = bySeq ? `the build's --max-seq ${build.maxSeq} (${where})` : `${maxPositions} (max_position_embeddings)`;
  if (!/^\d+$/.test(flags.maxLength!) || maxLength <= longest)
    throw new UsageError(`--max-length must be an integer above the prompt length (${longest}) and at most ${boundText}, got ${JSON.stringify(flags.maxLength)}`);
  if (maxLength > bound) {
    const given = textIO.lengthFlag;
    const rebuild = bySeq ? `, or build with --max-seq ${maxLength} or more` : '';
    const room = bound - longest;
    if (given?.flag === '--max-new-tokens')
      throw new UsageError(`--max-new-tokens ${given.value} after the ${longest}-token prompt makes ${maxLength} tokens, beyond ${boundText}`, `${room >= 1 ? `pass --max-new-tokens ${room} or less` : `shorten the prompt to at most ${bound - 1} tokens`}${rebuild}`);
    if (given) throw new UsageError(`--max-length ${maxLength} exceeds ${boundText}`, `pass --max-length ${bound} or less${rebuild}`);
    throw new UsageError(`the longest prompt (${longest} tokens) leaves no room to generate within ${boundText}`, `shorten the prompt to at most ${bound - 1} tokens${rebuild}`);
  }
  // The build's profile bounds every request, on every backend: rows <= max batch (length: above).
  checkLimits(prompt.length, maxLength, build, where);
  const opts = await buildOptionsFrom(build, model, out);
  const shape: GenerationShape = {
    // Each row stops at its own --max-length or EOS.
    beamWidth: build.beamWidth, beamLength: build.beamLength, maxLength, stopping: 'row', eosTokenIds: cfg.eosTokenIds,
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, kvDtype: build.dtype,
  };
  if (flags.temperature !== undefined) {
    const t = Number(flags.temperature);
    const seed = Number(flags.seed ?? '0');
    if (!(t > 0) || !Number.isFinite(t)) throw new UsageError(`--temperature must be a positive number, got ${JSON.stringify(flags.temperature)}`, 'omit it for greedy decoding');
    if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got ${JSON.stringify(flags.seed)}`);
    if (flags.autoregressive) throw new UsageError('--temperature applies to speculative sampling; --autoregressive is greedy only');
    if (engine) throw new UsageError('--temperature needs a step graph with sampling inputs, which an engine directory does not hold', 'pass the model with --model for speculative sampling');
    shape.sampling = { temperature: t, seed, vocabSize: cfg.vocabSize };
  }
  // A seed only seeds sampling: refused where decoding is greedy, as --greedy with --temperature is.
  if (!shape.sampling && flags.seed !== undefined)
    throw new UsageError(`--seed seeds sampling, but this run decodes greedily${flags.greedy ? ' (--greedy)' : flags.autoregressive ? ' (--autoregressive)' : ''}`, 'pass --temperature T (or --sample) with it, or drop --seed');
  // --tp N: every rank's graph on the multi-rank simulator, behind one runner (bin/tp.ts).
  const tp = tpOf(flags);
  if (tp.size > 1 && (engine || tp.rank !== undefined)) throw new UsageError(engine ? '--tp with --engine: generate runs a tensor-parallel build from its model (--model ... --tp N); its rank engines run one process per GPU' : '--rank builds or exports one rank; generate runs all of them', engine ? 'pass --model (and --drafter) with --tp N' : 'drop --rank');
  refuseTpBackend(backend, tp.size);
  const tpRun = tp.size > 1 ? tpGeneration(def as RedrafterDefinition, opts, tp.size, !!shape.sampling, !!flags.autoregressive, (await backendEnv(backend)).run, out) : undefined;
  // A launched rank of a --tp build: the rank graph build --tp compiled, its own kv heads (bin/tp.ts).
  const rank = engine?.rank ? rankStepGraph(def as RedrafterDefinition, opts, engine.rank, cfg.numKvHeads, out) : undefined;
  if (rank) shape.numKvHeads = rank.kvHeads;
  const stepGraph = tpRun?.stepGraph ?? rank?.graph ?? def.stepGraph(opts, !!shape.sampling);
  const base = tpRun?.run ?? (engine ? await engineRunner(engine, stepGraph, backend as EngineBackend, out, { launch }) : (await backendEnv(backend)).run);
  return {
    name: model.definition.name,
    backend,
    def: def as RedrafterDefinition,
    prompt,
    shape,
    stepGraph,
    llmGraph: flags.autoregressive ? tpRun?.llmGraph ?? def.llmGraph!(opts) : undefined,
    run: flags.checkFinite !== false ? checkFinite(base, build.dtype) : base,
    textIO,
    tp: engine?.rank ? { rank: engine.rank.rank, size: engine.rank.size } : undefined,
    generatedTokens: (seqs) => finishedRows(seqs, prompt, cfg.eosTokenIds).reduce((a, r, b) => a + r.length - prompt[b]!.length, 0),
  };
}

/**
 * Under a tensor-parallel launch (REDRAFT_TP_SIZE, one process per rank) every rank runs the same
 * loop and computes the same tokens; only rank 0 prints the result (with --json, the document
 * carries `tensorParallel: { rank: 0, size }`), the other ranks print nothing on stdout and one
 * line on stderr.
 */
export async function generate(flags: GenerateFlags, out: Output): Promise<void> {
  const g = await prepareGeneration(flags, out, { tpLaunch: true });
  const { prompt, shape, def } = g;
  const silent = !!g.tp && g.tp.rank !== 0;
  const textIO: TextSession = silent ? { ...g.textIO, onTokens: undefined } : g.textIO; // no stream to stdout off rank 0
  const cfg = def.llmConfig;
  const maxLength = shape.maxLength;
  out.info(`generating with ${g.name} on ${g.backend}${flags.engine ? ` from ${flags.engine}` : ''} (beam width ${shape.beamWidth}, length ${shape.beamLength})`);
  const t0 = performance.now();
  let tokens: bigint[][];
  let steps: { length: number; accepted: number[] }[] = [];
  if (g.llmGraph) tokens = await autoregressiveGenerate(g.llmGraph, g.run, prompt, shape, textIO.onTokens);
  else {
    const r = await redrafterGenerate(g.stepGraph, g.run, prompt, shape, (i, len, _n, grown) => (textIO.onTokens ? textIO.onTokens(grown) : out.progress('generate', Math.min(len, maxLength), maxLength)));
    tokens = r.sequences;
    steps = r.lengthsPerStep.map((length, i) => ({ length, accepted: r.acceptedPerStep[i]! }));
  }
  const seconds = (performance.now() - t0) / 1000;
  const rows = finishedRows(tokens, prompt, cfg.eosTokenIds).map((r) => r.map(Number));
  const generated = g.generatedTokens(tokens);
  const meanAccepted = steps.length ? steps.reduce((a, s) => a + s.accepted.reduce((x, y) => x + y, 0) / s.accepted.length, 0) / steps.length : 0;
  // Tokens per step = accepted drafts + the one token the LLM adds itself.
  const result = {
    model: g.name,
    backend: g.backend,
    engine: flags.engine,
    mode: g.llmGraph ? 'autoregressive' : shape.sampling ? 'redrafter-sampling' : 'redrafter',
    tokens: rows,
    steps: steps.length,
    meanAcceptedPerStep: +meanAccepted.toFixed(3),
    // No draft–verify step (the context call's token already ended every row): no rate to report.
    meanTokensPerStep: steps.length ? +(meanAccepted + 1).toFixed(3) : null,
    perStep: steps,
    generatedTokens: generated,
    seconds: +seconds.toFixed(3),
    tokensPerSecond: +(generated / seconds).toFixed(2),
    ...(g.tp ? { tensorParallel: g.tp } : {}),
  };
  if (silent) return out.info(`rank ${g.tp!.rank} of ${g.tp!.size}: ${steps.length} step${steps.length === 1 ? '' : 's'}, ${generated} token${generated === 1 ? '' : 's'} in ${result.seconds}s (rank 0 prints the result)`);
  const text = [
    ...rows.map((r, i) => `row ${i}: ${r.join(' ')}`),
    g.llmGraph
      ? `${generated} tokens in ${result.seconds}s`
      : steps.length
        ? `${steps.length} step${steps.length === 1 ? '' : 's'}, mean accepted tokens per step ${result.meanAcceptedPerStep} (${result.meanTokensPerStep} token${result.meanTokensPerStep === 1 ? '' : 's'} per step), ${result.tokensPerSecond} tokens/s`
        : `0 steps: the context call's token ended every row (--max-length or EOS), nothing was drafted; ${generated} token${generated === 1 ? '' : 's'} in ${result.seconds}s`,
  ].join('\n');
  if (!textIO.tokenizer) return out.result(result, text);
  // Text in, text out: the decoded text on stdout (streamed for one row), the numbers on stderr.
  const texts = textIO.texts(rows);
  const streamed = textIO.endStream(rows);
  out.result({ ...result, prompts: textIO.rendered, text: texts }, streamed ? '' : texts.map((t, i) => (rows.length > 1 ? `[${i}] ${t}` : t)).join('\n'));
  if (!out.json) out.info(text.split('\n').pop()!);
}
