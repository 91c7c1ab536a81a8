/**
 * A custom drafter: two stacked RNN layers instead of ReDrafter's one, the same residual
 * head, and a beam-search step (top-k over beams × vocabulary). Build it with
 *
 *   npx redraft build --model models/examples/custom-drafter.ts --target onnx --out out
 *
 * Weights are generated from a seed so the example is self-contained; a real drafter would
 * load them from safetensors (see models/redrafter/drafter.ts).
 */
import { buildNetwork } from '../../dsl/network.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { mulberry32 } from '../../dsl/random.js';
import {
  add, cast, concat, embedding, floordiv, linear, log_softmax, mod, shape, silu, topk, unsqueeze, view, expand,
} from '../../ops/index.js';
import { defineModel } from '../definition.js';
import { maintain_logits, warp_logits } from '../redrafter/logits.js';

const VOCAB = 64;
const HIDDEN = 32;
const EXIT = 64;

function seeded(seed: number) {
  const next = mulberry32(seed);
  return () => (next() - 0.5) * 0.4;
}

function weight(net: Network, next: () => number, name: string, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return net.constant(Float32Array.from({ length: n }, next), 'float32', shape, name);
}

/** One RNN layer: s' = silu(W e + U s + b). */
function rnnLayer(net: Network, next: () => number, i: number, input: Tensor, state: Tensor): Tensor {
  const w = weight(net, next, `rnn.${i}.w`, [HIDDEN, HIDDEN]);
  const u = weight(net, next, `rnn.${i}.u`, [HIDDEN, HIDDEN]);
  const b = weight(net, next, `rnn.${i}.b`, [HIDDEN]);
  return silu(add(linear(input, w), linear(state, u, b)));
}

export default defineModel({
  name: 'custom-drafter',
  description: 'a drafter with two stacked RNN layers and one beam-search step',
  config: { vocab_size: VOCAB, hidden_size: HIDDEN, exit_dim: EXIT, rnn_layers: 2 },
  build(opts) {
    const W = opts.beamWidth;
    return buildNetwork('custom-drafter', (net) => {
      const next = seeded(7);
      const batch = { min: 1, opt: 1, max: opts.maxBatch };
      const context = net.input('context', 'float32', ['batch', HIDDEN], { batch });
      const tokens = net.input('tokens', 'int64', ['batch', W], { batch });
      const state0 = net.input('state', 'float32', ['batch', W, HIDDEN], { batch });
      const log_p_beam = net.input('log_p_beam', 'float32', ['batch', W], { batch });
      const table = weight(net, next, 'embeddings', [VOCAB, HIDDEN]);

      const e = embedding(tokens, table); // (batch, W, H)
      const s1 = rnnLayer(net, next, 0, e, state0);
      const s2 = rnnLayer(net, next, 1, s1, s1);
      const ctx = expand(unsqueeze(context, 1), concat([shape(context, 0), W, HIDDEN]));
      const proj = weight(net, next, 'input_proj.w', [EXIT, 2 * HIDDEN]);
      let h = linear(concat([ctx, s2], -1), proj);
      h = add(h, silu(linear(h, weight(net, next, 'block.w', [EXIT, EXIT]), weight(net, next, 'block.b', [EXIT]))));
      const logits = warp_logits(maintain_logits(linear(h, weight(net, next, 'head.w', [VOCAB, EXIT]))));
      const scores = add(log_softmax(logits, -1), unsqueeze(log_p_beam, 2)); // (batch, W, V)
      const [best, idx] = topk(view(scores, concat([shape(scores, 0), W * VOCAB])), W, -1);
      const flat = cast(idx, 'int64');
      net.markOutput(best, 'next_log_p_beam');
      net.markOutput(mod(flat, VOCAB), 'next_tokens');
      net.markOutput(floordiv(flat, VOCAB), 'parent_beams');
      net.markOutput(s2, 'next_state');
    });
  },
});
