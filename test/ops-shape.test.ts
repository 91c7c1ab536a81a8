/** Shape ops: shape, view, concat, gather_nd, arange, unsqueeze, squeeze, flatten, permute, transpose. */
import { describe, expect, it } from 'vitest';
import {
  arange, concat, flatten, gather_nd, permute, shape, squeeze, transpose, unsqueeze, view,
} from '../ops/index.js';
import { build, expectDslError, f32, i32, iota, run, runBuilt } from './ops-util.js';

const FILE = 'ops-shape.test.ts';

describe('shape', () => {
  it('returns the run-time shape as int64, one dim as 0-D', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3, 4]);
      return { s: shape(x), d: shape(x, -1) };
    }, { x: f32([2, 3, 4], iota(24)) });
    expect(r.s).toEqual({ dtype: 'int64', shape: [3], values: [2, 3, 4] });
    expect(r.d).toEqual({ dtype: 'int64', shape: [], values: [4] });
  });
  it('tracks symbolic dims at build time and reads them at run time', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 3]);
      const s = shape(x);
      expect(s.values!.map(String)).toEqual(['batch', '3']);
      return { s, b: shape(x, 0) };
    });
    expect(shapes).toEqual({ s: '[2]', b: '[]' });
    const r = await runBuilt(graph, { x: f32([5, 3], iota(15)) });
    expect(r.s.values).toEqual([5, 3]);
    expect(r.b.values).toEqual([5]);
  });
  it('rejects a bad dim and a non-tensor', () => {
    expectDslError(() => build((net) => ({ s: shape(net.input('x', 'float32', [2, 3]), 2) })), FILE, /^shape: argument 'dim' is 2, out of range for a tensor of rank 2 \(expected -2\.\.1\)/);
    expectDslError(() => build(() => ({ s: shape(5 as never) })), FILE, /^shape: argument 'input' must be a Tensor, got number 5/);
  });
});

describe('view', () => {
  it('reshapes statically, with 0 (copy) and -1 (inferred)', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [2, 3, 2]);
      return { a: view(x, [3, 4]), b: view(x, [0, -1]), c: view(x, [-1]) };
    });
    expect(shapes).toEqual({ a: '[3, 4]', b: '[2, 6]', c: '[12]' });
    const r = await runBuilt(graph, { x: f32([2, 3, 2], iota(12)) });
    expect(r.a).toEqual({ dtype: 'float32', shape: [3, 4], values: iota(12) });
    expect(r.b.shape).toEqual([2, 6]);
    expect(r.c.values).toEqual(iota(12));
  });
  it('reshapes to a shape tensor built from symbolic dims', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 2, 3]);
      return { y: view(x, concat([shape(x, 0), -1])), z: view(x, [shape(x, 0), 3, 2]) };
    });
    expect(shapes).toEqual({ y: '[batch, 6]', z: '[batch, 3, 2]' });
    const r = await runBuilt(graph, { x: f32([2, 2, 3], iota(12)) });
    expect(r.y.shape).toEqual([2, 6]);
    expect(r.z.shape).toEqual([2, 3, 2]);
    expect(r.z.values).toEqual(iota(12));
  });
  it('names the element-count mismatch', () => {
    expectDslError(() => build((net) => ({ y: view(net.input('x', 'float32', [2, 3]), [4, 2]) })), FILE, /^view: argument 'shape' cannot reshape \[2, 3\] into \[4, 2\]/);
    expectDslError(() => build((net) => ({ y: view(net.input('x', 'float32', [2, 3]), [-1, -1]) })), FILE, /^view: argument 'shape' at most one -1 is allowed/);
    expectDslError(() => build((net) => ({ y: view(net.input('x', 'float32', [2, 3]), [2, -3]) })), FILE, /^view: argument 'shape' has -3 at position 1/);
  });
});

describe('concat', () => {
  it('joins along a dim', async () => {
    const r = await run((net) => {
      const a = net.input('a', 'float32', [2, 1]);
      const b = net.input('b', 'float32', [2, 2]);
      return { y: concat([a, b], 1), z: concat([b, b], -2) };
    }, { a: f32([2, 1], [10, 20]), b: f32([2, 2], [1, 2, 3, 4]) });
    expect(r.y).toEqual({ dtype: 'float32', shape: [2, 3], values: [10, 1, 2, 20, 3, 4] });
    expect(r.z).toEqual({ dtype: 'float32', shape: [4, 2], values: [1, 2, 3, 4, 1, 2, 3, 4] });
  });
  it('builds shape tensors from numbers and 0-D tensors', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 'seq']);
      const s = concat([shape(x, 1), 7, shape(x, 0)]);
      expect(s.values!.map(String)).toEqual(['seq', '7', 'batch']);
      return { s };
    });
    expect(shapes.s).toBe('[3]');
    const r = await runBuilt(graph, { x: f32([2, 5], iota(10)) });
    expect(r.s).toEqual({ dtype: 'int64', shape: [3], values: [5, 7, 2] });
  });
  it('adds symbolic dims along the concat dim', () => {
    const { shapes } = build((net) => {
      const p = net.input('p', 'float32', ['past', 4]);
      const q = net.input('q', 'float32', ['seq', 4]);
      return { y: concat([p, q], 0) };
    });
    expect(shapes.y).toBe('[(past+seq), 4]');
  });
  it('names the mismatching input', () => {
    expectDslError(() => build(() => ({ y: concat([]) })), FILE, /^concat: argument 'inputs' must be a non-empty array, got array of length 0/);
    expectDslError(
      () => build((net) => ({ y: concat([net.input('a', 'float32', [2, 2]), net.input('b', 'float32', [3, 2])], 1) })),
      FILE,
      /^concat: argument 'inputs\[1\]' has shape \[3, 2\], which differs from inputs\[0\] \[2, 2\] in dim 0 \(only dim 1 may differ\)/,
    );
    expectDslError(() => build((net) => ({ y: concat([net.input('a', 'float32', [2]), net.input('b', 'int32', [2])]) })), FILE, /^concat: argument 'inputs\[1\]' has dtype int32, but inputs\[0\] has float32/);
    expectDslError(() => build((net) => ({ y: concat([net.input('a', 'float32', [2]), 1.5]) })), FILE, /^concat: argument 'inputs\[1\]' is 1\.5/);
  });
});

describe('gather_nd', () => {
  it('gathers elements and rows without batch dims', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      const e = net.input('e', 'int32', [2, 2]);
      const w = net.input('w', 'int32', [2, 1]);
      return { el: gather_nd(x, e, 0), rows: gather_nd(x, w, 0) };
    }, { x: f32([2, 3], [0, 1, 2, 3, 4, 5]), e: i32([2, 2], [0, 2, 1, 0]), w: i32([2, 1], [1, 0]) });
    expect(r.el).toEqual({ dtype: 'float32', shape: [2], values: [2, 3] });
    expect(r.rows).toEqual({ dtype: 'float32', shape: [2, 3], values: [3, 4, 5, 0, 1, 2] });
  });
  it('matches batch dims element-wise', async () => {
    // x[b] is a [3, 2] table; indices[b] picks rows of it.
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 3, 2]);
      const i = net.input('i', 'int32', ['batch', 2, 1]);
      return { y: gather_nd(x, i, 1) };
    });
    expect(shapes.y).toBe('[batch, 2, 2]');
    const r = await runBuilt(graph, { x: f32([2, 3, 2], iota(12)), i: i32([2, 2, 1], [2, 0, 1, 1]) });
    expect(r.y.values).toEqual([4, 5, 0, 1, 8, 9, 8, 9]);
  });
  it('checks batch dims, depth and dtypes', () => {
    expectDslError(() => build((net) => ({ y: gather_nd(net.input('x', 'float32', [2, 5, 4]), net.input('i', 'int64', [3, 2, 1]), 1) })), FILE, /^gather_nd: batch dim 0: 'input' has 2 but 'indices' has 3/);
    expectDslError(() => build((net) => ({ y: gather_nd(net.input('x', 'float32', [2, 5]), net.input('i', 'int64', [2, 2]), 1) })), FILE, /^gather_nd: argument 'indices' addresses 2 dims after 1 batch dims, but input \[2, 5\] has rank 2/);
    expectDslError(() => build((net) => ({ y: gather_nd(net.input('x', 'float32', [2, 5]), net.input('i', 'float32', [2, 1]), 0) })), FILE, /^gather_nd: argument 'indices' has dtype float32; expected int32 \| int64/);
    expectDslError(() => build((net) => ({ y: gather_nd(net.input('x', 'float32', [2, 5]), net.input('i', 'int32', [2, 1]), 2) })), FILE, /^gather_nd: argument 'batch_dims' must be an integer >= 0 <= 1, got number 2/);
  });
});

describe('arange', () => {
  it('counts from start to end (exclusive) for static and tensor ends', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch']);
      return { a: arange(0, 5), b: arange(2, 5, 'float32'), c: arange(0, shape(x, 0)), d: arange(3, shape(x, 0), 'int32') };
    });
    expect(shapes).toEqual({ a: '[5]', b: '[3]', c: '[batch]', d: '[(batch-3)]' });
    const r = await runBuilt(graph, { x: f32([6], iota(6)) });
    expect(r.a).toEqual({ dtype: 'int64', shape: [5], values: [0, 1, 2, 3, 4] });
    expect(r.b).toEqual({ dtype: 'float32', shape: [3], values: [2, 3, 4] });
    expect(r.c.values).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.d).toEqual({ dtype: 'int32', shape: [3], values: [3, 4, 5] });
  });
  it('rejects reversed and non-integer bounds', () => {
    expectDslError(() => build(() => ({ a: arange(5, 2) })), FILE, /^arange: end \(2\) is below start \(5\)/);
    expectDslError(() => build(() => ({ a: arange(0.5, 2) })), FILE, /^arange: argument 'start' must be an integer, got number 0\.5/);
  });
});

describe('unsqueeze', () => {
  it('inserts a unit dim at positive and negative axes', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      return { a: unsqueeze(x, 0), b: unsqueeze(x, -1), c: unsqueeze(x, 1) };
    }, { x: f32([2, 3], iota(6)) });
    expect(r.a).toEqual({ dtype: 'float32', shape: [1, 2, 3], values: iota(6) });
    expect(r.b.shape).toEqual([2, 3, 1]);
    expect(r.c.shape).toEqual([2, 1, 3]);
    expect(r.c.values).toEqual(iota(6));
  });
  it('keeps symbolic dims', async () => {
    const { graph, shapes } = build((net) => ({ y: unsqueeze(net.input('x', 'float32', ['batch', 'seq']), 1) }));
    expect(shapes.y).toBe('[batch, 1, seq]');
    const r = await runBuilt(graph, { x: f32([2, 3], iota(6)) });
    expect(r.y.shape).toEqual([2, 1, 3]);
    expect(r.y.values).toEqual(iota(6));
  });
  it('rejects an axis outside the output rank', () => {
    expectDslError(() => build((net) => ({ y: unsqueeze(net.input('x', 'float32', [2, 3]), 3) })), FILE, /^unsqueeze: argument 'axis' is 3, out of range for input \[2, 3\] \(expected -3\.\.2/);
  });
});

describe('squeeze', () => {
  it('removes unit dims', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [1, 3, 1]);
      const s = net.input('s', 'float32', ['batch', 1, 4]);
      return { a: squeeze(x, 0), b: squeeze(x, [0, -1]), c: squeeze(s, 1) };
    });
    expect(shapes).toEqual({ a: '[3, 1]', b: '[3]', c: '[batch, 4]' });
    const r = await runBuilt(graph, { x: f32([1, 3, 1], [7, 8, 9]), s: f32([2, 1, 4], iota(8)) });
    expect(r.b).toEqual({ dtype: 'float32', shape: [3], values: [7, 8, 9] });
    expect(r.c).toEqual({ dtype: 'float32', shape: [2, 4], values: iota(8) });
  });
  it('rejects dims that are not 1', () => {
    expectDslError(() => build((net) => ({ y: squeeze(net.input('x', 'float32', [1, 3, 1]), 1) })), FILE, /^squeeze: argument 'dim' is 1, but input \[1, 3, 1\] has size 3 there/);
    expectDslError(() => build((net) => ({ y: squeeze(net.input('x', 'float32', ['batch', 3]), 0) })), FILE, /^squeeze: argument 'dim' is 0, but input \[batch, 3\] has size batch there/);
    expectDslError(() => build((net) => ({ y: squeeze(net.input('x', 'float32', [1, 1]), [0, -2]) })), FILE, /^squeeze: argument 'dim' names a dim twice/);
    expectDslError(() => build((net) => ({ y: squeeze(net.input('x', 'float32', [1, 1]), [0, 2]) })), FILE, /^squeeze: argument 'dim\[1\]' is 2, out of range/);
  });
});

describe('flatten', () => {
  it('merges a dim range', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [2, 3, 4]);
      return { all: flatten(x), tail: flatten(x, 1), head: flatten(x, 0, 1), one: flatten(x, 1, 1), s: flatten(net.constant([5], 'float32', [])) };
    });
    expect(shapes).toEqual({ all: '[24]', tail: '[2, 12]', head: '[6, 4]', one: '[2, 3, 4]', s: '[1]' });
    const r = await runBuilt(graph, { x: f32([2, 3, 4], iota(24)) });
    expect(r.all.values).toEqual(iota(24));
    expect(r.head).toEqual({ dtype: 'float32', shape: [6, 4], values: iota(24) });
    expect(r.s).toEqual({ dtype: 'float32', shape: [1], values: [5] });
  });
  it('multiplies symbolic dims', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 'seq', 4]);
      return { a: flatten(x, 0, 1), b: flatten(x, 1) };
    });
    expect(shapes).toEqual({ a: '[batch*seq, 4]', b: '[batch, 4*seq]' });
    const r = await runBuilt(graph, { x: f32([2, 3, 4], iota(24)) });
    expect(r.a.shape).toEqual([6, 4]);
    expect(r.b.shape).toEqual([2, 12]);
    expect(r.b.values).toEqual(iota(24));
  });
  it('rejects an end before the start', () => {
    expectDslError(() => build((net) => ({ y: flatten(net.input('x', 'float32', [2, 3, 4]), 2, 1) })), FILE, /^flatten: argument 'end_dim' is 1 \(dim 1\), before start_dim 2/);
    expectDslError(() => build((net) => ({ y: flatten(net.input('x', 'float32', [2, 3, 4]), 3) })), FILE, /^flatten: argument 'start_dim' is 3, out of range/);
  });
});

describe('permute and transpose', () => {
  it('reorders dims', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [2, 3, 4]);
      return { p: permute(x, [2, 0, 1]), t: transpose(x, 0, -1) };
    });
    expect(shapes).toEqual({ p: '[4, 2, 3]', t: '[4, 3, 2]' });
    const r = await runBuilt(graph, { x: f32([2, 3, 4], iota(24)) });
    // x[i][j][k] = 12i + 4j + k; p[k][i][j] = x[i][j][k]; t[k][j][i] = x[i][j][k].
    const p: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) p.push(12 * i + 4 * j + k);
    const t: number[] = [];
    for (let k = 0; k < 4; k++) for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) t.push(12 * i + 4 * j + k);
    expect(r.p.values).toEqual(p);
    expect(r.t.values).toEqual(t);
  });
  it('transposes a matrix with a symbolic dim', async () => {
    const { graph, shapes } = build((net) => ({ y: transpose(net.input('x', 'float32', ['batch', 3]), 0, 1) }));
    expect(shapes.y).toBe('[3, batch]');
    const r = await runBuilt(graph, { x: f32([2, 3], iota(6)) });
    expect(r.y).toEqual({ dtype: 'float32', shape: [3, 2], values: [0, 3, 1, 4, 2, 5] });
  });
  it('rejects non-permutations and bad axes', () => {
    expectDslError(() => build((net) => ({ y: permute(net.input('x', 'float32', [2, 3, 4]), [0, 0, 1]) })), FILE, /^permute: argument 'dims' \[0, 0, 1\] is not a permutation of 0\.\.2/);
    expectDslError(() => build((net) => ({ y: permute(net.input('x', 'float32', [2, 3, 4]), [1, 0]) })), FILE, /^permute: argument 'dims' has 2 entries; expected 3/);
    expectDslError(() => build((net) => ({ y: transpose(net.input('x', 'float32', [2, 3]), 0, 2) })), FILE, /^transpose: argument 'dim1' is 2, out of range for a tensor of rank 2/);
  });
});
