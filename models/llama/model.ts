/**
 * A Llama-family decoder in the DSL (the reference's modeling_llama.py): embedding, RMSNorm,
 * rotary embedding at explicit positions, grouped-query attention under an explicit boolean
 * mask (masked scores are replaced by the dtype's lowest finite value), SiLU-gated MLP, final norm, lm_head.
 */
import type { DType } from '../../dsl/dtype.js';
import { f32ToBf16, f32ToF16, FLOAT_DTYPES, lowestFinite } from '../../dsl/dtype.js';
import { ModelError, UsageError } from '../../dsl/errors.js';
import type { Network, Tensor } from '../../dsl/network.js';
import {
  add, attention, cast, concat, cos, embedding, gather_nd, kv_cache_update, logical_and, lt, max, maximum, mul, permute, pow, recip,
  rms_norm, rotary_embedding, select, shape, silu, sin, sub, unsqueeze, view,
} from '../../ops/index.js';
import type { WeightSource } from '../env.js';
import type { LlamaConfig } from './config.js';
// Projections may be quantized: this linear applies a float or quantized weight (ops' linear for a float one).
import { linear, projectionWeight, type Projection, type QuantScheme } from './linear.js';
import { prequantizedProjection } from './prequant.js';
import { expandKv, rowParallel, vocabParallelLogits, type RankShards } from './tp.js';

/** float32's lowest finite value: the reference's additive bias for masked positions. */
export const F32_LOWEST = lowestFinite('float32');

/** Weight tensors of one Llama checkpoint as constants of one network. */
export interface LlamaWeights {
  embed: Tensor;
  layers: {
    /** Projections: float [out, in], or quantized (--quantize, or a pre-quantized checkpoint; ./linear.ts). */
    q: Projection; k: Projection; v: Projection; o: Projection; gate: Projection; up: Projection; down: Projection;
    inNorm: Tensor; postNorm: Tensor;
    /** Projection biases, where the family has them (Qwen2: q/k/v; attention_bias / mlp_bias). */
    bias: { q?: Tensor; k?: Tensor; v?: Tensor; o?: Tensor; gate?: Tensor; up?: Tensor; down?: Tensor };
    /** Qwen3's per-head RMSNorm weights over head_dim. */
    qNorm?: Tensor; kNorm?: Tensor;
  }[];
  norm: Tensor;
  /** The lm_head, or this rank's vocabulary shard of it under tensor parallelism. */
  lmHead: Tensor;
  /** Tensor parallelism: what this rank holds (models/llama/tp.ts); undefined on one device. */
  shards?: RankShards;
}

/** A weight as a constant of `dtype` (float32 checkpoints are converted at load time). */
export function weightConstant(net: Network, ws: WeightSource, name: string, shape: number[], dtype: DType): Tensor {
  const lazy = ws.lazy?.(name, shape);
  // A cast would turn integer bits into plausible-looking floats: refuse instead.
  const stored = lazy?.dtype ?? ws.get(name, shape).dtype;
  if (!FLOAT_DTYPES.includes(stored))
    throw new ModelError(`weight '${name}' in ${ws.path} has dtype ${stored}; the model needs a float weight (float32, float16 or bfloat16) of shape [${shape.join(', ')}]`, 'the checkpoint is not this model\'s float weights: re-export it with float tensors');
  if (lazy && (lazy.dtype === dtype || lazy.dtype === 'float32')) {
    // Streamed: read (and converted) whenever a backend needs the bytes, never kept.
    return net.lazyConstant(dtype, lazy.shape, () => (lazy.dtype === dtype ? lazy.read() : convertF32(lazy.read() as Float32Array, dtype)), name);
  }
  const w = ws.get(name, shape);
  if (w.dtype === dtype) return net.constant(w.data, dtype, w.shape, name);
  if (w.dtype !== 'float32') return cast(net.constant(w.data, w.dtype, w.shape, name), dtype);
  return net.constant(convertF32(w.data as Float32Array, dtype), dtype, w.shape, name);
}

/** float32 weights in `dtype` (half types rounded to nearest even). */
function convertF32(src: Float32Array, dtype: DType): Float32Array | Uint16Array {
  if (dtype === 'float32') return src;
  const conv = dtype === 'float16' ? f32ToF16 : f32ToBf16;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]);
  return out;
}

/**
 * Loads and shape-checks every weight against the config (names as Hugging Face). `quantize`
 * quantizes the seven projections of each layer (embedding, norms and lm_head stay in `dtype`);
 * a checkpoint that config.json says is quantized (cfg.quantization) loads its projections as stored.
 */
export function llamaWeights(net: Network, cfg: LlamaConfig, ws: WeightSource, dtype: DType = 'float32', quantize?: QuantScheme): LlamaWeights {
  const H = cfg.hiddenSize;
  const qd = cfg.numHeads * cfg.headDim;
  const kvd = cfg.numKvHeads * cfg.headDim;
  const w = (name: string, s: number[]) => weightConstant(net, ws, name, s, dtype);
  if (quantize && cfg.quantization)
    // A flag that conflicts with the checkpoint is a usage error (exit 2), as --tp with a pre-quantized checkpoint is.
    throw new UsageError(`--quantize ${quantize.kind}: the checkpoint in ${ws.path} is already quantized (config.json quantization_config: ${cfg.quantization.method})`, 'drop --quantize: a pre-quantized checkpoint loads as it is');
  const proj = (name: string, s: number[]): Projection => {
    const pre = cfg.quantization && prequantizedProjection(net, ws, name.replace(/\.weight$/, ''), s[0]!, s[1]!, dtype, cfg.quantization);
    return pre || projectionWeight(net, ws, name, s, dtype, quantize, () => w(name, s));
  };
  const embed = w('model.embed_tokens.weight', [cfg.vocabSize, H]);
  const layers = Array.from({ length: cfg.numLayers }, (_, l) => {
    const p = `model.layers.${l}`;
    return {
      q: proj(`${p}.self_attn.q_proj.weight`, [qd, H]),
      k: proj(`${p}.self_attn.k_proj.weight`, [kvd, H]),
      v: proj(`${p}.self_attn.v_proj.weight`, [kvd, H]),
      o: proj(`${p}.self_attn.o_proj.weight`, [H, qd]),
      gate: proj(`${p}.mlp.gate_proj.weight`, [cfg.intermediateSize, H]),
      up: proj(`${p}.mlp.up_proj.weight`, [cfg.intermediateSize, H]),
      down: proj(`${p}.mlp.down_proj.weight`, [H, cfg.intermediateSize]),
      inNorm: w(`${p}.input_layernorm.weight`, [H]),
      postNorm: w(`${p}.post_attention_layernorm.weight`, [H]),
      bias: {
        ...(cfg.qkvBias ? { q: w(`${p}.self_attn.q_proj.bias`, [qd]), k: w(`${p}.self_attn.k_proj.bias`, [kvd]), v: w(`${p}.self_attn.v_proj.bias`, [kvd]) } : {}),
        ...(cfg.oBias ? { o: w(`${p}.self_attn.o_proj.bias`, [H]) } : {}),
        ...(cfg.mlpBias ? { gate: w(`${p}.mlp.gate_proj.bias`, [cfg.intermediateSize]), up: w(`${p}.mlp.up_proj.bias`, [cfg.intermediateSize]), down: w(`${p}.mlp.down_proj.bias`, [H]) } : {}),
      },
      ...(cfg.qkNorm ? { qNorm: w(`${p}.self_attn.q_norm.weight`, [cfg.headDim]), kNorm: w(`${p}.self_attn.k_norm.weight`, [cfg.headDim]) } : {}),
    };
  });
  const norm = w('model.norm.weight', [H]);
  const lmHead = cfg.tieWordEmbeddings && !ws.has('lm_head.weight') ? embed : w('lm_head.weight', [cfg.vocabSize, H]);
  return { embed, layers, norm, lmHead };
}

/** inv_freq as the reference computes it in float32: 1 / base^(2i/d), then linear or llama3 scaling. */
export function invFreq(cfg: LlamaConfig): Float32Array {
  const d = cfg.headDim;
  const f = Math.fround;
  const out = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) out[i] = f(1 / f(Math.pow(cfg.ropeTheta, f((2 * i) / d))));
  const r = cfg.rope;
  if (r.type === 'linear') for (let i = 0; i < out.length; i++) out[i] = f(out[i] / r.factor);
  if (r.type === 'llama3') {
    // transformers' _compute_llama3_parameters: long wavelengths divided by factor, short kept, a smooth blend between.
    const old = r.originalMaxPositionEmbeddings;
    const lowWavelen = old / r.lowFreqFactor;
    const highWavelen = old / r.highFreqFactor;
    for (let i = 0; i < out.length; i++) {
      const inv = out[i];
      const wavelen = f((2 * Math.PI) / inv);
      let scaled = wavelen > lowWavelen ? f(inv / r.factor) : inv;
      const smooth = f(f(f(old / wavelen) - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor));
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) scaled = f(f(f(f(1 - smooth) * scaled) / r.factor) + f(smooth * scaled));
      out[i] = scaled;
    }
  }
  return out;
}

/**
 * inv_freq as a graph value. Dynamic NTK scaling recomputes the base from the longest position
 * of the call (`max(position_ids) + 1`, at least max_position_embeddings), as transformers'
 * dynamic rotary embedding does on every forward.
 */
function invFreqTensor(net: Network, cfg: LlamaConfig, position_ids: Tensor, rope_len?: Tensor): Tensor {
  const r = cfg.rope;
  if (r.type !== 'dynamic') return net.constant(invFreq(cfg), 'float32', [cfg.headDim / 2], 'rope.inv_freq');
  const d = cfg.headDim;
  const M = r.maxPositionEmbeddings;
  // The call's longest position + 1 (a scalar), or one sequence length per query (B, q, 1).
  const longest = rope_len ? unsqueeze(cast(rope_len, 'float32'), -1) : add(cast(max(position_ids, [0, 1]), 'float32'), 1);
  const seq = maximum(longest, M);
  // base' = theta * (factor * seq / M - (factor - 1)) ^ (d / (d - 2))
  const base = mul(pow(sub(mul(seq, r.factor / M), r.factor - 1), d / (d - 2)), cfg.ropeTheta);
  const exps = net.constant(Float32Array.from({ length: d / 2 }, (_, i) => Math.fround((2 * i) / d)), 'float32', [d / 2], 'rope.exponents');
  return recip(pow(base, exps));
}

/**
 * cos and sin (B, q, head_dim / 2) at `position_ids` (B, q): the rotary_embedding layer's
 * caches (it pairs dim i with dim i + head_dim / 2, as the reference's rotate_half).
 */
function rotary(net: Network, cfg: LlamaConfig, position_ids: Tensor, dtype: DType, rope_len?: Tensor): [Tensor, Tensor] {
  const inv = invFreqTensor(net, cfg, position_ids, rope_len);
  const freqs = mul(unsqueeze(cast(position_ids, 'float32'), -1), inv); // (B, q, d/2)
  return [cast(cos(freqs), dtype), cast(sin(freqs), dtype)];
}

export interface LlamaInputs {
  /** (B, q) int64 */
  input_ids: Tensor;
  /** (B, q, past + q) bool: true where a query may attend a key. */
  attention_mask: Tensor;
  /** (B, q) int64 */
  position_ids: Tensor;
  /** (layers, 2, B, kv_heads, past, head_dim), optional. */
  past_kv?: Tensor;
  /**
   * (B, past + q) int64: the position of each key. Needed when a layer has a sliding window:
   * a query at position p sees keys at positions above p - window.
   */
  key_positions?: Tensor;
  /**
   * (B, q) int64, dynamic NTK scaling only: the sequence length each query's rotation assumes.
   * Default: the call's longest position + 1 for all (transformers' forward). The step graph
   * passes position + 1 for draft tokens, so a verified token is rotated as one-token-at-a-time
   * decoding rotates it.
   */
  rope_len?: Tensor;
}

/** The mask of a layer with a sliding window: also require query position - key position < window. */
export function slidingWindowMask(keep: Tensor, position_ids: Tensor, key_positions: Tensor, window: number): Tensor {
  const dist = sub(unsqueeze(position_ids, 2), unsqueeze(key_positions, 1)); // (B, q, S)
  return logical_and(keep, lt(dist, window));
}

export interface LlamaOutputs {
  /** (B, q, vocab) float32 */
  logits: Tensor;
  /** (B, q, hidden) after the final norm */
  hidden_states: Tensor;
  /** (layers, 2, B, kv_heads, past + q, head_dim): keys after rotary embedding */
  present_kv: Tensor;
}

/** One layer's key/value cache: (B, kv_heads, capacity, head_dim) each, in the weights' dtype. */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
}

export interface LlamaCachedInputs {
  /** (B, q) int64 */
  input_ids: Tensor;
  /** (B, q) int64 */
  position_ids: Tensor;
  /** (B, q, capacity) bool: true where a query may attend a cache slot (after the write). */
  attention_mask: Tensor;
  /** Per layer: the cache before this call. */
  caches: LayerCache[];
  /** (B) int64: cache slot of row b's first new entry; entry i goes to slot write_indices[b] + i. */
  write_indices: Tensor;
  /** (B, capacity) int64: the position of each cache slot (sliding-window layers). */
  key_positions?: Tensor;
  /** As LlamaInputs.rope_len. */
  rope_len?: Tensor;
  /**
   * (B, R) int64: the query rows whose logits are computed (lm_head, and its all_gather under
   * tensor parallelism, on those rows only); default every row. hidden_states keep every row.
   */
  logit_rows?: Tensor;
}

export interface LlamaCachedOutputs {
  /** (B, q, vocab) float32, or (B, R, vocab) for `logit_rows`. */
  logits: Tensor;
  hidden_states: Tensor;
  /** Per layer: the cache with this call's q entries written (kv_cache_update, in place). */
  caches: LayerCache[];
}

/** Where a layer's attention reads keys and values from, given this call's new ones (B, kvh, q, hd). */
type KvSource = (l: number, k: Tensor, v: Tensor) => LayerCache;

/** The forward pass. Computes in the weights' dtype; logits are float32. */
export function llama_forward(cfg: LlamaConfig, w: LlamaWeights, x: LlamaInputs): LlamaOutputs {
  const dtype = w.embed.dtype;
  const presents: Tensor[] = [];
  const out = decoder(cfg, w, x, (l, ks, vs) => {
    if (x.past_kv) {
      const layerPast = select(x.past_kv, 0, l); // (2, B, kvh, past, hd)
      ks = concat([cast(select(layerPast, 0, 0), dtype), ks], 2);
      vs = concat([cast(select(layerPast, 0, 1), dtype), vs], 2);
    }
    presents.push(unsqueeze(concat([unsqueeze(ks, 0), unsqueeze(vs, 0)], 0), 0)); // (1, 2, B, kvh, S, hd)
    return { k: ks, v: vs };
  });
  const present_kv = presents.length === 1 ? presents[0] : concat(presents, 0);
  return { ...out, present_kv };
}

/**
 * The forward pass over per-layer caches: each layer writes its q new keys and values into its
 * cache at `write_indices` (kv_cache_update, in place on TensorRT) and attends the whole updated
 * cache under `attention_mask`; nothing is concatenated or copied.
 */
export function llama_forward_cached(cfg: LlamaConfig, w: LlamaWeights, x: LlamaCachedInputs): LlamaCachedOutputs {
  if (x.caches.length !== cfg.numLayers) throw new Error(`llama_forward_cached: ${x.caches.length} layer caches for ${cfg.numLayers} layers`);
  const caches: LayerCache[] = [];
  const out = decoder(cfg, w, x, (l, ks, vs) => {
    const c = { k: kv_cache_update(x.caches[l]!.k, ks, x.write_indices), v: kv_cache_update(x.caches[l]!.v, vs, x.write_indices) };
    caches.push(c);
    return c;
  });
  return { ...out, caches };
}

/** The decoder layers, final norm and lm_head; `kvOf` says which keys/values each layer attends. */
function decoder(cfg: LlamaConfig, w: LlamaWeights, x: { input_ids: Tensor; position_ids: Tensor; attention_mask: Tensor; key_positions?: Tensor; rope_len?: Tensor; logit_rows?: Tensor }, kvOf: KvSource) {
  const net = x.input_ids.net;
  const dtype = w.embed.dtype;
  const { headDim: hd } = cfg;
  // Tensor parallelism: this rank's heads; o/down/lm_head partial results are combined across ranks.
  const sh = w.shards;
  const nh = sh ? sh.heads[1] - sh.heads[0] : cfg.numHeads;
  const kvh = sh ? sh.kvHeads[1] - sh.kvHeads[0] : cfg.numKvHeads;
  const B = shape(x.input_ids, 0);
  const q = shape(x.input_ids, 1);
  let h = embedding(x.input_ids, w.embed); // (B, q, H)
  // Masked scores are *replaced* by the dtype's lowest finite value (a select, not an additive
  // bias): finite in every dtype, never overflowing, and a fully masked row (the prompt slot of
  // a generation row) softmaxes to a uniform row instead of NaN. In float32 this equals the
  // reference's `scores + finfo.min`, which absorbs any score below ~1e31.
  const keep = unsqueeze(x.attention_mask, 1); // (B, 1, q, S)
  const windowed = new Map<number, Tensor>();
  const keepOf = (l: number): Tensor => {
    const win = cfg.layerWindows[l] ?? null;
    if (win === null) return keep;
    if (!x.key_positions) throw new Error(`llama_forward: layer ${l} has a sliding window of ${win}; pass key_positions`);
    if (!windowed.has(win)) windowed.set(win, unsqueeze(slidingWindowMask(x.attention_mask, x.position_ids, x.key_positions, win), 1));
    return windowed.get(win)!;
  };
  const [c, s] = rotary(net, cfg, x.position_ids, dtype, x.rope_len);
  const rope = (t: Tensor) => rotary_embedding(t, c, s);
  const split = (t: Tensor, n: number) => view(t, concat([B, q, n, hd])); // (B, q, n, hd)
  const heads = (t: Tensor) => permute(t, [0, 2, 1, 3]); // (B, n, q, hd)
  const norm = (t: Tensor, wn?: Tensor) => (wn ? rms_norm(t, hd, wn, cfg.rmsNormEps) : t);
  const scale = 1 / Math.sqrt(hd);
  w.layers.forEach((lw, l) => {
    const hn = rms_norm(h, cfg.hiddenSize, lw.inNorm, cfg.rmsNormEps);
    const qs = rope(heads(norm(split(linear(hn, lw.q, lw.bias.q), nh), lw.qNorm)));
    const ks = rope(heads(norm(split(linear(hn, lw.k, lw.bias.k), kvh), lw.kNorm)));
    const vs = heads(split(linear(hn, lw.v, lw.bias.v), kvh));
    const kv = kvOf(l, ks, vs);
    // Grouped-query attention under the boolean mask (one IR layer: IAttention on TensorRT 10.14+).
    const attn = attention(qs, sh ? expandKv(sh, kv.k) : kv.k, sh ? expandKv(sh, kv.v) : kv.v, { mask: keepOf(l), scale }); // (B, nh, q, hd)
    const merged = view(permute(attn, [0, 2, 1, 3]), concat([B, q, nh * hd]));
    h = add(h, sh ? rowParallel(sh, linear(merged, lw.o), lw.bias.o) : linear(merged, lw.o, lw.bias.o));
    const hn2 = rms_norm(h, cfg.hiddenSize, lw.postNorm, cfg.rmsNormEps);
    const act = mul(silu(linear(hn2, lw.gate, lw.bias.gate)), linear(hn2, lw.up, lw.bias.up));
    h = add(h, sh ? rowParallel(sh, linear(act, lw.down), lw.bias.down) : linear(act, lw.down, lw.bias.down));
  });
  const hidden_states = rms_norm(h, cfg.hiddenSize, w.norm, cfg.rmsNormEps);
  const head = x.logit_rows ? gather_nd(hidden_states, unsqueeze(x.logit_rows, -1), 1) : hidden_states; // (B, R, H)
  const logits = cast(sh ? vocabParallelLogits(sh, head, w.lmHead, cfg.vocabSize) : linear(head, w.lmHead), 'float32');
  return { logits, hidden_states };
}
