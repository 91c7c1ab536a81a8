// A model every CPU backend runs but TensorRT would refuse, one TensorRT-only rule per line
// (test/trt-constraints.test.ts checks the lines named by `redraft build --target plan`).
import { buildNetwork } from '../dsl/network.js';
import { eq, neg, topk, where, cast, add } from '../ops/index.js';
import { defineModel } from '../models/definition.js';

export default defineModel({
  name: 'trt-refuses',
  build(opts) {
    return buildNetwork('trt-refuses', (net) => {
      const x = net.input('x', 'float32', ['batch', 2, 2, 2, 6], { batch: { min: 1, opt: 1, max: opts.maxBatch } });
      const i = net.input('i', 'int32', ['batch', 3]);
      const m = net.input('m', 'bool', ['batch', 3]);
      const [v] = topk(x, 2, 0); // line 14: TopK over axis 0 of a rank-5 tensor
      const n = neg(i); // line 15: kNEG on int32
      const same = eq(m, m); // line 16: kEQUAL on bool
      const s = where(same, cast(n, 'int8'), cast(i, 'int8')); // line 17: select on int8
      net.markOutput(v, 'v');
      net.markOutput(add(cast(s, 'int32'), i), 'y');
    });
  },
});
