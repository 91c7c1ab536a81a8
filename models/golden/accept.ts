/** Golden programs for the accept suite. */
import { choose_from_candidates, greedy_choose_from_candidates, greedy_prepare_next_input, prepare_next_input } from '../redrafter/accept.js';
import { runOnCase, type GoldenProgram } from './types.js';

export const acceptPrograms: Record<string, GoldenProgram> = {
  greedy_choose_from_candidates: (c, env) =>
    runOnCase(c, env, ({ beams_by_drafter, beams_by_llm }) => {
      const [n_tokens_in_seq, seq_in_beam] = greedy_choose_from_candidates(beams_by_drafter, beams_by_llm);
      return { n_tokens_in_seq, seq_in_beam };
    }),
  choose_from_candidates: (c, env) =>
    runOnCase(c, env, ({ beams, log_probs_by_llm, log_probs_by_drafter, uniform }) => {
      const [n_tokens_in_seq, seq_in_beam] = choose_from_candidates(beams, log_probs_by_llm, log_probs_by_drafter, uniform);
      return { n_tokens_in_seq, seq_in_beam };
    }),
  greedy_prepare_next_input: (c, env) =>
    runOnCase(c, env, ({ beams_by_llm, last_hidden_state, seq_in_beam, n_tokens_in_seq }) => {
      const [last_token_state, next_tokens] = greedy_prepare_next_input(beams_by_llm, last_hidden_state, seq_in_beam, n_tokens_in_seq);
      return { last_token_state, next_tokens };
    }),
  prepare_next_input: (c, env) =>
    runOnCase(c, env, ({ log_probs_by_drafter, log_probs_by_llm, last_hidden_state, seq_in_beam, n_tokens_in_seq }) => {
      const [last_token_state, next_token_probs] = prepare_next_input(log_probs_by_drafter, log_probs_by_llm, last_hidden_state, seq_in_beam, n_tokens_in_seq);
      return { last_token_state, next_token_probs };
    }),
};
