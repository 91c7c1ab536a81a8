/**
 * Tree attention over draft beams (the reference's tree_attention.py), with static shapes:
 * beams (B, W, L) pack into W·L slots; the first n_selected[b] slots of row b hold the
 * prefix tree's tokens and the rest is filler (its mask rows and outputs are never used).
 */
import type { Tensor } from '../../dsl/network.js';
import {
  add, arange, argmax, cast, concat, cumsum, eq, expand, floordiv, gather, gather_nd, gt, logical_and,
  logical_not, max, min, minimum, mod, shape, sub, sum, unsqueeze, view, where,
} from '../../ops/index.js';

/** a <= b, elementwise. */
const le = (a: Tensor, b: Tensor): Tensor => logical_not(gt(a, b));

/** prefix_tree[b, i, j] = the smallest beam index k with beams[b, k, :j+1] == beams[b, i, :j+1]. */
export function dedup_prefix(beams: Tensor): Tensor {
  const L = staticDim(beams, 2, 'dedup_prefix');
  // matches[b, i, k, j] = beams[b, i, j] == beams[b, k, j]
  const matches = cast(eq(unsqueeze(beams, 2), unsqueeze(beams, 1)), 'int64');
  const prefix_target = arange(1, L + 1, 'int64');
  const seq_matches = cast(eq(cumsum(matches, 3), prefix_target), 'int64');
  return argmax(seq_matches, 2, false, 'int64');
}

/** 1 where a token is the first occurrence of its prefix (it gets packed). */
function pack_mask(prefix_tree: Tensor): Tensor {
  const W = staticDim(prefix_tree, 1, 'pack');
  return eq(prefix_tree, view(arange(0, W, 'int64'), [1, W, 1]));
}

/** unpacker[b, w, l]: the packed slot holding beams[b, w, l] (packed[unpacker] == beams). */
export function get_unpacker(beams: Tensor, prefix_tree: Tensor): Tensor {
  const L = staticDim(beams, 2, 'get_unpacker');
  const mask = cast(pack_mask(prefix_tree), 'int64');
  const n_per_seq = sum(mask, -1); // (B, W)
  const start_per_seq = cumsum(n_per_seq, -1, true); // exclusive
  const flat_tree = view(prefix_tree, concat([shape(beams, 0), -1]));
  const segment_index = view(gather(start_per_seq, 1, flat_tree), concat([shape(beams, 0), shape(beams, 1), L]));
  const match = eq(unsqueeze(segment_index, 3), unsqueeze(segment_index, 2)); // (B, W, L, L)
  const idx = arange(0, L, 'int64');
  const lower = gt(unsqueeze(idx, 1), unsqueeze(idx, 0)); // (L, L): row > col
  const offset = sum(cast(logical_and(match, lower), 'int64'), -1);
  return add(segment_index, offset);
}

export interface Packed {
  /** (B, W·L) tokens; the first n_selected[b] are the prefix tree in order. */
  packed_beams: Tensor;
  /** (B, W, L) packed slot of each beam token. */
  unpacker: Tensor;
  /** (B, W·L, P + W·L) bool: history columns then packed columns. */
  causal_mask: Tensor;
  /** (B, W·L) depth of each packed token in its beam (position offset). */
  position_offsets: Tensor;
  /** (B) number of real packed tokens per row. */
  n_selected: Tensor;
  /** (B, W·L) flat beam index (w·L + l) of each packed slot (filler: clamped). */
  packed_token_indices: Tensor;
}

/**
 * Packs beams into a prefix tree. `padding_mask` (B, P) marks real history tokens (non-zero).
 * Slot s of row b holds the s-th selected token: its flat index is the count of flat
 * positions whose inclusive selected-count is ≤ s.
 */
export function pack(beams: Tensor, padding_mask: Tensor): Packed {
  const p = pack_tree(beams);
  return { ...p, causal_mask: full_mask(padding_mask, p.tree_mask) };
}

/** pack without history columns: the tree mask (B, W·L, W·L) alone, for callers that mask history by length. */
export function pack_tree(beams: Tensor): Omit<Packed, 'causal_mask'> & { tree_mask: Tensor } {
  const W = staticDim(beams, 1, 'pack');
  const L = staticDim(beams, 2, 'pack');
  const N = W * L;
  const prefix_tree = dedup_prefix(beams);
  const unpacker = get_unpacker(beams, prefix_tree);
  const flat_mask = view(cast(pack_mask(prefix_tree), 'int64'), concat([shape(beams, 0), N])); // (B, N)
  const n_selected = sum(flat_mask, 1);
  const incl = cumsum(flat_mask, 1); // (B, N)
  const slots = arange(0, N, 'int64');
  // le[b, s, j] = incl[b, j] <= s
  const counted = le(unsqueeze(incl, 1), view(slots, [1, N, 1]));
  const packed_token_indices = minimum(sum(cast(counted, 'int64'), 2), N - 1); // (B, N)
  const flat_beams = view(beams, concat([shape(beams, 0), N]));
  const packed_beams = gather(flat_beams, 1, packed_token_indices);
  const position_offsets = mod(packed_token_indices, L);
  const tree = tree_mask(unpacker, packed_token_indices, W, L);
  return { packed_beams, unpacker, tree_mask: tree, position_offsets, n_selected, packed_token_indices };
}

/**
 * mask[b, i, j]: packed token i attends packed token j, i.e. j lies on the path from the root
 * to i in i's beam (unpacker[b, beam(i), l] == j for some l ≤ depth(i)).
 */
export function tree_mask(unpacker: Tensor, packed_token_indices: Tensor, W: number, L: number): Tensor {
  const N = W * L;
  const beam_of = floordiv(packed_token_indices, L); // (B, N)
  const depth = mod(packed_token_indices, L); // (B, N)
  const paths = gather_nd(unpacker, unsqueeze(beam_of, -1), 1); // (B, N, L): slots along i's beam
  const on_path = eq(unsqueeze(paths, -1), view(arange(0, N, 'int64'), [1, 1, 1, N])); // (B, N, L, N)
  const upto = le(view(arange(0, L, 'int64'), [1, 1, L]), unsqueeze(depth, -1)); // (B, N, L)
  const hit = cast(logical_and(on_path, unsqueeze(upto, -1)), 'int64');
  return gt(max(hit, 2), 0); // (B, N, N)
}

/** History columns (the padding mask) then the tree mask: (B, N, P + N). */
function full_mask(padding_mask: Tensor, tree: Tensor): Tensor {
  const hist = gt(cast(unsqueeze(padding_mask, 1), 'int64'), 0); // (B, 1, P)
  const rows = expand(hist, concat([shape(tree, 0), shape(tree, 1), shape(padding_mask, 1)]));
  return concat([rows, tree], 2);
}

/** Beam tensors from packed ones: (B, n, D) + unpacker (B, W, L) → (B, W, L, D). */
export function unpack(packed_tensor: Tensor, unpacker: Tensor): Tensor {
  return unpack_beams(packed_tensor, unpacker);
}

/**
 * TensorRT-LLM's `_unpack_beams`: view the unpacker as (B, W·L, 1) indices, gather_nd with
 * one batch dim, view back to (B, W, L, ...).
 */
export function unpack_beams(x: Tensor, unpacker: Tensor): Tensor {
  const idx = view(unpacker, concat([shape(unpacker, 0), -1, 1]));
  const rows = gather_nd(x, idx, 1);
  const rest = x.shape.slice(2).map((_, i) => shape(x, 2 + i));
  return view(rows, concat([shape(unpacker, 0), shape(unpacker, 1), shape(unpacker, 2), ...rest]));
}

/** (B, q, K) bool: row r sees columns c ≤ K − q + r (tril over the last q rows), pads off. */
export function causal_mask(padding_mask: Tensor, query_len: number | Tensor): Tensor {
  const K = shape(padding_mask, 1);
  const rows = typeof query_len === 'number' ? arange(0, query_len, 'int64') : arange(0, query_len, 'int64');
  const cols = arange(0, K, 'int64');
  const last = add(rows, sub(K, query_len)); // (q): last visible column of each row
  const tri = le(unsqueeze(cols, 0), unsqueeze(last, 1)); // (q, K)
  const pad = gt(cast(unsqueeze(padding_mask, 1), 'int64'), 0); // (B, 1, K)
  return logical_and(unsqueeze(tri, 0), pad);
}

/**
 * Leading pad tokens per row. Equal to the reference's sum(cumprod(tokens == pad)), written as
 * the position of the first non-pad token so the length may be a run-time dim.
 */
export function count_left_paddings(tokens: Tensor, pad_token_id: number): Tensor {
  const T = shape(tokens, 1);
  const positions = unsqueeze(arange(0, T, 'int64'), 0); // (1, T)
  const firstReal = where(logical_not(eq(tokens, pad_token_id)), positions, cast(unsqueeze(unsqueeze(T, 0), 0), 'int64'));
  return min(firstReal, 1);
}

function staticDim(t: Tensor, i: number, op: string): number {
  const d = t.size(i);
  if (typeof d !== 'number') throw new Error(`${op}: dim ${i} of ${t} must be static (beam width and length are build-time parameters)`);
  return d;
}

