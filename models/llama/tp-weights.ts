/**
 * One tensor-parallel rank's Llama weights (the layout in ./tp.ts): each sharded weight is read
 * as this rank's slice only (streamed when the checkpoint streams), the replicated ones whole.
 * With --quantize each rank quantizes its own projection shards (per-channel and per-group scales
 * of row shards are tp=1's; a column shard's come from its own inputs, as in TensorRT-LLM's
 * per-rank checkpoints).
 */
import type { DType } from '../../dsl/dtype.js';
import type { Network } from '../../dsl/network.js';
import type { WeightSource } from '../env.js';
import type { LlamaConfig } from './config.js';
import { weightConstant, type LlamaWeights } from './model.js';
import { rankShards, shardConstant, shardSource, type TensorParallel } from './tp.js';
import { projectionWeight, type Projection, type QuantScheme } from './linear.js';
import { UsageError } from '../../dsl/errors.js';

/** The input dim of projection `name`'s shard on the rank holding `sh`: o_proj and down_proj are cut along their inputs, the others are whole. */
function inputsOf(sh: ReturnType<typeof rankShards>, name: string, H: number, hd: number): number {
  if (name.endsWith('o_proj.weight')) return (sh.heads[1] - sh.heads[0]) * hd;
  if (name.endsWith('down_proj.weight')) return sh.inter[1] - sh.inter[0];
  return H;
}

/** The largest of 128, 64, …, 2 dividing every dim (1: none does). */
function commonGroup(dims: number[]): number {
  for (const g of [128, 64, 32, 16, 8, 4, 2]) if (dims.every((d) => d % g === 0)) return g;
  return 1;
}

/** Rank tp.rank's weights: the shape of llamaWeights' result, with `shards` set. */
export function llamaShardWeights(net: Network, cfg: LlamaConfig, ws: WeightSource, dtype: DType, tp: TensorParallel, quantize?: QuantScheme): LlamaWeights {
  const sh = rankShards(cfg, tp);
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const qd = cfg.numHeads * hd;
  const kvd = cfg.numKvHeads * hd;
  const I = cfg.intermediateSize;
  const full = (name: string, s: number[]) => weightConstant(net, ws, name, s, dtype);
  const part = (name: string, s: number[], axis: number, r: readonly [number, number], pad?: number, scale?: number) => shardConstant(net, ws, name, s, dtype, axis, r, pad, scale);
  // A projection shard, quantized (--quantize) from this rank's slice alone when asked.
  const proj = (name: string, s: number[], axis: number, r: readonly [number, number], scale?: number): Projection => {
    if (!quantize) return part(name, s, axis, r, undefined, scale);
    const shardShape = s.map((d, i) => (i === axis ? r[1] - r[0] : d));
    if (quantize.kind === 'int4-wo' && shardShape[1] % quantize.group !== 0) {
      // The group must divide every rank's shard, not this one's only (ranks' shards differ by one head or row).
      const shards = Array.from({ length: tp.size }, (_, rr) => rankShards(cfg, { size: tp.size, rank: rr }));
      const dims = [...new Set(shards.map((x) => inputsOf(x, name, H, hd)))];
      // Every projection's input dim on every rank (o_proj, down_proj shards; the others' H).
      const all = [...new Set([H, ...shards.flatMap((x) => [inputsOf(x, 'o_proj.weight', H, hd), inputsOf(x, 'down_proj.weight', H, hd)])])];
      const g = commonGroup(all);
      throw new UsageError(
        `--quantize int4-wo:${quantize.group} --tp ${tp.size}: rank ${tp.rank}'s shard of '${name}' has ${shardShape[1]} inputs, not a multiple of the group size (the ranks' shards of it have ${dims.join(', ')} inputs)`,
        g > 1 ? `pick a group size that divides every projection's input dim on every rank (${all.join(', ')}), e.g. int4-wo:${g}, or another --tp` : `no group size above 1 divides every projection's input dim on every rank (${all.join(', ')}): pick a --tp that splits the heads and intermediate size evenly, or --quantize int8-wo`,
      );
    }
    return projectionWeight(net, shardSource(ws, name, s, axis, r, scale), name, shardShape, dtype, quantize, () => part(name, s, axis, r, undefined, scale));
  };
  const qr = [sh.heads[0] * hd, sh.heads[1] * hd] as const;
  const kvr = [sh.kvHeads[0] * hd, sh.kvHeads[1] * hd] as const;
  const embed = full('model.embed_tokens.weight', [cfg.vocabSize, H]);
  const layers = Array.from({ length: cfg.numLayers }, (_, l) => {
    const p = `model.layers.${l}`;
    return {
      q: proj(`${p}.self_attn.q_proj.weight`, [qd, H], 0, qr),
      k: proj(`${p}.self_attn.k_proj.weight`, [kvd, H], 0, kvr),
      v: proj(`${p}.self_attn.v_proj.weight`, [kvd, H], 0, kvr),
      o: proj(`${p}.self_attn.o_proj.weight`, [H, qd], 1, qr, sh.oScale),
      gate: proj(`${p}.mlp.gate_proj.weight`, [I, H], 0, sh.inter),
      up: proj(`${p}.mlp.up_proj.weight`, [I, H], 0, sh.inter),
      down: proj(`${p}.mlp.down_proj.weight`, [H, I], 1, sh.inter),
      inNorm: full(`${p}.input_layernorm.weight`, [H]),
      postNorm: full(`${p}.post_attention_layernorm.weight`, [H]),
      bias: {
        ...(cfg.qkvBias ? { q: part(`${p}.self_attn.q_proj.bias`, [qd], 0, qr), k: part(`${p}.self_attn.k_proj.bias`, [kvd], 0, kvr), v: part(`${p}.self_attn.v_proj.bias`, [kvd], 0, kvr) } : {}),
        // Row-parallel biases are added once, after the all_reduce: whole on every rank.
        ...(cfg.oBias ? { o: full(`${p}.self_attn.o_proj.bias`, [H]) } : {}),
        ...(cfg.mlpBias ? { gate: part(`${p}.mlp.gate_proj.bias`, [I], 0, sh.inter), up: part(`${p}.mlp.up_proj.bias`, [I], 0, sh.inter), down: full(`${p}.mlp.down_proj.bias`, [H]) } : {}),
      },
      ...(cfg.qkNorm ? { qNorm: full(`${p}.self_attn.q_norm.weight`, [hd]), kNorm: full(`${p}.self_attn.k_norm.weight`, [hd]) } : {}),
    };
  });
  const norm = full('model.norm.weight', [H]);
  const headName = cfg.tieWordEmbeddings && !ws.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const lmHead = part(headName, [cfg.vocabSize, H], 0, [sh.vocab.start, sh.vocab.start + sh.vocab.size], sh.vocab.padded);
  return { embed, layers, norm, lmHead, shards: sh };
}
