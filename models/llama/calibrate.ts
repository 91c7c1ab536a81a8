/**
 * The calibration graph of `--quantize fp8 --calibrate`: the float base model over one prompt
 * (no cache, causal), with one extra output per projection, `amax.<weight name>` = max |x| of
 * the projection's input. The largest value over the prompts, / 448, is that projection's
 * per-tensor activation scale (models/llama/linear.ts).
 */
import type { DType } from '../../dsl/dtype.js';
import type { Graph } from '../../dsl/ir.js';
import { buildNetwork, Tensor } from '../../dsl/network.js';
import { abs, cast, max } from '../../ops/index.js';
import type { LoadedModel } from '../env.js';
import { llamaConfigFromHf } from './config.js';
import type { Projection } from './linear.js';
import { llama_forward, llamaWeights } from './model.js';

const PROJECTIONS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
const NAMES: Record<(typeof PROJECTIONS)[number], string> = {
  q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj',
};

/** Inputs: input_ids int64 [1, seq], attention_mask bool [1, seq, seq] (causal), position_ids int64 [1, seq]. */
export function buildCalibrationGraph(llm: LoadedModel, dtype: DType, maxSeq: number): Graph {
  const cfg = llamaConfigFromHf(llm.config, `${llm.dir}/config.json`);
  return buildNetwork('calibrate', (net) => {
    net.dimRange('seq', { min: 1, opt: Math.min(16, maxSeq), max: maxSeq });
    const input_ids = net.input('input_ids', 'int64', [1, 'seq']);
    const attention_mask = net.input('attention_mask', 'bool', [1, 'seq', 'seq']);
    const position_ids = net.input('position_ids', 'int64', [1, 'seq']);
    const w = llamaWeights(net, cfg, llm.weights, dtype);
    w.layers.forEach((lw, l) => {
      for (const p of PROJECTIONS) {
        const name = `model.layers.${l}.${NAMES[p]}.weight`;
        const weight = lw[p] as Projection;
        if (!(weight instanceof Tensor)) continue; // only float weights are calibrated
        const observed: Projection = { weight, observe: (x) => net.markOutput(cast(max(abs(x), [0, 1, 2]), 'float32'), `amax.${name}`) };
        lw[p] = observed;
      }
    });
    const out = llama_forward(cfg, w, { input_ids, attention_mask, position_ids });
    net.markOutput(out.logits, 'logits');
  });
}
