/** Tree attention and acceptance on hand-made cases, expectations worked out here. */
import { describe, expect, it } from 'vitest';
import { bool, f32, i64, run } from './ops-util.js';
import { causal_mask, count_left_paddings, dedup_prefix, pack, unpack } from '../models/redrafter/tree_attention.js';
import { greedy_choose_from_candidates, greedy_prepare_next_input, sample_from } from '../models/redrafter/accept.js';
import { warp_logits } from '../models/redrafter/logits.js';

// "Mars is a red" / "Mars is reddish when" / "Mars is dark red" as token ids.
const [Mars, is, a, red, reddish, when, dark] = [1, 2, 3, 4, 5, 6, 7];
const beams = [Mars, is, a, red, Mars, is, reddish, when, Mars, is, dark, red];

describe('prefix-tree packing (the reference docs example)', () => {
  it('dedups shared prefixes, packs, and unpacks with [[0,1,2,3],[0,1,4,5],[0,1,6,7]]', async () => {
    const r = await run((net) => {
      const b = net.input('beams', 'int64', [1, 3, 4]);
      const p = pack(b, net.input('padding', 'int64', [1, 2]));
      return { tree: dedup_prefix(b), packed: p.packed_beams, unpacker: p.unpacker, n: p.n_selected, offsets: p.position_offsets, mask: p.causal_mask, back: unpack(net.input('h', 'float32', [1, 12, 1]), p.unpacker) };
    }, { beams: i64([1, 3, 4], beams), padding: i64([1, 2], [0, 1]), h: f32([1, 12, 1], [10, 11, 12, 13, 14, 15, 16, 17, 0, 0, 0, 0]) });
    expect(r.tree.values).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 2, 2]);
    expect(r.n.values).toEqual([8]);
    expect(r.packed.values.slice(0, 8)).toEqual([Mars, is, a, red, reddish, when, dark, red]);
    expect(r.unpacker.values).toEqual([0, 1, 2, 3, 0, 1, 4, 5, 0, 1, 6, 7]);
    expect(r.offsets.values.slice(0, 8)).toEqual([0, 1, 2, 3, 2, 3, 2, 3]);
    expect(r.back.values).toEqual([10, 11, 12, 13, 10, 11, 14, 15, 10, 11, 16, 17]);
    // Row of "when" (slot 5): history column 1 (column 0 is padding), then Mars, is, reddish, when.
    const P = 2;
    const W = 14;
    const row = (i: number) => r.mask.values.slice(i * W, i * W + P + 8);
    expect(row(5)).toEqual([0, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
    expect(row(7)).toEqual([0, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    expect(row(0)).toEqual([0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('causal_mask keeps the last query rows of a tril and drops pad columns; count_left_paddings', async () => {
    const r = await run((net) => {
      const pm = net.input('pm', 'int64', [2, 4]);
      return { m: causal_mask(pm, 2), c: count_left_paddings(net.input('t', 'int64', [2, 4]), 0) };
    }, { pm: i64([2, 4], [1, 1, 1, 1, 0, 1, 1, 1]), t: i64([2, 4], [0, 0, 5, 0, 7, 0, 0, 0]) });
    expect(r.m.values).toEqual([1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1]);
    expect(r.c.values).toEqual([2, 0]);
  });
});

describe('acceptance', () => {
  it('greedy: longest exact-match prefix, ties to the lowest beam, next token and state', async () => {
    // Drafted (after the init token) vs the LLM's predictions: beam 0 matches 1, beams 1 and 2 match 2.
    const r = await run((net) => {
      const d = net.input('d', 'int64', [1, 3, 4]);
      const l = net.input('l', 'int64', [1, 3, 4]);
      const [n, seq] = greedy_choose_from_candidates(d, l);
      const [state, next] = greedy_prepare_next_input(l, net.input('h', 'float32', [1, 3, 4, 1]), seq, n);
      return { n, seq, state, next };
    }, { d: i64([1, 3, 4], [9, 1, 2, 3, 9, 1, 5, 6, 9, 1, 5, 7]), l: i64([1, 3, 4], [1, 8, 8, 8, 1, 5, 4, 8, 1, 5, 3, 8]), h: f32([1, 3, 4, 1], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]) });
    expect(r.n.values).toEqual([2]);
    expect(r.seq.values).toEqual([1]);
    expect(r.next.values).toEqual([4]);
    expect(r.state.values).toEqual([12]);
  });
  it('warp_logits keeps the top k and sets the rest to -50000; sampling inverts the CDF', async () => {
    const r = await run((net) => {
      const x = net.input('x', 'float32', [1, 5]);
      return { w: warp_logits(x, 2), s: sample_from(net.input('p', 'float32', [2, 4]), net.input('u', 'float32', [2])) };
    }, { x: f32([1, 5], [0.1, 3, 2, 3, -1]), p: f32([2, 4], [0, 1, 0, 3, 1, 1, 1, 1]), u: f32([2], [0.3, 0.99]) });
    expect(r.w.values).toEqual([-50000, 3, -50000, 3, -50000]);
    expect(r.s.values).toEqual([3, 3]);
  });
});
void bool;
