import { describe, expect, it } from 'vitest';
import {
  add, argmax, clip, cumprod, cumsum, div, embedding, eq, exp, floordiv, gelu, gt, layer_norm, linear, log_softmax,
  matmul, max, mean, mod, mul, prod, relu, rms_norm, rsqrt, sigmoid, silu, softmax, sub, sum, topk, logical_and, cast,
} from '../ops/index.js';
import { bool, build, expectDslError, f32, i32, i64, run } from './ops-util.js';

const close = (got: number[], want: number[], tol = 1e-5) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]), `index ${i}: got ${g}, want ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]))));
};

describe('elementwise', () => {
  it('broadcasts across ranks and takes numbers', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      const y = net.input('y', 'float32', [3]);
      return { s: add(x, y), d: sub(x, 1), m: mul(2, y), q: div(x, y) };
    }, { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), y: f32([3], [1, 2, 4]) });
    expect(r.s.values).toEqual([2, 4, 7, 5, 7, 10]);
    expect(r.d.values).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.m.values).toEqual([2, 4, 8]);
    close(r.q.values, [1, 1, 0.75, 4, 2.5, 1.5]);
  });
  it('floordiv and mod follow Python for negative ints, int64 included', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'int64', [4]);
      return { q: floordiv(a, 3), m: mod(a, 3), qi: floordiv(cast(a, 'int32'), -2), mi: mod(cast(a, 'int32'), -2) };
    }, { a: i64([4], [7, -7, 6, -1]) });
    expect(r.q.values).toEqual([2, -3, 2, -1]);
    expect(r.m.values).toEqual([1, 2, 0, 2]);
    expect(r.qi.values).toEqual([-4, 3, -3, 0]);
    expect(r.mi.values).toEqual([-1, -1, 0, -1]);
  });
  it('compares to bool and combines bools', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'int32', [3]);
      return { g: gt(a, 1), e: eq(a, 2), and: logical_and(gt(a, 0), eq(a, 2)) };
    }, { a: i32([3], [0, 2, 3]) });
    expect(r.g.dtype).toBe('bool');
    expect(r.g.values).toEqual([0, 1, 1]);
    expect(r.e.values).toEqual([0, 1, 0]);
    expect(r.and.values).toEqual([0, 1, 0]);
  });
  it('names both shapes when they do not broadcast', () => {
    expectDslError(() => build((net) => ({ y: add(net.input('a', 'float32', [2, 3]), net.input('b', 'float32', [4])) })), 'ops-math.test.ts', /add: arguments 'input' \[2, 3\] and 'other' \[4\] do not broadcast/);
  });
  it('rejects mixed dtypes with a cast hint', () => {
    expectDslError(() => build((net) => ({ y: add(net.input('a', 'float32', [2]), net.input('b', 'int32', [2])) })), 'ops-math.test.ts', /add: arguments 'input' \(float32\) and 'other' \(int32\) must have the same dtype/);
  });
});

describe('activations and unary', () => {
  it('computes relu, sigmoid, silu, gelu, rsqrt, exp, clip', async () => {
    const xs = [-2, -0.5, 0, 0.5, 2];
    const r = await run((net) => {
      const x = net.input('x', 'float32', [5]);
      return { relu: relu(x), sig: sigmoid(x), silu: silu(x), gelu: gelu(x), gt: gelu(x, 'tanh'), exp: exp(x), clip: clip(x, -1, 1), rs: rsqrt(add(mul(x, x), 1)) };
    }, { x: f32([5], xs) });
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    expect(r.relu.values).toEqual([0, 0, 0, 0.5, 2]);
    close(r.sig.values, xs.map(sig));
    close(r.silu.values, xs.map((z) => z * sig(z)));
    // gelu(x) = x * Phi(x); Phi(0.5) = 0.691462461274013, Phi(2) = 0.977249868051821
    close(r.gelu.values, [-2 * (1 - 0.977249868051821), -0.5 * (1 - 0.691462461274013), 0, 0.5 * 0.691462461274013, 2 * 0.977249868051821]);
    close(r.gt.values, r.gelu.values, 1e-3);
    close(r.exp.values, xs.map(Math.exp));
    expect(r.clip.values).toEqual([-1, -0.5, 0, 0.5, 1]);
    close(r.rs.values, xs.map((z) => 1 / Math.sqrt(z * z + 1)));
  });
  it('rejects integer input to float-only ops', () => {
    expectDslError(() => build((net) => ({ y: exp(net.input('a', 'int32', [2])) })), 'ops-math.test.ts', /exp: argument 'input' has dtype int32; expected float32 \| float16 \| bfloat16/);
  });
});

describe('matmul and linear', () => {
  it('multiplies batched matrices with broadcasting and transposes', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'float32', [2, 2, 3]);
      const b = net.input('b', 'float32', [3, 2]);
      return { ab: matmul(a, b), abt: matmul(a, a, false, true), av: matmul(a, net.input('v', 'float32', [3])) };
    }, { a: f32([2, 2, 3], [1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]), b: f32([3, 2], [1, 0, 0, 1, 1, 1]), v: f32([3], [1, 1, 1]) });
    expect(r.ab.shape).toEqual([2, 2, 2]);
    expect(r.ab.values).toEqual([4, 5, 10, 11, 1, 0, 0, 1]);
    expect(r.abt.values).toEqual([14, 32, 32, 77, 1, 0, 0, 1]);
    expect(r.av.shape).toEqual([2, 2]);
    expect(r.av.values).toEqual([6, 15, 1, 1]);
  });
  it('linear uses the [out, in] weight layout and adds the bias', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', ['batch', 2]);
      const w = net.constant(new Float32Array([1, 2, 3, 4, 5, 6]), 'float32', [3, 2]);
      const b = net.constant(new Float32Array([0.5, 0, -1]), 'float32', [3]);
      return { y: linear(x, w, b) };
    }, { x: f32([1, 2], [1, 1]) });
    expect(r.y.values).toEqual([3.5, 7, 10]);
  });
  it('names both shapes when the contracted dims differ', () => {
    expectDslError(() => build((net) => ({ y: matmul(net.input('a', 'float32', [2, 3]), net.input('b', 'float32', [4, 2])) })), 'ops-math.test.ts', /matmul: contracted dims differ: 'input' \[2, 3\] has 3, 'mat2' \[4, 2\] has 4/);
  });
});

describe('softmax, reductions, topk', () => {
  it('softmax and log_softmax along a dim', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      return { s: softmax(x, -1), l: log_softmax(x, 1), s0: softmax(x, 0) };
    }, { x: f32([2, 3], [1, 2, 3, 1000, 1000, 1000]) });
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0] + e[1] + e[2];
    close(r.s.values, [e[0] / z, e[1] / z, e[2] / z, 1 / 3, 1 / 3, 1 / 3]);
    close(r.l.values, [1 - 3 - Math.log(z / e[2]), 2 - 3 - Math.log(z / e[2]), -Math.log(z / e[2]), -Math.log(3), -Math.log(3), -Math.log(3)], 1e-5);
    close(r.s0.values, [0, 0, 0, 1, 1, 1]);
  });
  it('sum, mean, max, prod over one or several dims', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      return { s: sum(x, 1), m: mean(x, [0, 1], true), mx: max(x, 0), p: prod(x, -1) };
    }, { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
    expect(r.s.values).toEqual([6, 15]);
    expect(r.m.shape).toEqual([1, 1]);
    expect(r.m.values).toEqual([3.5]);
    expect(r.mx.values).toEqual([4, 5, 6]);
    expect(r.p.values).toEqual([6, 120]);
  });
  it('topk returns sorted values and int32 indices, ties to the lower index; argmax', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 4]);
      const [v, i] = topk(x, 2, -1);
      const [sv] = topk(x, 1, 1, false);
      return { v, i, sv, am: argmax(x, 1), am64: argmax(x, 1, false, 'int64') };
    }, { x: f32([2, 4], [1, 5, 5, 2, 0, -1, 3, 3]) });
    expect(r.v.values).toEqual([5, 5, 3, 3]);
    expect(r.i.dtype).toBe('int32');
    expect(r.i.values).toEqual([1, 2, 2, 3]);
    expect(r.sv.values).toEqual([1, -1]);
    expect(r.am.values).toEqual([1, 2]);
    expect(r.am64.dtype).toBe('int64');
  });
  it('rejects k larger than the dim', () => {
    expectDslError(() => build((net) => ({ y: topk(net.input('a', 'float32', [2, 3]), 4)[0] })), 'ops-math.test.ts', /topk: argument 'k' is 4, larger than dim 1/);
  });
});

describe('cumsum and cumprod', () => {
  it('cumsum forward, exclusive and reverse; cumprod exactly for ints and bools', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'int64', [2, 5]);
      const b = net.input('b', 'bool', [5]);
      return { c: cumsum(x, 1), ce: cumsum(x, 1, true), cr: cumsum(x, -1, false, true), p: cumprod(x, 1), pb: cumprod(b, 0) };
    }, { x: i64([2, 5], [1, 2, 3, 4, 5, 2, 2, 2, 2, 2]), b: bool([5], [1, 1, 0, 1, 1]) });
    expect(r.c.values).toEqual([1, 3, 6, 10, 15, 2, 4, 6, 8, 10]);
    expect(r.ce.values).toEqual([0, 1, 3, 6, 10, 0, 2, 4, 6, 8]);
    expect(r.cr.values).toEqual([15, 14, 12, 9, 5, 10, 8, 6, 4, 2]);
    expect(r.p.values).toEqual([1, 2, 6, 24, 120, 2, 4, 8, 16, 32]);
    expect(r.pb.values).toEqual([1, 1, 0, 0, 0]);
  });
});

describe('embedding and norms', () => {
  it('embedding picks rows; rms_norm and layer_norm match hand computation', async () => {
    const r = await run((net) => {
      const ids = net.input('ids', 'int64', ['batch', 2]);
      const table = net.constant(new Float32Array([0, 0, 1, 2, 3, 4]), 'float32', [3, 2]);
      const x = net.input('x', 'float32', [1, 4]);
      const w = net.constant(new Float32Array([1, 2, 1, 1]), 'float32', [4]);
      return { e: embedding(ids, table), r: rms_norm(x, 4, w, 1e-6), l: layer_norm(x, 4) };
    }, { ids: i64([1, 2], [2, 1]), x: f32([1, 4], [1, 2, 3, 4]) });
    expect(r.e.shape).toEqual([1, 2, 2]);
    expect(r.e.values).toEqual([3, 4, 1, 2]);
    const rms = Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
    close(r.r.values, [1 / rms, 4 / rms, 3 / rms, 4 / rms]);
    const sd = Math.sqrt(1.25 + 1e-5);
    close(r.l.values, [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd]);
  });
  it('rms_norm names a normalized_shape mismatch', () => {
    expectDslError(() => build((net) => ({ y: rms_norm(net.input('a', 'float32', [2, 3]), 4) })), 'ops-math.test.ts', /rms_norm: argument 'normalized_shape' is 4, but the last dim of 'input' \[2, 3\] is 3/);
  });
});
