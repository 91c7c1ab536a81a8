/** Golden programs for the tree_attention suite. */
import { cast } from '../../ops/index.js';
import { causal_mask, count_left_paddings, dedup_prefix, pack, unpack } from '../redrafter/tree_attention.js';
import { attrNumber, runOnCase, type GoldenProgram } from './types.js';

export const treeAttentionPrograms: Record<string, GoldenProgram> = {
  dedup_prefix: (c, env) => runOnCase(c, env, ({ beams }) => ({ prefix_tree: dedup_prefix(beams) })),
  pack: (c, env) =>
    runOnCase(c, env, ({ beams, padding_mask }) => {
      const p = pack(beams, padding_mask);
      return { packed_beams: p.packed_beams, unpacker: p.unpacker, causal_mask: p.causal_mask, position_offsets: p.position_offsets, n_selected: p.n_selected };
    }),
  unpack: (c, env) => runOnCase(c, env, ({ packed_tensor, unpacker }) => ({ unpacked: unpack(packed_tensor, unpacker) })),
  causal_mask: (c, env) => runOnCase(c, env, ({ padding_mask }) => ({ causal_mask: causal_mask(padding_mask, attrNumber(c, 'query_len')) })),
  count_left_paddings: (c, env) => runOnCase(c, env, ({ tokens }) => ({ count: cast(count_left_paddings(tokens, attrNumber(c, 'pad_token_id', 0)), 'int64') })),
};
