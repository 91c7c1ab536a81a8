/** Logit processing of the drafter and the verifier (the reference's maintain/warp_logits). */
import type { Tensor } from '../../dsl/network.js';
import { lt, max, slice, sub, topk, where, shape } from '../../ops/index.js';

/** The reference's LOG_0: what warped-out logits are set to. */
export const LOG_0 = -50000;

/** logits minus their max over the vocabulary (last dim). */
export function maintain_logits(logits: Tensor): Tensor {
  return sub(logits, max(logits, -1, true));
}

/** Top-k warping: entries strictly below the k-th largest are set to LOG_0 (k ≤ vocab). */
export function warp_logits(logits: Tensor, top_k = 50, mask_value = LOG_0): Tensor {
  const vocab = logits.size(-1);
  const k = typeof vocab === 'number' ? Math.min(top_k, vocab) : top_k;
  const [values] = topk(logits, k, -1);
  const rank = logits.rank;
  const starts = values.shape.map((_, i) => (i === rank - 1 ? k - 1 : 0));
  const sizes = values.shape.map((d, i) => (i === rank - 1 ? 1 : typeof d === 'number' ? d : shape(values, i)));
  const kth = slice(values, starts, sizes);
  return where(lt(logits, kth), mask_value, logits);
}


