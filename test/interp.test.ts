/** The reference interpreter's own contract: input checks, exact int64, half rounding, layer edge cases. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { Network, buildNetwork } from '../dsl/network.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import { UsageError } from '../dsl/errors.js';

function single(build: (net: Network) => void) {
  return buildNetwork('t', build);
}

describe('input checks', () => {
  const g = single((net) => {
    const x = net.input('x', 'float32', ['batch', 3], { batch: { min: 1, opt: 2, max: 4 } });
    const y = net.input('y', 'float32', ['batch', 3]);
    net.markOutput(net.addLayer({ kind: 'elementwise', op: 'sum', inputs: [x.id, y.id] })[0], 'z');
  });
  const ok = hostTensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]);
  it('names a missing input and lists the expected ones', () => {
    expect(() => runGraph(g, { x: ok })).toThrow(/input 'y' \(float32\[batch, 3\]\) is missing/);
  });
  it('rejects wrong dtype, rank, static dim, inconsistent and out-of-range named dims', () => {
    expect(() => runGraph(g, { x: hostTensor('int32', [2, 3], [1, 2, 3, 4, 5, 6]), y: ok })).toThrow(/input 'x' has dtype int32, expected float32/);
    expect(() => runGraph(g, { x: hostTensor('float32', [6], [1, 2, 3, 4, 5, 6]), y: ok })).toThrow(/expected rank 2/);
    expect(() => runGraph(g, { x: hostTensor('float32', [3, 2], [1, 2, 3, 4, 5, 6]), y: ok })).toThrow(/dim 1 is 2, expected 3/);
    expect(() => runGraph(g, { x: ok, y: hostTensor('float32', [1, 3], [1, 2, 3]) })).toThrow(/'batch'\) is 1, but another input set 'batch' = 2/);
    expect(() => runGraph(g, { x: hostTensor('float32', [5, 3], Array(15).fill(0)), y: hostTensor('float32', [5, 3], Array(15).fill(0)) })).toThrow(/outside the declared range \[1, 4\]/);
    expect(() => runGraph(g, { x: ok, y: ok, w: ok })).toThrow(UsageError);
  });
});

describe('exact int64 and half precision', () => {
  it('adds int64 beyond 2^53 exactly and casts half types with round-to-nearest-even', () => {
    const g = single((net) => {
      const a = net.input('a', 'int64', [2]);
      const one = net.constant([1n, 3n], 'int64', [2]);
      net.markOutput(net.addLayer({ kind: 'elementwise', op: 'sum', inputs: [a.id, one.id] })[0], 'sum');
      const f = net.input('f', 'float32', [3]);
      net.markOutput(net.addLayer({ kind: 'cast', inputs: [f.id], dtype: 'float16' })[0], 'h');
      net.markOutput(net.addLayer({ kind: 'cast', inputs: [f.id], dtype: 'bfloat16' })[0], 'b');
    });
    const r = runGraph(g, { a: hostTensor('int64', [2], [2n ** 60n + 1n, -(2n ** 62n)]), f: hostTensor('float32', [3], [1 + 2 ** -11, 65520, 1 + 2 ** -8]) });
    expect(Array.from(r.sum.data as BigInt64Array)).toEqual([2n ** 60n + 2n, -(2n ** 62n) + 3n]);
    expect(toNumbers(r.h)).toEqual([1, Infinity, 1.00390625]); // ties to even; 65520 overflows to inf
    expect(toNumbers(r.b)).toEqual([1, 65536, 1]);
  });
});

describe('layer edge cases', () => {
  it('topk ties resolve to the lower index; slice with a negative stride; gather_nd with batch dims', () => {
    const g = single((net) => {
      const x = net.input('x', 'float32', [1, 5]);
      const [v, i] = net.addLayer({ kind: 'topk', inputs: [x.id], op: 'max', k: 3, axis: 1 });
      net.markOutput(v, 'v');
      net.markOutput(i, 'i');
      net.markOutput(net.addLayer({ kind: 'slice', inputs: [x.id], start: [0, 4], size: [1, 3], stride: [1, -2], mode: 'strict' })[0], 'rev');
      const d = net.input('d', 'float32', [2, 3, 2]);
      const idx = net.constant([2n, 0n], 'int64', [2, 1]);
      net.markOutput(net.addLayer({ kind: 'gather', inputs: [d.id, idx.id], mode: 'nd', axis: 0, nbElementWiseDims: 1 })[0], 'nd');
    });
    const r = runGraph(g, { x: hostTensor('float32', [1, 5], [2, 7, 2, 7, 1]), d: hostTensor('float32', [2, 3, 2], Array.from({ length: 12 }, (_, k) => k)) });
    expect(toNumbers(r.v)).toEqual([7, 7, 2]);
    expect(toNumbers(r.i)).toEqual([1, 3, 0]);
    expect(toNumbers(r.rev)).toEqual([1, 2, 2]);
    expect(r.nd.shape).toEqual([2, 2]);
    expect(toNumbers(r.nd)).toEqual([4, 5, 6, 7]);
  });
  it('an out-of-range gather index names the layer', () => {
    const g = single((net) => {
      const x = net.input('x', 'float32', [3]);
      const i = net.input('i', 'int64', [1]);
      net.markOutput(net.addLayer({ kind: 'gather', inputs: [x.id, i.id], mode: 'default', axis: 0, nbElementWiseDims: 0 })[0], 'y');
    });
    expect(() => runGraph(g, { x: hostTensor('float32', [3], [1, 2, 3]), i: hostTensor('int64', [1], [7]) })).toThrow(/gather 'gather'.*index 7 is out of range for a dim of size 3/);
  });
});

describe('topk selection for small k', () => {
  // k * 16 <= n takes the selection path; it must rank exactly as a stable full sort:
  // NaN first, then by value, ties to the lower index.
  it('matches a stable sort on lines full of ties and NaNs, largest and smallest', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, 1, 2, -1, 2.5, NaN), { minLength: 48, maxLength: 200 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), (xs, k, largest) => {
        const g = single((net) => {
          const x = net.input('x', 'float32', [1, xs.length]);
          const [v, i] = net.addLayer({ kind: 'topk', inputs: [x.id], op: largest ? 'max' : 'min', k, axis: 1 });
          net.markOutput(v, 'v');
          net.markOutput(i, 'i');
        });
        const r = runGraph(g, { x: hostTensor('float32', [1, xs.length], xs) });
        const want = xs
          .map((v, j) => [v, j] as const)
          .sort(([a, p], [b, q]) => (Number.isNaN(a) || Number.isNaN(b) ? (Number.isNaN(a) && Number.isNaN(b) ? p - q : Number.isNaN(a) ? -1 : 1) : a === b ? p - q : largest ? b - a : a - b))
          .slice(0, k);
        expect(toNumbers(r.i!)).toEqual(want.map(([, j]) => j));
        expect(toNumbers(r.v!)).toEqual(want.map(([v]) => v));
      }),
      { numRuns: 200 },
    );
  });
});
