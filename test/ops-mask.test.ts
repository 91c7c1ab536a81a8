/** Dtype and mask ops: cast, where, one_hot, tril, triu, tril_mask. */
import { describe, expect, it } from 'vitest';
import { cast, one_hot, shape, tril, tril_mask, triu, where } from '../ops/index.js';
import { bool, build, expectDslError, f32, i32, i64, iota, run, runBuilt } from './ops-util.js';

const FILE = 'ops-mask.test.ts';

describe('cast', () => {
  it('converts between float, int and bool', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [4]);
      const i = net.input('i', 'int32', [3]);
      const b = net.input('b', 'bool', [2]);
      return { fi: cast(x, 'int32'), ib: cast(i, 'bool'), bf: cast(b, 'float32'), fh: cast(x, 'float16'), il: cast(i, 'int64') };
    }, { x: f32([4], [1.75, -1.75, 0, 2.5]), i: i32([3], [0, 2, -1]), b: bool([2], [1, 0]) });
    expect(r.fi).toEqual({ dtype: 'int32', shape: [4], values: [1, -1, 0, 2] });
    expect(r.ib).toEqual({ dtype: 'bool', shape: [3], values: [0, 1, 1] });
    expect(r.bf).toEqual({ dtype: 'float32', shape: [2], values: [1, 0] });
    expect(r.fh).toEqual({ dtype: 'float16', shape: [4], values: [1.75, -1.75, 0, 2.5] });
    expect(r.il).toEqual({ dtype: 'int64', shape: [3], values: [0, 2, -1] });
  });
  it('returns the input itself for its own dtype', () => {
    build((net) => {
      const x = net.input('x', 'float32', [2]);
      expect(cast(x, 'float32')).toBe(x);
      return { y: cast(x, 'int32') };
    });
  });
  it('rejects unknown dtypes', () => {
    expectDslError(() => build((net) => ({ y: cast(net.input('x', 'float32', [2]), 'float64' as never) })), FILE, /^cast: argument 'dtype' is "float64"; expected one of float32, float16/);
    expectDslError(() => build(() => ({ y: cast([1, 2] as never, 'int32') })), FILE, /^cast: argument 'input' must be a Tensor, got array of length 2/);
  });
});

describe('where', () => {
  it('selects between tensors and numbers', async () => {
    const r = await run((net) => {
      const c = net.input('c', 'bool', [2, 2]);
      const l = net.input('l', 'float32', [2, 2]);
      const ri = net.input('ri', 'int64', [2, 2]);
      return { tn: where(c, l, 0), nt: where(c, 7, ri), ints: where(c, 1, 0), floats: where(c, 1.5, 0) };
    }, { c: bool([2, 2], [1, 0, 0, 1]), l: f32([2, 2], [1, 2, 3, 4]), ri: i64([2, 2], [5, 6, 7, 8]) });
    expect(r.tn).toEqual({ dtype: 'float32', shape: [2, 2], values: [1, 0, 0, 4] });
    expect(r.nt).toEqual({ dtype: 'int64', shape: [2, 2], values: [7, 6, 7, 7] });
    expect(r.ints).toEqual({ dtype: 'int32', shape: [2, 2], values: [1, 0, 0, 1] });
    expect(r.floats).toEqual({ dtype: 'float32', shape: [2, 2], values: [1.5, 0, 0, 1.5] });
  });
  it('broadcasts the three operands, symbolic dims included', async () => {
    const { graph, shapes } = build((net) => {
      const c = net.input('c', 'bool', ['batch', 1]);
      const l = net.input('l', 'float32', [3]);
      return { y: where(c, l, -1) };
    });
    expect(shapes.y).toBe('[batch, 3]');
    const r = await runBuilt(graph, { c: bool([2, 1], [1, 0]), l: f32([3], [1, 2, 3]) });
    expect(r.y).toEqual({ dtype: 'float32', shape: [2, 3], values: [1, 2, 3, -1, -1, -1] });
  });
  it('checks the condition dtype, operand dtypes and broadcasting', () => {
    expectDslError(() => build((net) => ({ y: where(net.input('c', 'float32', [2]), 1, 0) })), FILE, /^where: argument 'condition' has dtype float32; expected bool/);
    expectDslError(() => build((net) => ({ y: where(net.input('c', 'bool', [2]), net.input('l', 'int32', [2]), 0.5) })), FILE, /^where: argument 'right' is 0\.5, not representable in int32/);
    expectDslError(() => build((net) => ({ y: where(net.input('c', 'bool', [2]), net.input('l', 'float32', [2]), net.input('r', 'int32', [2])) })), FILE, /^where: arguments 'left' \(float32\) and 'right' \(int32\) must have the same dtype/);
    expectDslError(() => build((net) => ({ y: where(net.input('c', 'bool', [2]), net.input('l', 'float32', [3]), 0) })), FILE, /^where: arguments 'condition' \[2\] and 'left' \[3\] and 'right' \[\] do not broadcast/);
    expectDslError(() => build((net) => ({ y: where(net.input('c', 'bool', [2]), 'a' as never, 0) })), FILE, /^where: argument 'left' must be a Tensor or a number, got "a"/);
  });
});

describe('one_hot', () => {
  it('marks the index of each element', async () => {
    const r = await run((net) => {
      const i = net.input('i', 'int32', [4]);
      const m = net.input('m', 'int64', [2, 2]);
      return { def: one_hot(i, 3), f: one_hot(i, 3, 'float32'), b: one_hot(i, 3, 'bool'), m: one_hot(m, 4) };
    }, { i: i32([4], [0, 2, 1, 5]), m: i64([2, 2], [3, 0, 1, 1]) });
    // Index 5 is outside 0..2: a row of zeros.
    const want = [1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    expect(r.def).toEqual({ dtype: 'int64', shape: [4, 3], values: want });
    expect(r.f).toEqual({ dtype: 'float32', shape: [4, 3], values: want });
    expect(r.b).toEqual({ dtype: 'bool', shape: [4, 3], values: want });
    expect(r.m).toEqual({ dtype: 'int64', shape: [2, 2, 4], values: [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0] });
  });
  it('takes symbolic index dims and a run-time class count', async () => {
    const { graph, shapes } = build((net) => {
      const i = net.input('i', 'int32', ['batch']);
      const y = net.input('y', 'float32', ['n']);
      return { a: one_hot(i, 3), b: one_hot(i, shape(y, 0), 'int32') };
    });
    expect(shapes).toEqual({ a: '[batch, 3]', b: '[batch, n]' });
    const r = await runBuilt(graph, { i: i32([2], [2, 0]), y: f32([4], iota(4)) });
    expect(r.a.values).toEqual([0, 0, 1, 1, 0, 0]);
    expect(r.b).toEqual({ dtype: 'int32', shape: [2, 4], values: [0, 0, 1, 0, 1, 0, 0, 0] });
  });
  it('rejects bad class counts and index dtypes', () => {
    expectDslError(() => build((net) => ({ y: one_hot(net.input('i', 'int32', [2]), 0) })), FILE, /^one_hot: argument 'num_classes' must be an integer >= 1, got number 0/);
    expectDslError(() => build((net) => ({ y: one_hot(net.input('i', 'float32', [2]), 3) })), FILE, /^one_hot: argument 'indices' has dtype float32; expected int32 \| int64/);
    expectDslError(() => build((net) => ({ y: one_hot(net.input('i', 'int32', [2]), net.input('n', 'int32', [2])) })), FILE, /^one_hot: argument 'num_classes' has shape \[2\]; expected a 0-D or 1-element tensor/);
    expectDslError(() => build((net) => ({ y: one_hot(net.input('i', 'int32', [2]), 3, 'int4' as never) })), FILE, /^one_hot: argument 'dtype' is "int4"/);
  });
});

describe('tril and triu', () => {
  const m = iota(9).map((v) => v + 1); // [[1,2,3],[4,5,6],[7,8,9]]
  it('zero the other triangle for each diagonal', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [3, 3]);
      return { l: tril(x), l1: tril(x, 1), lm1: tril(x, -1), u: triu(x), u1: triu(x, 1), um1: triu(x, -1) };
    }, { x: f32([3, 3], m) });
    expect(r.l).toEqual({ dtype: 'float32', shape: [3, 3], values: [1, 0, 0, 4, 5, 0, 7, 8, 9] });
    expect(r.l1.values).toEqual([1, 2, 0, 4, 5, 6, 7, 8, 9]);
    expect(r.lm1.values).toEqual([0, 0, 0, 4, 0, 0, 7, 8, 0]);
    expect(r.u.values).toEqual([1, 2, 3, 0, 5, 6, 0, 0, 9]);
    expect(r.u1.values).toEqual([0, 2, 3, 0, 0, 6, 0, 0, 0]);
    expect(r.um1.values).toEqual([1, 2, 3, 4, 5, 6, 0, 8, 9]);
  });
  it('works on non-square, batched, int and bool inputs', async () => {
    const r = await run((net) => ({
      wide: tril(net.input('w', 'float32', [2, 3])),
      batched: triu(net.input('b', 'int32', [2, 2, 2])),
      flags: tril(net.input('f', 'bool', [2, 3])),
    }), { w: f32([2, 3], [1, 2, 3, 4, 5, 6]), b: i32([2, 2, 2], iota(8)), f: bool([2, 3], [1, 1, 1, 1, 1, 1]) });
    expect(r.wide.values).toEqual([1, 0, 0, 4, 5, 0]);
    expect(r.batched).toEqual({ dtype: 'int32', shape: [2, 2, 2], values: [0, 1, 0, 3, 4, 5, 0, 7] });
    expect(r.flags).toEqual({ dtype: 'bool', shape: [2, 3], values: [1, 0, 0, 1, 1, 0] });
  });
  it('keeps symbolic dims', async () => {
    const { graph, shapes } = build((net) => ({ y: tril(net.input('x', 'float32', ['batch', 'seq', 'seq'])) }));
    expect(shapes.y).toBe('[batch, seq, seq]');
    const r = await runBuilt(graph, { x: f32([1, 3, 3], m) });
    expect(r.y).toEqual({ dtype: 'float32', shape: [1, 3, 3], values: [1, 0, 0, 4, 5, 0, 7, 8, 9] });
  });
  it('rejects rank 1 and a fractional diagonal', () => {
    expectDslError(() => build((net) => ({ y: tril(net.input('x', 'float32', [3])) })), FILE, /^tril: argument 'input' has rank 1 \(shape \[3\]\); expected rank 2\.\.8/);
    expectDslError(() => build((net) => ({ y: triu(net.input('x', 'float32', [3, 3]), 0.5) })), FILE, /^triu: argument 'diagonal' must be an integer, got number 0\.5/);
  });
});

describe('tril_mask', () => {
  it('is true on and below the diagonal', async () => {
    const r = await run(() => ({ sq: tril_mask(3), wide: tril_mask(2, 4, 1), low: tril_mask(3, 2, -1) }));
    expect(r.sq).toEqual({ dtype: 'bool', shape: [3, 3], values: [1, 0, 0, 1, 1, 0, 1, 1, 1] });
    expect(r.wide).toEqual({ dtype: 'bool', shape: [2, 4], values: [1, 1, 0, 0, 1, 1, 1, 0] });
    expect(r.low.values).toEqual([0, 0, 1, 0, 1, 1]);
  });
  it('takes run-time sizes', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [1, 'seq']);
      return { sq: tril_mask(shape(x, 1)), wide: tril_mask(shape(x, 1), 4, 1) };
    });
    expect(shapes).toEqual({ sq: '[seq, seq]', wide: '[seq, 4]' });
    const r = await runBuilt(graph, { x: f32([1, 3], [0, 0, 0]) });
    expect(r.sq).toEqual({ dtype: 'bool', shape: [3, 3], values: [1, 0, 0, 1, 1, 0, 1, 1, 1] });
    expect(r.wide.values).toEqual([1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]);
  });
  it('rejects negative and non-int sizes', () => {
    expectDslError(() => build(() => ({ y: tril_mask(-1) })), FILE, /^tril_mask: argument 'rows' must be an integer >= 0, got number -1/);
    expectDslError(() => build((net) => ({ y: tril_mask(3, net.input('c', 'float32', [])) })), FILE, /^tril_mask: argument 'cols' has dtype float32; expected int32 \| int64/);
  });
});
