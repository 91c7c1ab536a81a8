/**
 * Acceptance of draft beams (the reference's recurrent_drafting.py): choose the beam with
 * the longest accepted prefix, then prepare the drafter's next input. Greedy and sampling.
 */
import type { Tensor } from '../../dsl/network.js';
import {
  arange, argmax, cast, cumprod, cumsum, eq, exp, gather, lt, max, relu, slice, squeeze, sub, sum, unsqueeze,
  where, shape, mul,
} from '../../ops/index.js';
import { select_one_per_row } from './select.js';

/** x[..., a:b] along the last dim (static bounds). */
function lastDimSlice(x: Tensor, a: number, b: number): Tensor {
  const r = x.rank;
  return slice(x, x.shape.map((_, i) => (i === r - 1 ? a : 0)), x.shape.map((d, i) => (i === r - 1 ? b - a : typeof d === 'number' ? d : shape(x, i))));
}
/** x[:, :, a:b, ...] along dim 2 (static bounds). */
function dim2Slice(x: Tensor, a: number, b: number): Tensor {
  return slice(x, x.shape.map((_, i) => (i === 2 ? a : 0)), x.shape.map((d, i) => (i === 2 ? b - a : typeof d === 'number' ? d : shape(x, i))));
}
function staticLen(t: Tensor, i: number): number {
  const d = t.size(i);
  if (typeof d !== 'number') throw new Error(`dim ${i} of ${t} must be static (beam length is a build-time parameter)`);
  return d;
}

/** max over beams with the index of the first maximum: (values, indices), both int64. */
function max_over_beams(n_tokens: Tensor): [Tensor, Tensor] {
  return [max(n_tokens, -1), argmax(n_tokens, -1, false, 'int64')];
}

/**
 * Longest exact-match prefix: beams_by_drafter[:, :, 1:] vs beams_by_llm[:, :, :-1].
 * Returns n_tokens_in_seq (B) and seq_in_beam (B), int64; ties → lowest beam.
 */
export function greedy_choose_from_candidates(beams_by_drafter: Tensor, beams_by_llm: Tensor): [Tensor, Tensor] {
  const L = staticLen(beams_by_drafter, 2);
  const compare = cast(eq(dim2Slice(beams_by_drafter, 1, L), dim2Slice(beams_by_llm, 0, L - 1)), 'int64');
  const n_tokens = sum(cumprod(compare, -1), -1); // (B, W)
  return max_over_beams(n_tokens);
}

/**
 * Speculative sampling acceptance: token k of a beam is accepted while
 * uniform < exp(log P_llm − log Q_drafter). `uniform` (B, W, L−1) is an input.
 */
export function choose_from_candidates(beams: Tensor, log_probs_by_llm: Tensor, log_probs_by_drafter: Tensor, uniform: Tensor): [Tensor, Tensor] {
  const L = staticLen(beams, 2);
  const llm = dim2Slice(log_probs_by_llm, 0, L - 1);
  const drafted = unsqueeze(dim2Slice(beams, 1, L), -1);
  const by_drafter = squeeze(gather(log_probs_by_drafter, -1, drafted), -1);
  const by_llm = squeeze(gather(llm, -1, drafted), -1);
  const compare = cast(lt(uniform, exp(sub(by_llm, by_drafter))), 'int64');
  const n_tokens = sum(cast(eq(cumsum(compare, -1), arange(1, L, 'int64')), 'int64'), -1);
  return max_over_beams(n_tokens);
}

/** Greedy: the LLM's token after the accepted prefix, and the hidden state that seeds the drafter. */
export function greedy_prepare_next_input(beams_by_llm: Tensor, last_hidden_state: Tensor, seq_in_beam: Tensor, n_tokens_in_seq: Tensor): [Tensor, Tensor] {
  const selected_seqs = select_one_per_row(beams_by_llm, seq_in_beam); // (B, L)
  const next_tokens = select_one_per_row(selected_seqs, n_tokens_in_seq); // (B)
  const selected_state = select_one_per_row(last_hidden_state, seq_in_beam); // (B, L, H)
  const last_token_state = select_one_per_row(selected_state, n_tokens_in_seq); // (B, H)
  return [last_token_state, next_tokens];
}

/**
 * Sampling: the unnormalised distribution of the next token — relu(P − Q) at the first
 * rejected position, or P of the last position when the whole beam was accepted — and the
 * hidden state that seeds the drafter.
 */
export function prepare_next_input(
  log_probs_by_drafter: Tensor,
  log_probs_by_llm: Tensor,
  last_hidden_state: Tensor,
  seq_in_beam: Tensor,
  n_tokens_in_seq: Tensor,
): [Tensor, Tensor] {
  const L = staticLen(log_probs_by_llm, 2);
  const candidate_length = L - 1;
  const last_llm = squeeze(dim2Slice(log_probs_by_llm, L - 1, L), 2); // (B, W, V)
  const llm = dim2Slice(log_probs_by_llm, 0, L - 1);
  const sel_drafter = select_one_per_row(log_probs_by_drafter, seq_in_beam); // (B, L-1, V)
  const sel_llm = select_one_per_row(llm, seq_in_beam);
  const sel_last = select_one_per_row(last_llm, seq_in_beam); // (B, V)
  const sel_state = select_one_per_row(last_hidden_state, seq_in_beam); // (B, L, H)
  const n = cast(n_tokens_in_seq, 'int64');
  const whole = eq(n, candidate_length); // (B)
  const next_index = sub(n, cast(whole, 'int64'));
  const p = exp(select_one_per_row(sel_llm, next_index));
  const q = exp(select_one_per_row(sel_drafter, next_index));
  const probs = where(unsqueeze(whole, -1), exp(sel_last), relu(sub(p, q)));
  const last_token_state = select_one_per_row(sel_state, n);
  return [last_token_state, probs];
}

/**
 * Draws one token per row from unnormalised `probs` (B, V) with `uniform` (B) in [0, 1):
 * the first index whose cumulative mass exceeds uniform · total (inverse CDF).
 */
export function sample_from(probs: Tensor, uniform: Tensor): Tensor {
  const cdf = cumsum(probs, -1);
  const total = slice(cdf, [0, (probs.size(-1) as number) - 1], [shape(probs, 0), 1]);
  const target = mul(unsqueeze(uniform, -1), total);
  const below = cast(lt(cdf, target), 'int64'); // 1 while the mass is still below target
  const idx = sum(below, -1);
  const V = probs.size(-1) as number;
  return where(lt(idx, V), idx, V - 1);
}


