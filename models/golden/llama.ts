/** Golden programs for the llama suite. */
import { llamaConfigFromHf } from '../llama/config.js';
import { llama_forward, llamaWeights } from '../llama/model.js';
import type { Tensor } from '../../dsl/network.js';
import { runOnCase, type GoldenProgram } from './types.js';

export const llamaPrograms: Record<string, GoldenProgram> = {
  llama_forward: (c, env) => {
    const m = env.loadModel(c.models.llm);
    const cfg = llamaConfigFromHf(m.config);
    return runOnCase(c, env, ({ input_ids, attention_mask, position_ids, past_kv }, net) => {
      const w = llamaWeights(net, cfg, m.weights);
      const out = llama_forward(cfg, w, { input_ids, attention_mask, position_ids, past_kv });
      const res: Record<string, Tensor> = past_kv ? { logits: out.logits, hidden_states: out.hidden_states } : { logits: out.logits, hidden_states: out.hidden_states, present_kv: out.present_kv };
      return res;
    });
  },
};
