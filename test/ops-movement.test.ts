/** Data movement: gather, index_select, select, slice, expand, split, chunk, scatter, scatter_nd, nonzero, repeat_interleave. */
import { describe, expect, it } from 'vitest';
import {
  chunk, concat, expand, gather, index_select, nonzero, repeat_interleave, scatter, scatter_nd, select, shape, slice, split,
} from '../ops/index.js';
import type { Network } from '../dsl/network.js';
import { build, expectDslError, f32, i32, i64, iota, run, runBuilt } from './ops-util.js';

const FILE = 'ops-movement.test.ts';

describe('gather (element mode)', () => {
  it('picks input[i][indices[i][j]] along dim 1 and input[indices[i][j]][j] along dim 0', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      return { d1: gather(x, 1, net.input('a', 'int32', [2, 2])), d0: gather(x, 0, net.input('b', 'int64', [1, 3])), neg: gather(x, -1, net.input('c', 'int32', [2, 1])) };
    }, { x: f32([2, 3], [1, 2, 3, 4, 5, 6]), a: i32([2, 2], [2, 0, 1, 1]), b: i64([1, 3], [1, 0, 1]), c: i32([2, 1], [0, 2]) });
    expect(r.d1).toEqual({ dtype: 'float32', shape: [2, 2], values: [3, 1, 5, 5] });
    expect(r.d0).toEqual({ dtype: 'float32', shape: [1, 3], values: [4, 2, 6] });
    expect(r.neg.values).toEqual([1, 6]);
  });
  it('has the shape of indices, symbolic dims included', () => {
    const { shapes } = build((net) => ({ y: gather(net.input('x', 'float32', ['batch', 7]), 1, net.input('i', 'int32', ['batch', 2])) }));
    expect(shapes.y).toBe('[batch, 2]');
  });
  it('checks dim, rank, dtype and size', () => {
    expectDslError(() => build((net) => ({ y: gather(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [2])) })), FILE, /^gather: argument 'indices' has rank 1 \(shape \[2\]\); expected rank 2 like input \[2, 3\]/);
    expectDslError(() => build((net) => ({ y: gather(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'float32', [2, 2])) })), FILE, /^gather: argument 'indices' has dtype float32; expected int32 \| int64/);
    expectDslError(() => build((net) => ({ y: gather(net.input('x', 'float32', [2, 3]), 2, net.input('i', 'int32', [2, 2])) })), FILE, /^gather: argument 'dim' is 2, out of range for a tensor of rank 2/);
    expectDslError(() => build((net) => ({ y: gather(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [3, 2])) })), FILE, /^gather: argument 'indices' has shape \[3, 2\], larger than input \[2, 3\] in dim 0/);
  });
});

describe('index_select', () => {
  it('takes whole rows or columns', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [3, 2]);
      return { rows: index_select(x, 0, net.input('r', 'int64', [3])), cols: index_select(x, -1, net.input('c', 'int32', [1])) };
    }, { x: f32([3, 2], [1, 2, 3, 4, 5, 6]), r: i64([3], [2, 0, 2]), c: i32([1], [1]) });
    expect(r.rows).toEqual({ dtype: 'float32', shape: [3, 2], values: [5, 6, 1, 2, 5, 6] });
    expect(r.cols).toEqual({ dtype: 'float32', shape: [3, 1], values: [2, 4, 6] });
  });
  it('replaces the dim by the index length', () => {
    const { shapes } = build((net) => ({ y: index_select(net.input('x', 'float32', ['batch', 4, 5]), 1, net.input('i', 'int32', ['n'])) }));
    expect(shapes.y).toBe('[batch, n, 5]');
  });
  it('requires a 1-D int index', () => {
    expectDslError(() => build((net) => ({ y: index_select(net.input('x', 'float32', [3, 2]), 0, net.input('i', 'int32', [2, 1])) })), FILE, /^index_select: argument 'index' has rank 2 \(shape \[2, 1\]\); expected rank 1/);
    expectDslError(() => build((net) => ({ y: index_select(net.input('x', 'float32', [3, 2]), -3, net.input('i', 'int32', [2])) })), FILE, /^index_select: argument 'dim' is -3, out of range/);
  });
});

describe('select', () => {
  it('picks one index and removes the dim', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3, 4]);
      return {
        mid: select(x, 1, 2),
        last: select(x, -1, -1),
        t0: select(x, 0, net.input('i', 'int32', [])),
        t1: select(x, 2, net.input('j', 'int64', [1])),
      };
    }, { x: f32([2, 3, 4], iota(24)), i: i32([], [1]), j: i64([1], [0]) });
    expect(r.mid).toEqual({ dtype: 'float32', shape: [2, 4], values: [8, 9, 10, 11, 20, 21, 22, 23] });
    expect(r.last).toEqual({ dtype: 'float32', shape: [2, 3], values: [3, 7, 11, 15, 19, 23] });
    expect(r.t0).toEqual({ dtype: 'float32', shape: [3, 4], values: iota(12).map((v) => v + 12) });
    expect(r.t1).toEqual({ dtype: 'float32', shape: [2, 3], values: [0, 4, 8, 12, 16, 20] });
  });
  it('counts a negative index from the end of a symbolic dim at run time', async () => {
    const { graph, shapes } = build((net) => ({ y: select(net.input('x', 'float32', ['batch', 'seq', 2]), 1, -1) }));
    expect(shapes.y).toBe('[batch, 2]');
    const r = await runBuilt(graph, { x: f32([2, 3, 2], iota(12)) });
    expect(r.y).toEqual({ dtype: 'float32', shape: [2, 2], values: [4, 5, 10, 11] });
  });
  it('rejects out-of-range and multi-element indices', () => {
    expectDslError(() => build((net) => ({ y: select(net.input('x', 'float32', [2, 3]), 1, 3) })), FILE, /^select: argument 'index' is 3, out of range for dim 1 of size 3 \(input \[2, 3\]; expected -3\.\.2\)/);
    expectDslError(() => build((net) => ({ y: select(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [2])) })), FILE, /^select: argument 'index' has shape \[2\]; expected a 0-D or 1-element tensor/);
    expectDslError(() => build((net) => ({ y: select(net.input('x', 'float32', [2, 3]), 0, 0.5) })), FILE, /^select: argument 'index' must be an integer, got number 0\.5/);
  });
});

describe('slice', () => {
  it('takes static windows with strides', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [3, 4]);
      return {
        strided: slice(x, [1, 0], [2, 2], [1, 2]),
        plain: slice(x, [0, 1], [3, 2]),
        reversed: slice(x, [2, 3], [3, 1], [-1, 1]),
      };
    }, { x: f32([3, 4], iota(12)) });
    expect(r.strided).toEqual({ dtype: 'float32', shape: [2, 2], values: [4, 6, 8, 10] });
    expect(r.plain).toEqual({ dtype: 'float32', shape: [3, 2], values: [1, 2, 5, 6, 9, 10] });
    expect(r.reversed).toEqual({ dtype: 'float32', shape: [3, 1], values: [11, 7, 3] });
  });
  it('reads out of bounds in fill, clamp and wrap modes', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [4]);
      return { fill: slice(x, [2], [4], [1], 'fill', -1), fill0: slice(x, [3], [2], [1], 'fill'), clamp: slice(x, [-2], [3], [2], 'clamp'), wrap: slice(x, [3], [3], [1], 'wrap') };
    }, { x: f32([4], [1, 2, 3, 4]) });
    expect(r.fill.values).toEqual([3, 4, -1, -1]);
    expect(r.fill0.values).toEqual([4, 0]);
    expect(r.clamp.values).toEqual([1, 1, 3]);
    expect(r.wrap.values).toEqual([4, 1, 2]);
  });
  it('takes starts and sizes from tensors at run time', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['batch', 4]);
      const st = net.input('st', 'int64', [2]);
      return { t: slice(x, st, [2, 3]), mixed: slice(x, [0, 1], [shape(x, 0), 2]), both: slice(x, concat([0, 2]), concat([shape(x, 0), 2])) };
    });
    expect(shapes).toEqual({ t: '[2, 3]', mixed: '[batch, 2]', both: '[batch, 2]' });
    const r = await runBuilt(graph, { x: f32([3, 4], iota(12)), st: i64([2], [1, 1]) });
    expect(r.t.values).toEqual([5, 6, 7, 9, 10, 11]);
    expect(r.mixed).toEqual({ dtype: 'float32', shape: [3, 2], values: [1, 2, 5, 6, 9, 10] });
    expect(r.both.values).toEqual([2, 3, 6, 7, 10, 11]);
  });
  it('folds build-time-known tensors into static parameters', async () => {
    const { graph } = build((net) => {
      const x = net.input('x', 'float32', [3, 4]);
      const b = net.input('b', 'float32', ['batch', 4]);
      return { s: slice(x, concat([0, 1]), [shape(x, 0), 2]), d: slice(b, [0, 1], [shape(b, 0), 2]) };
    });
    const [s, d] = graph.layers.filter((l) => l.kind === 'slice');
    expect(s).toMatchObject({ start: [0, 1], size: [3, 2], stride: [1, 1] });
    expect(d).toMatchObject({ start: [0, 1], stride: [1, 1] });
    expect(Array.isArray((d as { size: unknown }).size)).toBe(false);
    const r = await runBuilt(graph, { x: f32([3, 4], iota(12)), b: f32([1, 4], iota(4)) });
    expect(r.s.values).toEqual([1, 2, 5, 6, 9, 10]);
    expect(r.d).toEqual({ dtype: 'float32', shape: [1, 2], values: [1, 2] });
  });
  it('checks lengths, bounds, sizes and modes', () => {
    const x = (net: Network) => net.input('x', 'float32', [3, 4]);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0, 3], [1, 2]) })), FILE, /^slice: argument 'starts' in dim 1: start 3, size 2, stride 1 reads indices 3\.\.4, outside 0\.\.3 of input \[3, 4\]/, /fix: use mode 'clamp'/);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0], [1, 2]) })), FILE, /^slice: argument 'starts' has 1 entries; expected 2/);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0, 0], [1, -2]) })), FILE, /^slice: argument 'sizes' has -2 in dim 1; sizes are >= 0/);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0, 0], [1, 2], [1, 1], 'strict', 5) })), FILE, /^slice: argument 'fill_value' is only used with mode 'fill' \(mode is 'strict'\)/);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0, 0], [1, 2], undefined, 'reflect' as never) })), FILE, /^slice: argument 'mode' is "reflect"; expected one of 'strict', 'wrap', 'clamp', 'fill'/);
    expectDslError(() => build((net) => ({ y: slice(x(net), net.input('s', 'int32', [3]), [1, 2]) })), FILE, /^slice: argument 'starts' has shape \[3\]; expected length 2/);
    expectDslError(() => build((net) => ({ y: slice(x(net), [0, net.input('s', 'float32', [])], [1, 2]) })), FILE, /^slice: argument 'starts\[1\]' has dtype float32; expected int32 \| int64/);
  });
});

describe('expand', () => {
  it('broadcasts unit dims (stride 0) and keeps -1 dims', async () => {
    const { graph, shapes } = build((net) => {
      const row = net.input('row', 'float32', [1, 3]);
      const col = net.input('col', 'float32', [2, 1]);
      const v = net.input('v', 'float32', [3]);
      return { a: expand(row, [2, 3]), b: expand(col, [2, 3]), keep: expand(col, [-1, 2]), lead: expand(v, [2, 3]) };
    });
    expect(shapes).toEqual({ a: '[2, 3]', b: '[2, 3]', keep: '[2, 2]', lead: '[2, 3]' });
    const r = await runBuilt(graph, { row: f32([1, 3], [1, 2, 3]), col: f32([2, 1], [1, 2]), v: f32([3], [7, 8, 9]) });
    expect(r.a.values).toEqual([1, 2, 3, 1, 2, 3]);
    expect(r.b.values).toEqual([1, 1, 1, 2, 2, 2]);
    expect(r.keep.values).toEqual([1, 1, 2, 2]);
    expect(r.lead.values).toEqual([7, 8, 9, 7, 8, 9]);
  });
  it('expands to a run-time shape and keeps symbolic input dims', async () => {
    const { graph, shapes } = build((net) => {
      const y = net.input('y', 'float32', ['batch', 5]);
      const row = net.input('row', 'float32', [1, 3]);
      const col = net.input('col', 'float32', ['batch', 1]);
      return { t: expand(row, concat([shape(y, 0), 3])), arr: expand(row, [shape(y, 0), 3]), s: expand(col, [-1, 4]) };
    });
    expect(shapes).toEqual({ t: '[batch, 3]', arr: '[batch, 3]', s: '[batch, 4]' });
    const two = await runBuilt(graph, { y: f32([2, 5], iota(10)), row: f32([1, 3], [1, 2, 3]), col: f32([2, 1], [5, 6]) });
    expect(two.t).toEqual({ dtype: 'float32', shape: [2, 3], values: [1, 2, 3, 1, 2, 3] });
    expect(two.arr.values).toEqual([1, 2, 3, 1, 2, 3]);
    expect(two.s).toEqual({ dtype: 'float32', shape: [2, 4], values: [5, 5, 5, 5, 6, 6, 6, 6] });
    const one = await runBuilt(graph, { y: f32([1, 5], iota(5)), row: f32([1, 3], [1, 2, 3]), col: f32([1, 1], [9]) });
    expect(one.s).toEqual({ dtype: 'float32', shape: [1, 4], values: [9, 9, 9, 9] });
  });
  it('decides at run time whether a symbolic dim broadcasts', async () => {
    // x's first dim n is 1 (broadcast: stride min(n - 1, 1) = 0) or equal to m (stride 1).
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', ['n', 2]);
      const y = net.input('y', 'float32', ['m']);
      return { z: expand(x, [shape(y, 0), 2]) };
    });
    expect(shapes.z).toBe('[m, 2]');
    const bc = await runBuilt(graph, { x: f32([1, 2], [1, 2]), y: f32([3], iota(3)) });
    expect(bc.z).toEqual({ dtype: 'float32', shape: [3, 2], values: [1, 2, 1, 2, 1, 2] });
    const same = await runBuilt(graph, { x: f32([2, 2], [1, 2, 3, 4]), y: f32([2], iota(2)) });
    expect(same.z).toEqual({ dtype: 'float32', shape: [2, 2], values: [1, 2, 3, 4] });
  });
  it('rejects dims that are neither 1 nor equal', () => {
    expectDslError(() => build((net) => ({ y: expand(net.input('x', 'float32', [2, 3]), [4, 3]) })), FILE, /^expand: argument 'expand_shape' asks for 4 in dim 0, but input \[2, 3\] has 2 there \(only dims of size 1 expand\)/);
    expectDslError(() => build((net) => ({ y: expand(net.input('x', 'float32', [2, 3]), [3]) })), FILE, /^expand: argument 'expand_shape' has 1 entries, fewer than the 2 dims of input \[2, 3\]/);
    expectDslError(() => build((net) => ({ y: expand(net.input('x', 'float32', [3]), [-1, 3]) })), FILE, /^expand: argument 'expand_shape' has -1 at position 0, a new leading dim/);
    expectDslError(() => build((net) => ({ y: expand(net.input('x', 'float32', [1]), [-2]) })), FILE, /^expand: argument 'expand_shape' has -2 at position 0/);
  });
});

describe('split and chunk', () => {
  it('splits by size (last piece smaller) and by sections', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [5, 2]);
      const [a, b, c] = split(x, 2);
      const [d, e] = split(x, [1, 4], 0);
      expect(split(x, 2).length).toBe(3);
      return { a, b, c, d, e };
    });
    expect(shapes).toEqual({ a: '[2, 2]', b: '[2, 2]', c: '[1, 2]', d: '[1, 2]', e: '[4, 2]' });
    const r = await runBuilt(graph, { x: f32([5, 2], iota(10)) });
    expect([r.a.values, r.b.values, r.c.values]).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect([r.d.values, r.e.values]).toEqual([[0, 1], [2, 3, 4, 5, 6, 7, 8, 9]]);
  });
  it('splits a static dim next to symbolic ones', async () => {
    const { graph, shapes } = build((net) => {
      const [a, b] = split(net.input('x', 'float32', ['batch', 6]), [2, 4], -1);
      const [c, d, e] = chunk(net.input('y', 'float32', ['batch', 6]), 3, 1);
      return { a, b, c, d, e };
    });
    expect(shapes).toEqual({ a: '[batch, 2]', b: '[batch, 4]', c: '[batch, 2]', d: '[batch, 2]', e: '[batch, 2]' });
    const r = await runBuilt(graph, { x: f32([2, 6], iota(12)), y: f32([2, 6], iota(12)) });
    expect(r.a).toEqual({ dtype: 'float32', shape: [2, 2], values: [0, 1, 6, 7] });
    expect(r.b.values).toEqual([2, 3, 4, 5, 8, 9, 10, 11]);
    expect([r.c.values, r.d.values, r.e.values]).toEqual([[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]);
  });
  it('rejects bad sections, symbolic dims and uneven chunks', () => {
    expectDslError(() => build((net) => ({ y: split(net.input('x', 'float32', [5, 2]), [1, 2])[0] })), FILE, /^split: argument 'split_size_or_sections' \[1, 2\] adds up to 3, but dim 0 of input \[5, 2\] has size 5/);
    expectDslError(() => build((net) => ({ y: split(net.input('x', 'float32', ['batch', 2]), 1)[0] })), FILE, /^split: argument 'dim' is 0, a dim of size batch in input \[batch, 2\]; the split dim must be static/);
    expectDslError(() => build((net) => ({ y: split(net.input('x', 'float32', [5, 2]), 0)[0] })), FILE, /^split: argument 'split_size_or_sections' must be an integer >= 1, got number 0/);
    expectDslError(() => build((net) => ({ y: chunk(net.input('x', 'float32', [2, 6]), 4, 1)[0] })), FILE, /^chunk: argument 'chunks' is 4, which does not divide dim 1 of size 6/, /fix: use split\(input, 2, 1\)/);
  });
});

describe('scatter', () => {
  it('writes updates at element indices along dim', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [2, 3]);
      const u = net.input('u', 'float32', [2, 2]);
      return { d1: scatter(x, 1, net.input('i', 'int32', [2, 2]), u), d0: scatter(x, 0, net.input('j', 'int64', [1, 2]), net.input('v', 'float32', [1, 2])) };
    }, { x: f32([2, 3], [0, 0, 0, 0, 0, 0]), u: f32([2, 2], [1, 2, 3, 4]), i: i32([2, 2], [2, 0, 1, 2]), j: i64([1, 2], [1, 0]), v: f32([1, 2], [8, 9]) });
    expect(r.d1).toEqual({ dtype: 'float32', shape: [2, 3], values: [2, 0, 1, 0, 3, 4] });
    expect(r.d0.values).toEqual([0, 9, 0, 8, 0, 0]);
  });
  it('checks dtypes and shapes', () => {
    expectDslError(() => build((net) => ({ y: scatter(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [2, 2]), net.input('u', 'float32', [2, 3])) })), FILE, /^scatter: argument 'updates' has shape \[2, 3\]; expected the shape of indices \[2, 2\]/);
    expectDslError(() => build((net) => ({ y: scatter(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [2, 2]), net.input('u', 'int32', [2, 2])) })), FILE, /^scatter: arguments 'input' \(float32\) and 'updates' \(int32\) must have the same dtype/);
    expectDslError(() => build((net) => ({ y: scatter(net.input('x', 'float32', [2, 3]), 1, net.input('i', 'int32', [2]), net.input('u', 'float32', [2])) })), FILE, /^scatter: argument 'indices' has rank 1 \(shape \[2\]\); expected rank 2/);
  });
});

describe('scatter_nd', () => {
  it('writes elements and rows addressed by index tuples', async () => {
    const r = await run((net) => ({
      el: scatter_nd(net.input('x', 'float32', [4]), net.input('i', 'int32', [2, 1]), net.input('u', 'float32', [2])),
      row: scatter_nd(net.input('y', 'float32', [2, 3]), net.input('j', 'int64', [1, 1]), net.input('v', 'float32', [1, 3])),
      pt: scatter_nd(net.input('z', 'float32', [2, 2]), net.input('k', 'int32', [1, 2]), net.input('w', 'float32', [1])),
    }), {
      x: f32([4], [0, 0, 0, 0]), i: i32([2, 1], [1, 3]), u: f32([2], [9, 10]),
      y: f32([2, 3], [0, 0, 0, 0, 0, 0]), j: i64([1, 1], [1]), v: f32([1, 3], [7, 8, 9]),
      z: f32([2, 2], [1, 1, 1, 1]), k: i32([1, 2], [1, 0]), w: f32([1], [5]),
    });
    expect(r.el).toEqual({ dtype: 'float32', shape: [4], values: [0, 9, 0, 10] });
    expect(r.row.values).toEqual([0, 0, 0, 7, 8, 9]);
    expect(r.pt.values).toEqual([1, 1, 5, 1]);
  });
  it('checks the updates shape and the index depth', () => {
    expectDslError(() => build((net) => ({ y: scatter_nd(net.input('x', 'float32', [2, 3]), net.input('i', 'int32', [1, 1]), net.input('u', 'float32', [2])) })), FILE, /^scatter_nd: argument 'updates' has shape \[2\]; expected \[1, 3\] \(indices\.shape\[:-1\] \+\+ input\.shape\[1:\]\)/);
    expectDslError(() => build((net) => ({ y: scatter_nd(net.input('x', 'float32', [2, 3]), net.input('i', 'int32', [1, 3]), net.input('u', 'float32', [1])) })), FILE, /^scatter_nd: argument 'indices' has index depth 3 \(shape \[1, 3\]\); expected 1\.\.2/);
  });
});

describe('nonzero', () => {
  it('returns [rank, count] int64 coordinates in row-major order', async () => {
    const { graph, shapes } = build((net) => ({ y: nonzero(net.input('x', 'float32', [2, 3])) }));
    expect(shapes.y).toMatch(/^\[2, nonzero#\d+\]$/);
    const r = await runBuilt(graph, { x: f32([2, 3], [0, 1, 0, 2, 0, 3]) });
    expect(r.y).toEqual({ dtype: 'int64', shape: [2, 3], values: [0, 1, 1, 1, 0, 2] });
    const none = await runBuilt(graph, { x: f32([2, 3], [0, 0, 0, 0, 0, 0]) });
    expect(none.y.shape).toEqual([2, 0]);
  });
  it('needs rank >= 1', () => {
    expectDslError(() => build((net) => ({ y: nonzero(net.input('x', 'float32', [])) })), FILE, /^nonzero: argument 'input' has rank 0 \(shape \[\]\); expected rank 1\.\.8/);
  });
});

describe('repeat_interleave', () => {
  it('repeats each element along a dim', async () => {
    const { graph, shapes } = build((net) => {
      const x = net.input('x', 'float32', [2, 2]);
      return { d0: repeat_interleave(x, 2, 0), d1: repeat_interleave(x, 3, -1) };
    });
    expect(shapes).toEqual({ d0: '[4, 2]', d1: '[2, 6]' });
    const r = await runBuilt(graph, { x: f32([2, 2], [1, 2, 3, 4]) });
    expect(r.d0.values).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
    expect(r.d1.values).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
  });
  it('multiplies a symbolic dim', async () => {
    const { graph, shapes } = build((net) => ({ y: repeat_interleave(net.input('x', 'int32', ['batch', 2]), 2, 0) }));
    expect(shapes.y).toBe('[2*batch, 2]');
    const r = await runBuilt(graph, { x: i32([2, 2], [1, 2, 3, 4]) });
    expect(r.y).toEqual({ dtype: 'int32', shape: [4, 2], values: [1, 2, 1, 2, 3, 4, 3, 4] });
  });
  it('rejects negative repeats and bad dims', () => {
    expectDslError(() => build((net) => ({ y: repeat_interleave(net.input('x', 'float32', [2]), -1, 0) })), FILE, /^repeat_interleave: argument 'repeats' must be an integer >= 0, got number -1/);
    expectDslError(() => build((net) => ({ y: repeat_interleave(net.input('x', 'float32', [2]), 2, 1) })), FILE, /^repeat_interleave: argument 'dim' is 1, out of range for a tensor of rank 1/);
  });
});
