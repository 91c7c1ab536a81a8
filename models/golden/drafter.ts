/** Golden programs for the drafter suite. */
import { beam_search_candidates } from '../redrafter/beam_search.js';
import { compute_logits, drafterConfigFromHf, drafterWeights } from '../redrafter/drafter.js';
import { attrNumber, runOnCase, type GoldenProgram } from './types.js';

export const drafterPrograms: Record<string, GoldenProgram> = {
  compute_logits: (c, env) => {
    const m = env.loadModel(c.models.drafter);
    const cfg = drafterConfigFromHf(m.config);
    return runOnCase(c, env, ({ x }, net) => ({ logits: compute_logits(drafterWeights(net, cfg, m.weights), x, attrNumber(c, 'top_k', 50)) }));
  },
  beam_search_candidates: (c, env) => {
    const m = env.loadModel(c.models.drafter);
    const cfg = drafterConfigFromHf(m.config);
    return runOnCase(c, env, ({ prompt_state, init_token, embeddings }, net) => {
      const r = beam_search_candidates(drafterWeights(net, cfg, m.weights), prompt_state, init_token, embeddings, attrNumber(c, 'beam_width'), attrNumber(c, 'beam_length'));
      return { beams: r.beams, log_probs: r.log_probs };
    });
  },
};
