/**
 * Values of the pointwise ops not covered elsewhere: every expected number is worked out here
 * (Python semantics for pow/maximum/minimum, TensorRT's round-half-to-even), plus their errors.
 */
import { describe, expect, it } from 'vitest';
import {
  argmin, cos, erf, isinf, isnan, leaky_relu, logical_not, logical_or, logical_xor, lt, maximum, minimum, neg, pow,
  recip, round, sign, softplus, tanh, div,
} from '../ops/index.js';
import { runGraph } from '../builders/interp/index.js';
import { bool, build, expectDslError, f32, i32, i64, run } from './ops-util.js';

const close = (got: number[], want: number[], tol = 1e-6) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `index ${i}: got ${g}, want ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))));
};

describe('binary pointwise', () => {
  it('pow, maximum, minimum broadcast a scalar and a row', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 2]);
      const y = net.input('y', 'float32', [2]);
      return { p: pow(x, 2), pr: pow(x, y), mx: maximum(x, y), mn: minimum(x, 0.5) };
    }, { x: f32([2, 2], [1, -2, 3, 0.25]), y: f32([2], [0.5, 3]) });
    close(r.p.values, [1, 4, 9, 0.0625]);
    close(r.pr.values, [1, -8, Math.sqrt(3), 0.015625]);
    expect(r.mx.values).toEqual([1, 3, 3, 3]);
    expect(r.mn.values).toEqual([0.5, -2, 0.5, 0.25]);
  });
  it('maximum/minimum keep int64 exact beyond 2^53', async () => {
    const big = 2n ** 60n + 1n;
    const { graph } = build((net) => {
      const a = net.input('a', 'int64', [2]);
      return { mx: maximum(a, 5), mn: minimum(a, 5) };
    });
    const r = runGraph(graph, { a: { dtype: 'int64', shape: [2], data: BigInt64Array.from([big, -3n]) } });
    expect(r.mx!.dtype).toBe('int64');
    expect([...(r.mx!.data as BigInt64Array)]).toEqual([big, 5n]);
    expect([...(r.mn!.data as BigInt64Array)]).toEqual([5n, -3n]);
  });
  it('lt, logical_or, logical_xor', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'int32', [4]);
      const p = net.input('p', 'bool', [4]);
      const q = net.input('q', 'bool', [4]);
      return { lt: lt(a, 2), or: logical_or(p, q), xor: logical_xor(p, q) };
    }, { a: i32([4], [1, 2, 3, -5]), p: bool([4], [0, 0, 1, 1]), q: bool([4], [0, 1, 0, 1]) });
    expect(r.lt.dtype).toBe('bool');
    expect(r.lt.values).toEqual([1, 0, 0, 1]);
    expect(r.or.values).toEqual([0, 1, 1, 1]);
    expect(r.xor.values).toEqual([0, 1, 1, 0]);
  });
  it('integer division truncates toward zero as TensorRT kDIV does', async () => {
    const r = await run((net) => ({ d: div(net.input('a', 'int32', [4]), 2) }), { a: i32([4], [7, -7, 6, -1]) });
    expect(r.d.values.map((v) => v + 0)).toEqual([3, -3, 3, 0]);
  });
  it('names the argument and the dtype it wants', () => {
    expectDslError(() => build((net) => ({ y: pow(net.input('a', 'int32', [2]), 2) })), 'ops-pointwise.test.ts', /pow: argument 'input' has dtype int32; expected float32/);
    expectDslError(() => build((net) => ({ y: logical_or(net.input('a', 'int32', [2]), net.input('b', 'int32', [2])) })), 'ops-pointwise.test.ts', /logical_or: argument 'input' has dtype int32; expected bool/);
    expectDslError(() => build((net) => ({ y: maximum(net.input('a', 'float32', [2, 3]), net.input('b', 'float32', [2])) })), 'ops-pointwise.test.ts', /maximum: arguments 'input' \[2, 3\] and 'other' \[2\] do not broadcast/);
  });
});

describe('unary pointwise', () => {
  it('neg, sign, recip, cos, erf, tanh on floats', async () => {
    const xs = [-2, -0.5, 0, 0.5, 2];
    const r = await run((net) => {
      const x = net.input('x', 'float32', [5]);
      return { neg: neg(x), sign: sign(x), cos: cos(x), erf: erf(x), tanh: tanh(x), recip: recip(x) };
    }, { x: f32([5], xs) });
    expect(r.neg.values).toEqual([2, 0.5, -0, -0.5, -2]);
    expect(r.sign.values).toEqual([-1, -1, 0, 1, 1]);
    close(r.cos.values, xs.map(Math.cos));
    // erf(0.5) = 0.520499877813047, erf(2) = 0.995322265018953
    close(r.erf.values, [-0.995322265018953, -0.520499877813047, 0, 0.520499877813047, 0.995322265018953], 1e-6);
    close(r.tanh.values, xs.map(Math.tanh));
    expect(r.recip.values).toEqual([-0.5, -2, Infinity, 2, 0.5]);
  });
  it('neg and sign on int64 stay exact', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'int64', [3]);
      return { n: neg(a), s: sign(a) };
    }, { a: i64([3], [-(2 ** 40), 0, 7]) });
    expect(r.n.values).toEqual([2 ** 40, 0, -7]);
    expect(r.s.values).toEqual([-1, 0, 1]);
  });
  it('round is half-to-even, as TensorRT kROUND', async () => {
    const r = await run((net) => ({ r: round(net.input('x', 'float32', [7])) }), { x: f32([7], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6]) });
    expect(r.r.values.map((v) => v + 0)).toEqual([0, 2, 2, 0, -2, 2, -3]);
  });
  it('isnan, isinf, logical_not give bools', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [4]);
      return { nan: isnan(x), inf: isinf(x), not: logical_not(isnan(x)) };
    }, { x: f32([4], [NaN, Infinity, -Infinity, 1]) });
    expect(r.nan.dtype).toBe('bool');
    expect(r.nan.values).toEqual([1, 0, 0, 0]);
    expect(r.inf.values).toEqual([0, 1, 1, 0]);
    expect(r.not.values).toEqual([0, 1, 1, 1]);
  });
  it('softplus and leaky_relu', async () => {
    const xs = [-30, -1, 0, 1, 30];
    const r = await run((net) => {
      const x = net.input('x', 'float32', [5]);
      return { sp: softplus(x), lr: leaky_relu(x), lr2: leaky_relu(x, 0.2) };
    }, { x: f32([5], xs) });
    close(r.sp.values, xs.map((z) => Math.log1p(Math.exp(z))), 1e-6);
    close(r.lr.values, [-0.3, -0.01, 0, 1, 30]);
    close(r.lr2.values, [-6, -0.2, 0, 1, 30]);
  });
  it('unary ops refuse the wrong dtype, naming it', () => {
    expectDslError(() => build((net) => ({ y: logical_not(net.input('a', 'float32', [2])) })), 'ops-pointwise.test.ts', /logical_not: argument 'input' has dtype float32; expected bool/);
    expectDslError(() => build((net) => ({ y: tanh(net.input('a', 'int64', [2])) })), 'ops-pointwise.test.ts', /tanh: argument 'input' has dtype int64/);
    expectDslError(() => build((net) => ({ y: neg(net.input('a', 'bool', [2])) })), 'ops-pointwise.test.ts', /neg: argument 'input' has dtype bool/);
  });
});

describe('argmin', () => {
  it('picks the first smallest along a dim, int32 by default, int64 on request', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 4]);
      return { a: argmin(x, 1), k: argmin(x, 0, true, 'int64') };
    }, { x: f32([2, 4], [3, 1, 1, 5, 0, 2, -1, 5]) });
    expect(r.a.dtype).toBe('int32');
    expect(r.a.shape).toEqual([2]);
    expect(r.a.values).toEqual([1, 2]);
    expect(r.k.dtype).toBe('int64');
    expect(r.k.shape).toEqual([1, 4]);
    expect(r.k.values).toEqual([1, 0, 1, 0]);
  });
  it('names a dim out of range', () => {
    expectDslError(() => build((net) => ({ y: argmin(net.input('a', 'float32', [2, 3]), 2) })), 'ops-pointwise.test.ts', /dim/);
  });
});
