/**
 * The drafter's beam search (the reference's beam_search_candidates), unrolled over the
 * L − 1 RNN steps into one graph: top-W over W·V candidates per step, beam 0 alone live at
 * step 1, log-probs of every drafted token kept per beam.
 */
import type { Tensor } from '../../dsl/network.js';
import {
  add, cast, concat, constant, embedding, expand, floordiv, gather_nd, log_softmax, mod, shape, topk, unsqueeze,
  view, slice,
} from '../../ops/index.js';
import { compute_logits, rnn_step, type DrafterWeights } from './drafter.js';
import { LOG_0 } from './logits.js';

/** x[b, beam_idx[b, w]] for x (B, W, ...), beam_idx (B, W): the reference's _gather_beams. */
export function gather_beams(x: Tensor, beam_idx: Tensor): Tensor {
  return gather_nd(x, unsqueeze(beam_idx, -1), 1);
}

export interface BeamSearchResult {
  /** (B, W, L) int64: the init token then L − 1 drafted tokens per beam. */
  beams: Tensor;
  /** (B, W, L − 1, V): log-probs of each drafted position. */
  log_probs: Tensor;
}

/**
 * prompt_state (B, H): hidden state of the last accepted token; init_token (B) int64: the
 * token the LLM produced after it; embeddings (V, H): the LLM's embedding table.
 */
export function beam_search_candidates(dw: DrafterWeights, prompt_state: Tensor, init_token: Tensor, embeddings: Tensor, beam_width: number, beam_length: number): BeamSearchResult {
  if (!Number.isInteger(beam_width) || beam_width < 1) throw new Error(`beam_search_candidates: beam_width must be a positive integer, got ${beam_width}`);
  if (!Number.isInteger(beam_length) || beam_length < 2) throw new Error(`beam_search_candidates: beam_length must be >= 2, got ${beam_length}`);
  const W = beam_width;
  const V = dw.cfg.vocabSize;
  const H = dw.cfg.hiddenSize;
  const dtype = prompt_state.dtype;
  const B = shape(prompt_state, 0);
  // Only beam 0 is live at the first step, so the first top-k spreads its tokens over all beams.
  // Beam scores are float32 (compute_logits is): -50000 + -50000 is -inf in float16.
  let log_p_beam: Tensor = constant([0, ...Array(W - 1).fill(LOG_0)], 'float32', [1, W]);
  const context = expand(unsqueeze(prompt_state, 1), concat([B, W, H]));
  let beams = expand(view(cast(init_token, 'int64'), concat([B, 1, 1])), concat([B, W, 1]));
  let state: Tensor = expand(cast(constant(0, 'float32', []), dtype), concat([B, W, H]));
  let log_p_token_in_beam: Tensor | undefined;
  for (let step = 0; step < beam_length - 1; step++) {
    const last = view(gather_last(beams, step + 1), concat([B, W]));
    state = rnn_step(dw, embedding(last, embeddings), state);
    const log_p_new_token = log_softmax(compute_logits(dw, concat([context, state], -1)), -1); // (B, W, V)
    const log_p_beam_new_token = add(log_p_new_token, unsqueeze(log_p_beam, 2));
    const [top_values, top_idx32] = topk(view(log_p_beam_new_token, concat([B, W * V])), W, -1);
    log_p_beam = top_values;
    const top_idx = cast(top_idx32, 'int64');
    const top_token_ids = mod(top_idx, V);
    const top_beam_indices = floordiv(top_idx, V);
    beams = concat([gather_beams(beams, top_beam_indices), unsqueeze(top_token_ids, -1)], -1);
    state = gather_beams(state, top_beam_indices);
    const chosen = unsqueeze(gather_beams(log_p_new_token, top_beam_indices), 2);
    log_p_token_in_beam = log_p_token_in_beam ? concat([gather_beams(log_p_token_in_beam, top_beam_indices), chosen], 2) : chosen;
  }
  return { beams, log_probs: log_p_token_in_beam! };
}

/** beams[:, :, n-1:n] (B, W, 1): the last token of each beam. */
function gather_last(beams: Tensor, n: number): Tensor {
  return slice(beams, [0, 0, n - 1], [shape(beams, 0), shape(beams, 1), 1]);
}
