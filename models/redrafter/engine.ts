/**
 * The combined ReDrafter engine graph: one call verifies the previous step's draft beams with
 * the base LLM under tree attention, accepts the longest matching prefix, and runs the
 * drafter's beam search for the next step — no logits leave the engine.
 *
 * Rows may mix context (prompt) and generation (verify) work, as TensorRT-LLM's in-flight
 * batching does. Every row carries both a prompt slot (T tokens) and a draft slot (W·L packed
 * beam tokens); `is_context` picks which one the row uses. The LLM runs once over
 * [prompt ; packed beams] with a mask that keeps the two slots apart.
 *
 * The KV cache is per layer, [batch, kv_heads, capacity, head_dim], and stays where it is: each
 * layer writes the call's new entries at the row's cache length (kv_cache_update, in place on
 * TensorRT), attends the whole cache under a mask built from the lengths, and after acceptance
 * moves the chosen beam's entries next to the history. The host only sends beams and lengths.
 */
import type { DType } from '../../dsl/dtype.js';
import { UsageError } from '../../dsl/errors.js';
import type { Graph } from '../../dsl/ir.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { buildNetwork } from '../../dsl/network.js';
import {
  add, arange, argmax, concat, div, expand, gather, gather_nd, gt, kv_cache_update, log_softmax, logical_and, logical_not, logical_or, lt, max, maximum,
  minimum, mul, shape, slice, softmax, squeeze, sub, unsqueeze, view, where,
} from '../../ops/index.js';
import type { LoadedModel } from '../env.js';
import type { BuildOptions, ModelDefinition, TensorParallelLayout } from '../definition.js';
import { rankShards, tpNotes, type TensorParallel } from '../llama/tp.js';
import { llamaShardWeights } from '../llama/tp-weights.js';
import { llamaConfigFromHf, type LlamaConfig } from '../llama/config.js';
import { llama_forward_cached, llamaWeights, type LayerCache, type LlamaWeights } from '../llama/model.js';
import type { QuantScheme } from '../llama/linear.js';
import { choose_from_candidates, greedy_choose_from_candidates, greedy_prepare_next_input, prepare_next_input, sample_from } from './accept.js';
import { beam_search_candidates } from './beam_search.js';
import { drafterConfigFromHf, drafterWeights, type DrafterWeights } from './drafter.js';
import { warp_logits } from './logits.js';
import { select_one_per_row } from './select.js';
import { pack_tree, unpack } from './tree_attention.js';

export interface EngineShape {
  beamWidth: number;
  beamLength: number;
  maxBatch: number;
  maxSeq: number;
  dtype: DType;
  /** Speculative sampling (temperature, input uniforms) instead of greedy acceptance. */
  sampling?: boolean;
  /** Base-model weight quantization (--quantize); the drafter stays in `dtype` unless quantizeDrafter. */
  quantize?: QuantScheme;
  /** Quantize the drafter's weights with the same scheme (--quantize-drafter). */
  quantizeDrafter?: boolean;
  /** Tensor parallelism (--tp): build rank tp.rank's graph (models/llama/tp.ts); the drafter is replicated. */
  tp?: TensorParallel;
}

/** Names, dtypes and dims of the step graph's inputs and outputs (README: "The ReDrafter engine graph"). */
export const STEP_IO = {
  inputs: {
    is_context: 'bool [batch]: true for rows that process a prompt chunk this call',
    input_ids: 'int64 [batch, prompt]: prompt tokens, left-aligned; slots past prompt_lengths[b] are not read (any id in [0, vocab): the graph still embeds them)',
    prompt_lengths: 'int64 [batch]: real tokens in input_ids (context rows; 0 for generation rows)',
    beams: 'int64 [batch, W, L]: the previous call\'s draft beams (generation rows)',
    cache_lengths: 'int64 [batch]: tokens already in each row\'s cache (positions 0..len-1)',
    'k_cache_<l>, v_cache_<l>': 'dtype [batch, kv_heads, capacity, head_dim]: per-layer caches (capacity >= cache_lengths + prompt + W·L)',
  },
  outputs: {
    next_beams: 'int64 [batch, W, L]: the drafter\'s beams for the next call (column 0 is the next token)',
    next_log_probs: 'float [batch, W, L-1, vocab]: their draft log-probs',
    accepted_tokens: 'int64 [batch, L]: the chosen beam (generation rows); keep the first n_accepted+1',
    n_accepted: 'int64 [batch]: drafted tokens accepted (generation rows)',
    next_cache_lengths: 'int64 [batch]: cache_lengths + prompt_lengths (context) or + n_accepted + 1 (generation)',
    'k_cache_<l>_out, v_cache_<l>_out': 'in place of k_cache_<l>, v_cache_<l>: the caches with this call\'s entries kept',
  },
} as const;

interface Weights {
  llm: LlamaWeights;
  drafter: DrafterWeights;
}

function loadWeights(net: Network, cfg: LlamaConfig, llm: LoadedModel, drafter: LoadedModel, dtype: DType, quantize?: QuantScheme, tp?: TensorParallel, quantizeDrafter?: boolean): Weights {
  return { llm: baseWeights(net, cfg, llm, dtype, quantize, tp), drafter: drafterWeights(net, drafterConfigFromHf(drafter.config, `${drafter.dir}/config.json`), drafter.weights, dtype, quantizeDrafter ? quantize : undefined) };
}

/** The base model's weights: whole, or rank tp.rank's shards (and the graph's rank set for its collectives). */
function baseWeights(net: Network, cfg: LlamaConfig, llm: LoadedModel, dtype: DType, quantize?: QuantScheme, tp?: TensorParallel): LlamaWeights {
  if (!tp) return llamaWeights(net, cfg, llm.weights, dtype, quantize);
  if (cfg.quantization) throw new UsageError(`--tp ${tp.size} with a pre-quantized checkpoint (${cfg.quantization.method}) is not built yet: its packed weights, scales and zero points are not cut into shards`, 'build --tp from the float checkpoint (--quantize quantizes each rank\'s shards), or drop --tp');
  net.rank = tp.rank;
  return llamaShardWeights(net, cfg, llm.weights, dtype, tp, quantize);
}

/** The per-layer cache inputs k_cache_<l>, v_cache_<l>: [batch, kv_heads, capacity, head_dim]. */
function cacheInputs(net: Network, cfg: LlamaConfig, dtype: DType, tp?: TensorParallel): LayerCache[] {
  // Under tensor parallelism a rank caches the kv heads it holds.
  const kvh = tp ? len(rankShards(cfg, tp).kvHeads) : cfg.numKvHeads;
  return Array.from({ length: cfg.numLayers }, (_, l) => ({
    k: net.input(`k_cache_${l}`, dtype, ['batch', kvh, 'capacity', cfg.headDim]),
    v: net.input(`v_cache_${l}`, dtype, ['batch', kvh, 'capacity', cfg.headDim]),
  }));
}
const len = (r: readonly [number, number]) => r[1] - r[0];

/** Which slice of each cache every rank holds (builders/tp's layout; the other I/O is replicated). */
export function tpLayout(cfg: LlamaConfig, size: number): TensorParallelLayout {
  const ranks = Array.from({ length: size }, (_, rank) => {
    const { kvHeads } = rankShards(cfg, { rank, size });
    const spec = { axis: 1, start: kvHeads[0], end: kvHeads[1], full: cfg.numKvHeads };
    const io: Record<string, typeof spec> = {};
    for (let l = 0; l < cfg.numLayers; l++) for (const n of [`k_cache_${l}`, `v_cache_${l}`]) io[n] = io[`${n}_out`] = spec;
    return { io };
  });
  return { size, ranks, notes: tpNotes(cfg, size) };
}

/** Marks each updated cache as `<input>_out`, in place of its input. */
function markCaches(net: Network, inputs: LayerCache[], outputs: LayerCache[]): void {
  outputs.forEach((c, l) => {
    net.markOutput(c.k, `k_cache_${l}_out`, { inPlaceOf: inputs[l]!.k });
    net.markOutput(c.v, `v_cache_${l}_out`, { inPlaceOf: inputs[l]!.v });
  });
}

/** The dims every step graph declares; capacity holds the longest sequence plus one call's new entries. */
function declareDims(net: Network, s: EngineShape, extra: number, seqName: string, seqOpt: number): void {
  net.dimRange('batch', { min: 1, opt: 1, max: s.maxBatch });
  net.dimRange(seqName, { min: 1, opt: Math.min(seqOpt, s.maxSeq), max: s.maxSeq });
  net.dimRange('capacity', { min: 1, opt: Math.min(64, s.maxSeq) + extra, max: s.maxSeq + extra });
}

/** (1, 1, C) int64 slot indices of a cache of capacity C. */
const slotIndex = (C: Tensor) => view(arange(0, C, 'int64'), concat([1, 1, C]));
const col = (x: Tensor) => unsqueeze(unsqueeze(x, 1), 2); // (B) → (B, 1, 1)

/**
 * Masks of queries that are a row's next `T` sequence slots (prompt slot i at position cache_len + i):
 * causal, and only real tokens (i < prompt_len) are keys. (B, T, C).
 */
function promptMask(cache_lengths: Tensor, prompt_lengths: Tensor, T: Tensor, C: Tensor): Tensor {
  const j = slotIndex(C);
  const i = view(arange(0, T, 'int64'), concat([1, T, 1]));
  const cl = col(cache_lengths);
  return logical_and(logical_not(gt(j, add(cl, i))), lt(j, add(cl, col(prompt_lengths))));
}

/** The step graph (see STEP_IO). */
export function buildStepGraph(llm: LoadedModel, drafter: LoadedModel, s: EngineShape, name = 'redrafter_step'): Graph {
  const cfg = llamaConfigFromHf(llm.config, `${llm.dir}/config.json`);
  const { beamWidth: W, beamLength: L } = s;
  const N = W * L;
  return buildNetwork(name, (net) => {
    declareDims(net, s, N, 'prompt', 32);
    const is_context = net.input('is_context', 'bool', ['batch']);
    const input_ids = net.input('input_ids', 'int64', ['batch', 'prompt']);
    const prompt_lengths = net.input('prompt_lengths', 'int64', ['batch']);
    const beams = net.input('beams', 'int64', ['batch', W, L]);
    const cache_lengths = net.input('cache_lengths', 'int64', ['batch']);
    const caches = cacheInputs(net, cfg, s.dtype, s.tp);
    // Sampling inputs: temperature per row, the drafter log-probs of `beams` (the previous
    // call's next_log_probs) and uniforms, so runs are reproducible.
    const sampling = s.sampling
      ? {
          temperature: net.input('temperature', 'float32', ['batch']),
          prev_log_probs: net.input('prev_log_probs', 'float32', ['batch', W, L - 1, cfg.vocabSize]),
          uniform_accept: net.input('uniform_accept', 'float32', ['batch', W, L - 1]),
          uniform_sample: net.input('uniform_sample', 'float32', ['batch']),
        }
      : undefined;
    const w = loadWeights(net, cfg, llm, drafter, s.dtype, s.quantize, s.tp, s.quantizeDrafter);
    const T = shape(input_ids, 1);
    const B = shape(input_ids, 0);
    const C = shape(caches[0]!.k, 2);
    const cl = cache_lengths;

    // Each row writes T + N new entries at its cache length: the prompt slot (positions
    // cl + i), then the previous beams packed into a prefix tree (positions cl + depth).
    const packed = pack_tree(beams);
    const promptPos = add(unsqueeze(cl, 1), unsqueeze(arange(0, T, 'int64'), 0)); // (B, T)
    const draftPos = add(unsqueeze(cl, 1), packed.position_offsets); // (B, N)
    const ids = concat([input_ids, packed.packed_beams], 1);
    const positions = concat([promptPos, draftPos], 1);

    // Attention reads the whole updated cache: history (slot < cl), the prompt slot causally
    // up to prompt_len, the draft slot (cl + T + s) by the tree. No token id is special.
    const j = slotIndex(C); // (1, 1, C)
    const d = sub(j, add(col(cl), T)); // (B, 1, C): draft slot of cache slot j, if in [0, N)
    const inDraft = logical_and(logical_not(lt(d, 0)), lt(d, N));
    const dIdx = minimum(maximum(d, 0), N - 1);
    const treeCols = gather(packed.tree_mask, 2, expand(dIdx, concat([B, N, C]))); // (B, N, C)
    const draftMask = logical_or(lt(j, col(cl)), logical_and(treeCols, inDraft));
    const mask = concat([promptMask(cl, prompt_lengths, T, C), draftMask], 1); // (B, T+N, C)
    // Sliding-window layers compare query and key positions: cache slot j holds position j,
    // except the draft slot, whose keys sit at cl + their depth.
    const key_positions = cfg.layerWindows.some((win) => win !== null)
      ? where(squeeze(inDraft, 1), add(unsqueeze(cl, 1), gather(packed.position_offsets, 1, squeeze(dIdx, 1))), squeeze(add(j, mul(col(cl), 0)), 1))
      : undefined;
    // Dynamic NTK: the prompt slot sees the batch's longest context sequence (one forward over
    // it), each draft token its own position + 1 (as decoding it alone would).
    const ctxLen = max(where(is_context, add(cl, prompt_lengths), mul(cl, 0)), [0]);
    const rope_len = cfg.rope.type === 'dynamic' ? concat([add(mul(promptPos, 0), ctxLen), add(draftPos, 1)], 1) : undefined;
    // Under --tp the lm_head and its all_gather run on the rows acceptance reads only: each
    // row's last prompt token, then its N draft tokens (1 + N rows instead of T + N).
    const lastReal = maximum(sub(prompt_lengths, 1), 0);
    const logit_rows = s.tp ? concat([unsqueeze(lastReal, 1), expand(unsqueeze(add(arange(0, N, 'int64'), T), 0), concat([B, N]))], 1) : undefined; // (B, 1 + N)
    const out = llama_forward_cached(cfg, w.llm, { input_ids: ids, attention_mask: mask, position_ids: positions, caches, write_indices: cl, key_positions, rope_len, logit_rows });

    // Context rows: the token after the prompt and the hidden state of its last real token.
    const lastPrompt = maximum(sub(prompt_lengths, 1), 0);
    const ctxHidden = select_one_per_row(out.hidden_states, lastPrompt); // (B, H)
    const ctxLogits = warp_logits(logit_rows ? squeeze(slice(out.logits, [0, 0, 0], [B, 1, cfg.vocabSize]), 1) : select_one_per_row(out.logits, lastPrompt)); // (B, V)
    const ctxToken = sampling
      ? sample_from(softmax(div(ctxLogits, unsqueeze(sampling.temperature, 1)), -1), sampling.uniform_sample)
      : argmax(ctxLogits, -1, false, 'int64'); // (B)

    // Generation rows: unpack the draft slot, accept, prepare the drafter's input.
    const draftLogits = slice(out.logits, [0, logit_rows ? 1 : T, 0], [B, N, cfg.vocabSize]);
    const draftHidden = slice(out.hidden_states, [0, T, 0], [B, N, cfg.hiddenSize]);
    const llmLogits = unpack(warp_logits(draftLogits), packed.unpacker); // (B, W, L, V)
    const hiddenBeams = unpack(draftHidden, packed.unpacker);
    let n_accepted: Tensor, seq_in_beam: Tensor, genHidden: Tensor, genToken: Tensor;
    if (sampling) {
      const t = view(sampling.temperature, concat([B, 1, 1, 1]));
      const log_probs_by_llm = log_softmax(div(llmLogits, t), -1);
      [n_accepted, seq_in_beam] = choose_from_candidates(beams, log_probs_by_llm, sampling.prev_log_probs, sampling.uniform_accept);
      let probs: Tensor;
      [genHidden, probs] = prepare_next_input(sampling.prev_log_probs, log_probs_by_llm, hiddenBeams, seq_in_beam, n_accepted);
      genToken = sample_from(probs, sampling.uniform_sample);
    } else {
      const by_llm = argmax(llmLogits, -1, false, 'int64'); // (B, W, L)
      [n_accepted, seq_in_beam] = greedy_choose_from_candidates(beams, by_llm);
      [genHidden, genToken] = greedy_prepare_next_input(by_llm, hiddenBeams, seq_in_beam, n_accepted);
    }

    // Per row: which hidden state and first token seed the drafter.
    const state = where(unsqueeze(is_context, 1), ctxHidden, genHidden);
    const token = where(is_context, ctxToken, genToken);
    const next = beam_search_candidates(w.drafter, state, token, w.llm.embed, W, L);

    // Compaction in the engine: the chosen beam's L entries (cache slots cl + T + unpacker[b,
    // seq_in_beam[b], l]) move to cl, right after the history; the cache keeps n_accepted + 1
    // of them. Context rows already hold their prompt at cl..cl+prompt_len: they write these
    // (meaningless) entries past it, where the length masks never look.
    const slots = add(add(select_one_per_row(packed.unpacker, seq_in_beam), unsqueeze(cl, 1)), T); // (B, L)
    const writeAt = where(is_context, add(cl, prompt_lengths), cl);
    const kept = out.caches.map((c) => ({ k: kv_cache_update(c.k, gatherSlots(c.k, slots, cfg), writeAt), v: kv_cache_update(c.v, gatherSlots(c.v, slots, cfg), writeAt) }));
    const nAcc = where(is_context, mul(n_accepted, 0), n_accepted);

    net.markOutput(next.beams, 'next_beams');
    net.markOutput(next.log_probs, 'next_log_probs');
    net.markOutput(select_one_per_row(beams, seq_in_beam), 'accepted_tokens');
    net.markOutput(nAcc, 'n_accepted');
    net.markOutput(where(is_context, add(cl, prompt_lengths), add(add(cl, nAcc), 1)), 'next_cache_lengths');
    markCaches(net, caches, kept);
  });
}

/** cache (B, kvh, C, hd), slots (B, L) → (B, kvh, L, hd): one gather with two batch dims. */
function gatherSlots(cache: Tensor, slots: Tensor, cfg: LlamaConfig): Tensor {
  const idx = expand(unsqueeze(unsqueeze(slots, 1), -1), concat([shape(slots, 0), shape(cache, 1), shape(slots, 1), 1])); // (B, kvh, L, 1): the cache's heads (a rank's under --tp)
  return gather_nd(cache, idx, 2);
}

/**
 * The LLM alone on the same cache contract: plain greedy decoding for comparison. Rows are
 * left-aligned (prompt_lengths real tokens each, at positions cache_lengths + i); next_token
 * is the greedy token after each row's last real token.
 */
export function buildLlmStepGraph(llm: LoadedModel, s: EngineShape): Graph {
  const cfg = llamaConfigFromHf(llm.config, `${llm.dir}/config.json`);
  return buildNetwork('llm_step', (net) => {
    declareDims(net, s, 0, 'seq', 1);
    const input_ids = net.input('input_ids', 'int64', ['batch', 'seq']);
    const prompt_lengths = net.input('prompt_lengths', 'int64', ['batch']);
    const cache_lengths = net.input('cache_lengths', 'int64', ['batch']);
    const caches = cacheInputs(net, cfg, s.dtype, s.tp);
    const w = baseWeights(net, cfg, llm, s.dtype, s.quantize, s.tp);
    const T = shape(input_ids, 1);
    const C = shape(caches[0]!.k, 2);
    const positions = add(unsqueeze(cache_lengths, 1), unsqueeze(arange(0, T, 'int64'), 0)); // (B, T)
    const end = add(cache_lengths, prompt_lengths);
    // Cache slot j holds position j (sliding windows); dynamic NTK sees the longest row (one batched forward).
    const key_positions = cfg.layerWindows.some((win) => win !== null) ? squeeze(add(slotIndex(C), mul(col(cache_lengths), 0)), 1) : undefined;
    const rope_len = cfg.rope.type === 'dynamic' ? add(mul(positions, 0), max(end, [0])) : undefined;
    // Under --tp the lm_head and its all_gather run on each row's last real token only.
    const lastReal = maximum(sub(prompt_lengths, 1), 0);
    const logit_rows = s.tp ? unsqueeze(lastReal, 1) : undefined; // (B, 1)
    const out = llama_forward_cached(cfg, w, { input_ids, attention_mask: promptMask(cache_lengths, prompt_lengths, T, C), position_ids: positions, caches, write_indices: cache_lengths, key_positions, rope_len, logit_rows });
    const last = logit_rows ? squeeze(slice(out.logits, [0, 0, 0], [shape(input_ids, 0), 1, cfg.vocabSize]), 1) : select_one_per_row(out.logits, lastReal);
    net.markOutput(argmax(warp_logits(last), -1, false, 'int64'), 'next_token');
    net.markOutput(end, 'next_cache_lengths');
    markCaches(net, caches, out.caches);
  });
}

export interface RedrafterDefinition extends ModelDefinition {
  llm: LoadedModel;
  drafter: LoadedModel;
  llmConfig: LlamaConfig;
  /** The step graph for these options (what `build` compiles); `sampling` adds the sampling inputs. */
  stepGraph(opts: BuildOptions, sampling?: boolean): Graph;
  /** The LLM-only graph for plain greedy decoding. */
  llmGraph(opts: BuildOptions): Graph;
}

/** The ModelDefinition of a ReDrafter engine from a base model and its drafter. */
export function redrafterModel(llm: LoadedModel, drafter: LoadedModel, opts: { name: string }): RedrafterDefinition {
  const llmConfig = llamaConfigFromHf(llm.config, `${llm.dir}/config.json`);
  const shapeOf = (o: BuildOptions): EngineShape => ({ beamWidth: o.beamWidth, beamLength: o.beamLength, maxBatch: o.maxBatch, maxSeq: o.maxSeq, dtype: o.dtype, quantize: o.quantize, quantizeDrafter: o.quantizeDrafter, tp: o.tp && o.tp.size > 1 ? o.tp : undefined });
  return {
    name: opts.name,
    description: 'ReDrafter: Llama base model + RNN drafter, draft–verify–accept in one graph',
    config: { llm: llm.config, drafter: drafter.config },
    llm,
    drafter,
    llmConfig,
    build: (o) => buildStepGraph(llm, drafter, shapeOf(o)),
    stepGraph: (o, sampling = false) => buildStepGraph(llm, drafter, { ...shapeOf(o), sampling }),
    llmGraph: (o) => buildLlmStepGraph(llm, shapeOf(o)),
    tensorParallel: (size) => tpLayout(llmConfig, size),
  };
}
