/**
 * The combined ReDrafter engine graph: one call verifies the previous step's draft beams with
 * the base LLM under tree attention, accepts the longest matching prefix, and runs the
 * drafter's beam search for the next step — no logits leave the engine.
 *
 * Rows may mix context (prompt) and generation (verify) work, as TensorRT-LLM's in-flight
 * batching does. Every row carries both a prompt slot (T tokens) and a draft slot (W·L packed
 * beam tokens); `is_context` picks which one the row uses. The LLM runs once over
 * [prompt ; packed beams] with a mask that keeps the two slots apart.
 */
import type { DType } from '../../dsl/dtype.js';
import type { Graph } from '../../dsl/ir.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { buildNetwork } from '../../dsl/network.js';
import {
  add, arange, argmax, cast, concat, div, eq, expand, gather_nd, gt, log_softmax, logical_and, logical_not, max, mul, permute, select, shape, slice,
  softmax, sub, sum, unsqueeze, view, where,
} from '../../ops/index.js';
import type { LoadedModel } from '../env.js';
import type { BuildOptions, ModelDefinition } from '../definition.js';
import { llamaConfigFromHf, type LlamaConfig } from '../llama/config.js';
import { llama_forward, llamaWeights, type LlamaWeights } from '../llama/model.js';
import { choose_from_candidates, greedy_choose_from_candidates, greedy_prepare_next_input, prepare_next_input, sample_from } from './accept.js';
import { beam_search_candidates } from './beam_search.js';
import { drafterConfigFromHf, drafterWeights, type DrafterWeights } from './drafter.js';
import { warp_logits } from './logits.js';
import { select_one_per_row } from './select.js';
import { count_left_paddings, pack, unpack } from './tree_attention.js';

export interface EngineShape {
  beamWidth: number;
  beamLength: number;
  maxBatch: number;
  maxSeq: number;
  dtype: DType;
  /** Speculative sampling (temperature, input uniforms) instead of greedy acceptance. */
  sampling?: boolean;
}

/** Names, dtypes and dims of the step graph's inputs and outputs (README: "The ReDrafter engine graph"). */
export const STEP_IO = {
  inputs: {
    is_context: 'bool [batch]: true for rows that process a prompt this call',
    input_ids: 'int64 [batch, prompt]: left-padded prompt (context rows; generation rows pass pads)',
    beams: 'int64 [batch, W, L]: the previous call\'s draft beams (generation rows)',
    past_padding_mask: 'int64 [batch, past]: 1 where the KV cache holds a real token',
    past_kv: 'dtype [layers, 2, batch, kv_heads, past, head_dim]: the KV cache',
  },
  outputs: {
    next_beams: 'int64 [batch, W, L]: the drafter\'s beams for the next call (column 0 is the next token)',
    next_log_probs: 'float [batch, W, L-1, vocab]: their draft log-probs',
    accepted_tokens: 'int64 [batch, L]: the chosen beam (generation rows); keep the first n_accepted+1',
    n_accepted: 'int64 [batch]: drafted tokens accepted (generation rows)',
    selected_kv: 'dtype [layers, 2, batch, kv_heads, L, head_dim]: KV of the chosen beam (generation rows)',
    prompt_kv: 'dtype [layers, 2, batch, kv_heads, prompt, head_dim]: KV of the prompt (context rows)',
  },
} as const;

interface Weights {
  llm: LlamaWeights;
  drafter: DrafterWeights;
}

function loadWeights(net: Network, cfg: LlamaConfig, llm: LoadedModel, drafter: LoadedModel, dtype: DType): Weights {
  return { llm: llamaWeights(net, cfg, llm.weights, dtype), drafter: drafterWeights(net, drafterConfigFromHf(drafter.config), drafter.weights, dtype) };
}

/** The step graph (see STEP_IO). */
export function buildStepGraph(llm: LoadedModel, drafter: LoadedModel, s: EngineShape, name = 'redrafter_step'): Graph {
  const cfg = llamaConfigFromHf(llm.config);
  const { beamWidth: W, beamLength: L } = s;
  const N = W * L;
  return buildNetwork(name, (net) => {
    const batch = { min: 1, opt: 1, max: s.maxBatch };
    net.dimRange('batch', batch);
    net.dimRange('prompt', { min: 1, opt: Math.min(32, s.maxSeq), max: s.maxSeq });
    net.dimRange('past', { min: 0, opt: Math.min(64, s.maxSeq), max: s.maxSeq });
    const is_context = net.input('is_context', 'bool', ['batch']);
    const input_ids = net.input('input_ids', 'int64', ['batch', 'prompt']);
    const beams = net.input('beams', 'int64', ['batch', W, L]);
    const past_mask = net.input('past_padding_mask', 'int64', ['batch', 'past']);
    const past_kv = net.input('past_kv', s.dtype, [cfg.numLayers, 2, 'batch', cfg.numKvHeads, 'past', cfg.headDim]);
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
    const w = loadWeights(net, cfg, llm, drafter, s.dtype);
    const T = shape(input_ids, 1);
    const B = shape(input_ids, 0);
    const P = shape(past_mask, 1);

    // Prompt slot: causal over real prompt tokens, positions counted from the first real token.
    const promptReal = cast(logical_not(eq(input_ids, cfg.padTokenId)), 'int64'); // (B, T)
    const tIdx = arange(0, T, 'int64');
    const causal = logical_not(gt(unsqueeze(tIdx, 0), unsqueeze(tIdx, 1))); // (T, T): col <= row
    const promptMask = logical_and(unsqueeze(causal, 0), gt(unsqueeze(promptReal, 1), 0)); // (B, T, T)
    const promptPos = sub(unsqueeze(tIdx, 0), unsqueeze(count_left_paddings(input_ids, cfg.padTokenId), 1)); // (B, T)

    // Draft slot: the previous beams packed into a prefix tree over W·L slots.
    const packed = pack(beams, past_mask);
    const realPast = sum(past_mask, 1); // (B): tokens in the cache
    const draftPos = add(unsqueeze(realPast, 1), packed.position_offsets); // (B, N)

    // One LLM pass over [prompt ; packed]; keys are [past ; prompt ; packed].
    // pack's mask is [history (P) ; tree (N)] per packed row.
    const hist = slice(packed.causal_mask, [0, 0, 0], [B, N, P]); // (B, N, P)
    const tree = slice(packed.causal_mask, [0, 0, P], [B, N, N]); // (B, N, N)
    const rowsPrompt = concat([noAttention(net, B, T, P), promptMask, noAttention(net, B, T, N)], 2); // (B, T, P+T+N)
    const rowsDraft = concat([hist, noAttention(net, B, N, T), tree], 2); // (B, N, P+T+N)
    const mask = concat([rowsPrompt, rowsDraft], 1);
    const ids = concat([input_ids, packed.packed_beams], 1);
    const positions = concat([promptPos, draftPos], 1);
    // Sliding-window layers (Mistral, Qwen with use_sliding_window) compare query and key
    // positions in the graph: the cache is left-padded and contiguous, so past slot j holds position j - pads.
    const key_positions = cfg.layerWindows.some((win) => win !== null)
      ? concat([sub(unsqueeze(arange(0, P, 'int64'), 0), unsqueeze(sub(P, realPast), 1)), promptPos, draftPos], 1)
      : undefined;
    // Dynamic NTK: the prompt slot sees the batch's longest prompt (one forward over it), each
    // draft token its own position + 1 (as decoding it alone would).
    const rope_len = cfg.rope.type === 'dynamic' ? concat([add(mul(promptPos, 0), add(max(promptPos, [0, 1]), 1)), add(draftPos, 1)], 1) : undefined;
    const out = llama_forward(cfg, w.llm, { input_ids: ids, attention_mask: mask, position_ids: positions, past_kv, key_positions, rope_len });

    // Context rows: the token after the prompt and the hidden state of the last prompt token.
    const lastPrompt = sub(T, 1);
    const ctxHidden = select(out.hidden_states, 1, lastPrompt); // (B, H)
    const ctxLogits = warp_logits(select(out.logits, 1, lastPrompt)); // (B, V)
    const ctxToken = sampling
      ? sample_from(softmax(div(ctxLogits, unsqueeze(sampling.temperature, 1)), -1), sampling.uniform_sample)
      : argmax(ctxLogits, -1, false, 'int64'); // (B)

    // Generation rows: unpack the draft slot, accept greedily, prepare the drafter's input.
    const draftLogits = slice(out.logits, [0, T, 0], [B, N, cfg.vocabSize]);
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

    // KV to keep: the prompt's entries (context) or the chosen beam's entries (generation).
    const kv = out.present_kv; // (layers, 2, B, kvh, P+T+N, hd)
    const dims = [cfg.numLayers, 2] as const;
    const prompt_kv = slice(kv, [0, 0, 0, 0, P, 0], [dims[0], dims[1], B, cfg.numKvHeads, T, cfg.headDim]);
    const draftKv = slice(kv, [0, 0, 0, 0, add(P, T), 0], [dims[0], dims[1], B, cfg.numKvHeads, N, cfg.headDim]);
    // selected_kv[..., b, :, l, :] = draftKv[..., b, :, unpacker[b, seq_in_beam[b], l], :]
    const slots = select_one_per_row(packed.unpacker, seq_in_beam); // (B, L)
    const selected_kv = gatherSlots(draftKv, slots, cfg, L);

    net.markOutput(next.beams, 'next_beams');
    net.markOutput(next.log_probs, 'next_log_probs');
    net.markOutput(select_one_per_row(beams, seq_in_beam), 'accepted_tokens');
    net.markOutput(where(is_context, mul(n_accepted, 0), n_accepted), 'n_accepted');
    net.markOutput(selected_kv, 'selected_kv');
    net.markOutput(prompt_kv, 'prompt_kv');
  });
}

/** An all-false (B, rows, cols) mask block. */
function noAttention(net: Network, B: Tensor, rows: Tensor | number, cols: Tensor | number): Tensor {
  return expand(net.constant([0], 'bool', [1, 1, 1]), concat([B, rows, cols]));
}

/** kv (layers, 2, B, kvh, N, hd), slots (B, L) → (layers, 2, B, kvh, L, hd). */
function gatherSlots(kv: Tensor, slots: Tensor, cfg: LlamaConfig, L: number): Tensor {
  // Move B to the front, gather along the slot dim with one batch dim, move back.
  const t = view(permuteTo(kv, [2, 4, 0, 1, 3, 5]), concat([shape(slots, 0), shape(kv, 4), -1])); // (B, N, layers*2*kvh*hd)
  const g = select_one_rows(t, slots); // (B, L, layers*2*kvh*hd)
  const back = view(g, concat([shape(slots, 0), L, cfg.numLayers, 2, cfg.numKvHeads, cfg.headDim]));
  return permuteTo(back, [2, 3, 0, 4, 1, 5]);
}

const permuteTo = (x: Tensor, p: number[]) => permute(x, p);
const select_one_rows = (x: Tensor, idx: Tensor) => gather_nd(x, unsqueeze(idx, -1), 1);

/** The LLM alone, one forward with a KV cache: plain greedy decoding for comparison. */
export function buildLlmStepGraph(llm: LoadedModel, s: EngineShape): Graph {
  const cfg = llamaConfigFromHf(llm.config);
  return buildNetwork('llm_step', (net) => {
    net.dimRange('batch', { min: 1, opt: 1, max: s.maxBatch });
    net.dimRange('seq', { min: 1, opt: 1, max: s.maxSeq });
    net.dimRange('past', { min: 0, opt: Math.min(16, s.maxSeq), max: s.maxSeq });
    const input_ids = net.input('input_ids', 'int64', ['batch', 'seq']);
    const mask = net.input('attention_mask', 'bool', ['batch', 'seq', '(past+seq)']);
    const positions = net.input('position_ids', 'int64', ['batch', 'seq']);
    const past_kv = net.input('past_kv', s.dtype, [cfg.numLayers, 2, 'batch', cfg.numKvHeads, 'past', cfg.headDim]);
    const w = llamaWeights(net, cfg, llm.weights, s.dtype);
    // Sliding windows: rows are left-padded and contiguous, so key slot j of row b is at
    // position j - pads[b], and pads[b] = past - position_ids[b, 0].
    const past = shape(past_kv, 4);
    const key_positions = cfg.layerWindows.some((win) => win !== null)
      ? sub(unsqueeze(arange(0, add(past, shape(input_ids, 1)), 'int64'), 0), unsqueeze(sub(past, select(positions, 1, 0)), 1))
      : undefined;
    const out = llama_forward(cfg, w, { input_ids, attention_mask: mask, position_ids: positions, past_kv, key_positions });
    const last = select(out.logits, 1, sub(shape(input_ids, 1), 1));
    net.markOutput(argmax(warp_logits(last), -1, false, 'int64'), 'next_token');
    net.markOutput(out.present_kv, 'present_kv');
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
  const llmConfig = llamaConfigFromHf(llm.config);
  const shapeOf = (o: BuildOptions): EngineShape => ({ beamWidth: o.beamWidth, beamLength: o.beamLength, maxBatch: o.maxBatch, maxSeq: o.maxSeq, dtype: o.dtype });
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
  };
}
