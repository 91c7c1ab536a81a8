/**
 * Tensor parallelism for the Llama decoder (Megatron-LM's layout, as TensorRT-LLM's):
 *
 * - q/k/v and gate/up are column-parallel: rank r holds its heads' rows and its share of the
 *   intermediate rows, and computes them without communication;
 * - o and down are row-parallel: rank r holds the matching columns, and its partial products
 *   are summed by an all_reduce (their biases are added once, after it);
 * - lm_head is vocab-parallel: rank r holds ceil(V/N) vocabulary rows (the last shard
 *   zero-padded), its logits are all-gathered and the padding sliced off, so every rank sees
 *   the whole distribution;
 * - embeddings and norms are replicated (every rank needs the full hidden state).
 *
 * Heads split as evenly as they go (the first nh % N ranks take one more). With fewer heads
 * than ranks each head is computed on N / nh (rounded) neighbouring ranks, whose o_proj columns
 * are scaled by 1 / (that count), so the all_reduce still sums each head once. A rank holds the
 * kv heads its query heads read: exactly kv_heads / N of them when kv_heads and num_heads divide
 * by N, else the groups it touches, so some kv heads are replicated (`tpNotes` says so).
 */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { allocate, f32ToBf16, f32ToF16, FLOAT_DTYPES, getNumber, setNumber } from '../../dsl/dtype.js';
import { ModelError, UsageError } from '../../dsl/errors.js';
import type { Network, Tensor } from '../../dsl/network.js';
import { add, all_gather, all_reduce, cast, index_select, linear, shape, slice } from '../../ops/index.js';
import type { WeightSource } from '../env.js';
import type { LlamaConfig } from './config.js';

/** Which rank of how many this graph is. */
export interface TensorParallel {
  rank: number;
  size: number;
}

/** [start, end) of an index range. */
export type Range = readonly [number, number];

/** What rank `tp.rank` holds of one Llama model. */
export interface RankShards {
  tp: TensorParallel;
  /** The communicator group: every rank, in order. */
  group: number[];
  /** Query heads. */
  heads: Range;
  /** Key/value heads (the cache's heads on this rank). */
  kvHeads: Range;
  /**
   * Local kv head read by each local query head when that grouping is not a uniform GQA one
   * (the kv heads are gathered to one per query head before attention); undefined otherwise.
   */
  kvExpand?: number[];
  /**
   * With fewer heads than ranks: 1 / (ranks computing this rank's head), applied to its o_proj
   * columns so the all_reduce counts the head once; undefined when every head is on one rank.
   */
  oScale?: number;
  /** Intermediate (MLP) rows. */
  inter: Range;
  /** Vocabulary rows [start, start + size) read from the checkpoint, padded with zero rows to `padded`. */
  vocab: { start: number; size: number; padded: number };
}

/** Part r of n items split as evenly as they go (the first n % N parts one longer). */
export function balanced(n: number, N: number, r: number): Range {
  const base = Math.floor(n / N);
  const extra = n % N;
  const start = r * base + Math.min(r, extra);
  return [start, start + base + (r < extra ? 1 : 0)];
}

const len = (r: Range) => r[1] - r[0];

/** Checks a --tp / --rank pair; names the flag. */
export function checkTensorParallel(size: number, rank?: number): void {
  if (!Number.isInteger(size) || size < 1 || size > 64) throw new UsageError(`--tp must be an integer from 1 to 64, got ${size}`, 'pass the number of GPUs, e.g. --tp 2');
  if (rank !== undefined && (!Number.isInteger(rank) || rank < 0 || rank >= size))
    throw new UsageError(`--rank must be an integer from 0 to ${size - 1} with --tp ${size}, got ${rank}`, 'ranks count from 0; omit --rank to build every rank');
}

/** The shards of rank tp.rank. */
export function rankShards(cfg: LlamaConfig, tp: TensorParallel): RankShards {
  checkTensorParallel(tp.size, tp.rank);
  const { numHeads: nh, numKvHeads: kvh } = cfg;
  const g = nh / kvh;
  const N = tp.size;
  // nh < N: rank r computes head floor(r·nh/N), shared with the neighbours that compute it too.
  const headOf = (r: number) => Math.floor((r * nh) / N);
  const heads: Range = nh >= N ? balanced(nh, N, tp.rank) : [headOf(tp.rank), headOf(tp.rank) + 1];
  const sharing = nh >= N ? 1 : Array.from({ length: N }, (_, r) => headOf(r)).filter((h) => h === heads[0]).length;
  const kvHeads: Range = [Math.floor(heads[0] / g), Math.floor((heads[1] - 1) / g) + 1];
  // Query head j reads kv head floor((heads[0] + j) / g); attention's GQA rule is j / (Hq / Hkv).
  const map = Array.from({ length: len(heads) }, (_, j) => Math.floor((heads[0] + j) / g) - kvHeads[0]);
  const hq = len(heads);
  const hkv = len(kvHeads);
  const uniform = hkv > 0 && hq % hkv === 0 && map.every((m, j) => m === Math.floor(j / (hq / hkv)));
  const padded = Math.ceil(cfg.vocabSize / tp.size);
  const vStart = Math.min(tp.rank * padded, cfg.vocabSize);
  return {
    tp,
    group: Array.from({ length: tp.size }, (_, i) => i),
    heads,
    kvHeads,
    kvExpand: uniform ? undefined : map,
    oScale: sharing > 1 ? 1 / sharing : undefined,
    inter: balanced(cfg.intermediateSize, tp.size, tp.rank),
    vocab: { start: vStart, size: Math.min(cfg.vocabSize, vStart + padded) - vStart, padded },
  };
}

/** How many ranks compute a head, ascending and distinct (oScale is undefined where one rank does: 1). */
function sharingCounts(cfg: LlamaConfig, N: number): number[] {
  const n = Array.from({ length: N }, (_, r) => rankShards(cfg, { rank: r, size: N }).oScale).map((s) => (s === undefined ? 1 : Math.round(1 / s)));
  return [...new Set(n)].sort((a, b) => a - b);
}

/** What a --tp N build of this model does beyond an even split, one line each (for warnings and config.json). */
export function tpNotes(cfg: LlamaConfig, N: number): string[] {
  if (N === 1) return [];
  const notes: string[] = [];
  if (cfg.numHeads < N) {
    const k = sharingCounts(cfg, N);
    notes.push(`num_attention_heads ${cfg.numHeads} is less than --tp ${N}: each head is computed on ${k.join(' or ')} rank${k.at(-1) === 1 ? '' : 's'}, whose o_proj columns are scaled to sum it once`);
  }
  else if (cfg.numHeads % N !== 0)
    notes.push(`num_attention_heads ${cfg.numHeads} is not a multiple of --tp ${N}: ranks hold ${[...new Set(Array.from({ length: N }, (_, r) => len(balanced(cfg.numHeads, N, r))))].join(' or ')} query heads`);
  if (cfg.numKvHeads % N !== 0 || cfg.numHeads % N !== 0) {
    const per = Array.from({ length: N }, (_, r) => rankShards(cfg, { rank: r, size: N })).map((s) => `[${s.kvHeads[0]}, ${s.kvHeads[1]})`);
    notes.push(`num_key_value_heads ${cfg.numKvHeads} does not split evenly over --tp ${N}: kv heads are replicated on the ranks whose query heads read them (rank kv heads: ${per.join(', ')})`);
  }
  if (cfg.intermediateSize % N !== 0) notes.push(`intermediate_size ${cfg.intermediateSize} is not a multiple of --tp ${N}: the MLP rows split unevenly (the down projection's all_reduce sums them all)`);
  if (cfg.vocabSize % N !== 0) notes.push(`vocab_size ${cfg.vocabSize} is not a multiple of --tp ${N}: each rank's lm_head shard has ${Math.ceil(cfg.vocabSize / N)} rows, the last zero-padded; the gathered logits drop the padding`);
  return notes;
}

/** float32 data in `dtype` (half types rounded to nearest even). */
function convertF32(src: Float32Array, dtype: DType): TypedArray {
  if (dtype === 'float32') return src;
  const conv = dtype === 'float16' ? f32ToF16 : f32ToBf16;
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]);
  return out;
}

/** `data` times `k` (a copy), rounded to `dtype`. */
function scaled(data: TypedArray, dtype: DType, k: number): TypedArray {
  const out = allocate(dtype, data.length);
  for (let i = 0; i < data.length; i++) setNumber(dtype, out, i, getNumber(dtype, data, i) * k);
  return out;
}

/** `data` ([rows, ...rest] of `dtype`) followed by zero rows up to `padRows`. */
function padRows(data: TypedArray, dtype: DType, shape: number[], padRows: number): TypedArray {
  if (shape[0] === padRows) return data;
  const row = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = allocate(dtype, padRows * row);
  (out as Float32Array).set(data as Float32Array);
  return out;
}

/** Entries [start, start + size) of dim `axis` of `t` (a copy), for sources without slice(). */
function cut(data: TypedArray, dtype: DType, shape: readonly number[], axis: number, start: number, size: number): TypedArray {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = allocate(dtype, outer * size * inner);
  for (let o = 0; o < outer; o++) {
    const from = (o * shape[axis] + start) * inner;
    (out as Float32Array).set((data as Float32Array).subarray(from, from + size * inner), o * size * inner);
  }
  return out;
}

/**
 * One rank's shard of a weight as a constant of `dtype`: `size` entries of dim `axis` from
 * `start`, zero-padded along axis 0 to `pad` rows when given (the vocab shard). A checkpoint
 * with slice() reads those bytes only (streamed, when it streams its weights); otherwise the
 * shard is cut from the whole tensor.
 */
export function shardConstant(net: Network, ws: WeightSource, name: string, fullShape: number[], dtype: DType, axis: number, range: Range, pad?: number, scale?: number): Tensor {
  const [start, end] = range;
  const size = end - start;
  const shape = fullShape.map((d, i) => (i === axis ? size : d));
  const outShape = pad !== undefined ? [pad, ...shape.slice(1)] : shape;
  const reader = ws.slice?.(name, fullShape, axis, start, size);
  const stored = reader?.dtype ?? ws.get(name, fullShape).dtype;
  if (!FLOAT_DTYPES.includes(stored))
    throw new ModelError(`weight '${name}' in ${ws.path} has dtype ${stored}; the model needs a float weight (float32, float16 or bfloat16) of shape [${fullShape.join(', ')}]`, 'the checkpoint is not this model\'s float weights: re-export it with float tensors');
  // Read in the stored dtype; float32 converts on the host, another half type casts in the graph.
  const hostDtype = stored === 'float32' ? dtype : stored;
  const load = (): TypedArray => {
    let d: TypedArray;
    if (reader) d = reader.read();
    else {
      const w = ws.get(name, fullShape);
      d = cut(w.data, w.dtype, w.shape, axis, start, size);
    }
    if (scale !== undefined) d = scaled(d, stored, scale);
    if (stored === 'float32') d = convertF32(d as Float32Array, dtype);
    return pad !== undefined ? padRows(d, hostDtype, shape, pad) : d;
  };
  const shardName = `${name}[rank shard ${axis}:${start}:${end}${scale !== undefined ? ` x${scale}` : ''}]`;
  const t = reader && ws.lazy
    ? net.lazyConstant(hostDtype, outShape, load, shardName)
    : net.constant(load(), hostDtype, outShape, shardName);
  if (t.dtype !== dtype) return cast(t, dtype);
  return t;
}

/**
 * `ws` seen through one rank's shard of weight `name` (scaled by `scale` when given): get() and
 * lazy() of `name` return the shard, read from its own bytes; other names pass through. What a
 * quantizer reads to quantize this rank's slice (each rank quantizes its own shard, as
 * TensorRT-LLM's per-rank checkpoints do).
 */
export function shardSource(ws: WeightSource, name: string, fullShape: number[], axis: number, range: Range, scale?: number): WeightSource {
  const [start, end] = range;
  const size = end - start;
  const shape = fullShape.map((d, i) => (i === axis ? size : d));
  const reader = ws.slice?.(name, fullShape, axis, start, size);
  const dtype = reader?.dtype ?? ws.get(name, fullShape).dtype;
  const read = (): TypedArray => {
    const d = reader ? reader.read() : ((w) => cut(w.data, w.dtype, w.shape, axis, start, size))(ws.get(name, fullShape));
    return scale !== undefined && FLOAT_DTYPES.includes(dtype) ? scaled(d, dtype, scale) : d;
  };
  const mine = (n: string, e?: readonly number[]) => {
    if (n !== name) return false;
    if (e && e.join() !== shape.join()) throw new Error(`internal: shard of '${name}' is [${shape.join(', ')}], asked for [${e.join(', ')}]`);
    return true;
  };
  return {
    path: ws.path,
    names: () => ws.names(),
    has: (n) => ws.has(n),
    get: (n, e) => (mine(n, e) ? { dtype, shape, data: read() } : ws.get(n, e)),
    lazy: ws.lazy && reader ? (n, e) => (mine(n, e) ? { dtype, shape, read } : ws.lazy!(n, e)) : undefined,
  };
}

/** A row-parallel projection's output: this rank's partial product summed over the group, then the bias (once). */
export function rowParallel(sh: RankShards, partial: Tensor, bias?: Tensor): Tensor {
  const summed = all_reduce(partial, { group: sh.group, rank: sh.tp.rank });
  return bias ? add(summed, bias) : summed;
}

/** The kv heads gathered to one per local query head (when the local grouping is not uniform). */
export function expandKv(sh: RankShards, kv: Tensor): Tensor {
  if (!sh.kvExpand) return kv;
  return index_select(kv, 1, kv.net.constant(sh.kvExpand, 'int32', [sh.kvExpand.length]));
}

/** Vocab-parallel logits: this rank's shard projected, all-gathered along the vocabulary, padding dropped. */
export function vocabParallelLogits(sh: RankShards, hidden: Tensor, lmHeadShard: Tensor, vocabSize: number): Tensor {
  const local = linear(hidden, lmHeadShard); // (..., padded)
  const full = all_gather(local, { axis: -1, group: sh.group, rank: sh.tp.rank }); // (..., N * padded)
  if (sh.vocab.padded * sh.tp.size === vocabSize) return full;
  const lead = hidden.shape.slice(0, -1).map((_, i) => shape(hidden, i));
  return slice(full, [...lead.map(() => 0), 0], [...lead, vocabSize]);
}
