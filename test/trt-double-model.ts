// A model module for the CLI tests of the TensorRT double (test/trt-double-findings.test.ts):
// every layer kind, one op per line, so a rejected layer names a line of this file.
import { buildNetwork } from '../dsl/network.js';
import { defineModel } from '../models/definition.js';
import { add, arange, cast, concat, cumsum, exp, gather, gt, matmul, nonzero, relu, scatter, shape, slice, softmax, sum, topk, view, where } from '../ops/index.js';

export default defineModel({
  name: 'trt-double-every-kind',
  build(opts) {
    return buildNetwork('every', (net) => {
      const x = net.input('x', 'float32', ['batch', 4], { batch: { min: 1, opt: 1, max: opts.maxBatch } });
      const w = net.constant(new Float32Array(16).fill(0.25), 'float32', [4, 4], 'w');
      const h = relu(exp(matmul(x, w)));
      const y = softmax(h, -1);
      const n = shape(x, 0);
      const dims = concat([n, 1, 4]);
      const y3 = view(y, dims);
      const k = cast(topk(y, 2)[1], 'int64');
      const g = gather(y3, 2, view(k, concat([n, 1, 2])));
      const s = slice(y, [0, 1], [n, 4], undefined, 'fill', 2);
      const c = cumsum(sum(add(s, 1), 1, true), 1);
      const idx = view(arange(0, 2, 'int64'), [1, 2]);
      const sc = scatter(y, 1, idx, net.constant([9, 9], 'float32', [1, 2]));
      net.markOutput(g, 'g');
      net.markOutput(where(gt(c, 0), c, 0), 'c');
      net.markOutput(nonzero(gt(y, 0.2)), 'nz');
      net.markOutput(sc, 'sc');
    });
  },
});
