/**
 * The fused IR kinds (attention, rotary_embedding, kv_cache_update, rms_norm) as primitive IR
 * layers, and the rewrite TensorRT's native attention needs. Both are IR → IR passes, so every
 * backend shares one decomposition: ONNX's decomposed form, the TensorRT plan for versions
 * without the native layer, and the property tests (a layer against its decomposition).
 *
 * The decompositions compute what the layers define (dsl/ir.ts), rounding at each primitive's
 * output as TensorRT does: attention is q·kᵀ (grouped heads gathered), ÷ (1/scale), a select to the
 * dtype's lowest finite value where masked, softmax over the keys, · v; rotary is
 * (a·cos − b·sin, b·cos + a·sin) on gathered halves or pairs; the cache update is a gather of the
 * update rows and a select against the cache; rms_norm is HF's LlamaRMSNorm in float32.
 */
import type { DType } from '../dsl/dtype.js';
import { allocate, lowestFinite, setNumber } from '../dsl/dtype.js';
import { inferLayer } from '../dsl/infer.js';
import type { AttentionLayer, FusedKind, Graph, KVCacheUpdateLayer, Layer, RmsNormLayer, RotaryEmbeddingLayer, TensorId, TensorInfo } from '../dsl/ir.js';

type Spec = { [K in Layer['kind']]: Omit<Extract<Layer, { kind: K }>, 'outputs' | 'name' | 'site'> & { name: string } }[Layer['kind']];

/** Appends layers (and their inferred output tensors) to a copy of a graph's tensor table. */
class Emitter {
  readonly tensors: TensorInfo[];
  readonly layers: Layer[] = [];
  private site?: string;
  private prefix = '';
  constructor(g: Graph) {
    this.tensors = [...g.tensors];
  }
  at(l: Layer): void {
    this.site = l.site;
    this.prefix = l.name;
  }
  info(id: TensorId): TensorInfo {
    return this.tensors[id];
  }
  addN(spec: Spec): TensorId[] {
    const layer = { ...spec, name: `${this.prefix}/${spec.name}`, outputs: [] as TensorId[], ...(this.site ? { site: this.site } : {}) } as Layer;
    const outs = inferLayer(layer, (id) => this.tensors[id]);
    layer.outputs = outs.map((o) => {
      const id = this.tensors.length;
      this.tensors.push({ id, ...o });
      return id;
    });
    this.layers.push(layer);
    return layer.outputs;
  }
  add(spec: Spec): TensorId {
    return this.addN(spec)[0];
  }
  /** A constant of `dtype` (half types rounded to nearest even). */
  constant(dtype: DType, shape: number[], values: readonly number[], name = 'const'): TensorId {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = allocate(dtype, n);
    for (let i = 0; i < n; i++) {
      const v = values[values.length === 1 ? 0 : i];
      if (dtype === 'int64') (data as BigInt64Array)[i] = BigInt(v);
      else setNumber(dtype, data, i, v);
    }
    return this.add({ kind: 'constant', inputs: [], weights: { dtype, shape, data }, name });
  }
  ew(op: Extract<Layer, { kind: 'elementwise' }>['op'], a: TensorId, b: TensorId): TensorId {
    return this.add({ kind: 'elementwise', op, inputs: [a, b], name: op });
  }
  unary(op: Extract<Layer, { kind: 'unary' }>['op'], a: TensorId): TensorId {
    return this.add({ kind: 'unary', op, inputs: [a], name: op });
  }
  cast(a: TensorId, dtype: DType): TensorId {
    return this.info(a).dtype === dtype ? a : this.add({ kind: 'cast', dtype, inputs: [a], name: 'cast' });
  }
  reshape(a: TensorId, dims: number[], opts: { second?: number[]; first?: number[] } = {}): TensorId {
    return this.add({ kind: 'shuffle', inputs: [a], reshape: dims, zeroIsPlaceholder: true, ...opts, name: 'shuffle' });
  }
  transpose(a: TensorId, perm: number[]): TensorId {
    return this.add({ kind: 'shuffle', inputs: [a], first: perm, zeroIsPlaceholder: true, name: 'shuffle' });
  }
  gather(data: TensorId, idx: TensorId, axis: number): TensorId {
    return this.add({ kind: 'gather', mode: 'default', axis, nbElementWiseDims: 0, inputs: [data, idx], name: 'gather' });
  }
  select(c: TensorId, a: TensorId, b: TensorId): TensorId {
    return this.add({ kind: 'select', inputs: [c, a, b], name: 'select' });
  }
  /** Dim `axis` of `t` as a 1-D int64 tensor of one element. */
  dim(t: TensorId, axis: number): TensorId {
    const s = this.add({ kind: 'shape', inputs: [t], name: 'shape' });
    return this.add({ kind: 'slice', inputs: [s], start: [axis], size: [1], stride: [1], mode: 'strict', name: 'slice' });
  }
  /** 0, 1, ..., n-1 (int64) for a 1-element int64 tensor n. */
  iota(n: TensorId): TensorId {
    return this.add({ kind: 'fill', dims: { tensor: n }, dtype: 'int64', alpha: 0, beta: 1, inputs: [n], name: 'fill' });
  }
  /** Replaces layer `l`'s outputs by `ids`: later layers read them through an identity-free alias. */
  alias(l: Layer, ids: TensorId[]): void {
    // The layer's own output ids are kept (graph outputs and later layers refer to them): the
    // last emitted layer is renamed to produce them.
    ids.forEach((id, k) => {
      const producer = this.layers.find((x) => x.outputs.includes(id));
      const want = l.outputs[k];
      if (producer && !producer.outputs.includes(want) && this.layers.indexOf(producer) === this.layers.length - 1 && producer.outputs.length === 1) {
        producer.outputs = [want];
        this.tensors[want] = { ...this.tensors[id], id: want, name: this.tensors[want].name };
        this.tensors[id] = { ...this.tensors[id] }; // left unused
        return;
      }
      // Otherwise an identity (a shuffle with nothing to do) carries the value to the old id.
      const layer: Layer = { kind: 'shuffle', inputs: [id], zeroIsPlaceholder: true, name: `${this.prefix}/identity`, outputs: [want], ...(this.site ? { site: this.site } : {}) };
      this.layers.push(layer);
    });
  }
}

const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));

/** A bool [1, 1, Sq, Skv] causal mask for q [.., Sq, D] and k [.., Skv, D]. */
function causalMask(e: Emitter, q: TensorId, k: TensorId, kind: 'upper_left' | 'lower_right'): TensorId {
  const sq = e.dim(q, 2);
  const skv = e.dim(k, 2);
  let rows = e.iota(sq);
  if (kind === 'lower_right') rows = e.ew('sum', rows, e.ew('sub', skv, sq));
  const r4 = e.reshape(rows, [1, 1, -1, 1]);
  const c4 = e.reshape(e.iota(skv), [1, 1, 1, -1]);
  return e.unary('not', e.ew('greater', c4, r4));
}

/** Grouped-query heads: kv head h / (Hq / Hkv) for each query head. */
function repeatHeads(e: Emitter, t: TensorId, hq: number): TensorId {
  const hkv = e.info(t).shape[1] as number;
  if (hkv === hq) return t;
  const g = hq / hkv;
  return e.gather(t, e.constant('int32', [hq], range(hq, (h) => Math.floor(h / g)), 'kv_heads'), 1);
}

function attention(e: Emitter, l: AttentionLayer): TensorId {
  const [q, k, v, mask] = l.inputs;
  const dt = e.info(q).dtype;
  const hq = e.info(q).shape[1] as number;
  const kr = repeatHeads(e, k, hq);
  const vr = repeatHeads(e, v, hq);
  let s = e.add({ kind: 'matmul', opA: 'none', opB: 'transpose', inputs: [q, kr], name: 'matmul' });
  // Divided by 1/scale (rounded to the dtype), as models write `scores / sqrt(head_dim)`.
  s = e.ew('div', s, e.constant(dt, [1, 1, 1, 1], [1 / l.scale], 'inv_scale'));
  let keep = mask;
  if (l.causal !== 'none') {
    const cm = causalMask(e, q, k, l.causal);
    keep = keep === undefined ? cm : e.ew('and', keep, cm);
  }
  if (keep !== undefined) s = e.select(keep, s, e.constant(dt, [1, 1, 1, 1], [lowestFinite(dt)], 'masked'));
  const p = e.add({ kind: 'softmax', axis: 3, inputs: [s], name: 'softmax' });
  return e.add({ kind: 'matmul', opA: 'none', opB: 'none', inputs: [p, vr], name: 'matmul' });
}

function rotary(e: Emitter, l: RotaryEmbeddingLayer): TensorId {
  const [x, cos0, sin0, pos] = l.inputs;
  const D = e.info(x).shape[3] as number;
  const R = l.rotaryDim === 0 ? D : l.rotaryDim;
  const h = R / 2;
  // Caches as [B, 1, S, R/2] (rows picked by position ids first).
  const cache = (t: TensorId) => e.reshape(pos === undefined ? t : e.gather(t, pos, 0), [0, 0, 1, h], { second: [0, 2, 1, 3] });
  const c = cache(cos0);
  const s = cache(sin0);
  const pick = (idx: number[]) => e.gather(x, e.constant('int32', [idx.length], idx, 'rotary_dims'), 3);
  const x1 = pick(l.interleaved ? range(h, (i) => 2 * i) : range(h));
  const x2 = pick(l.interleaved ? range(h, (i) => 2 * i + 1) : range(h, (i) => h + i));
  const a = e.ew('sub', e.ew('prod', x1, c), e.ew('prod', x2, s));
  const b = e.ew('sum', e.ew('prod', x2, c), e.ew('prod', x1, s));
  let rotated = e.add({ kind: 'concatenation', axis: 3, inputs: [a, b], name: 'concat' });
  if (l.interleaved) rotated = e.gather(rotated, e.constant('int32', [R], range(R, (i) => (i % 2 === 0 ? i / 2 : h + (i - 1) / 2)), 'interleave'), 3);
  if (R === D) return rotated;
  return e.add({ kind: 'concatenation', axis: 3, inputs: [rotated, pick(range(D - R, (i) => R + i))], name: 'concat' });
}

function kvCacheUpdate(e: Emitter, l: KVCacheUpdateLayer): TensorId {
  const [cache, upd, w0] = l.inputs;
  const w = e.cast(w0, 'int64');
  const M = e.dim(cache, 2);
  const S = e.dim(upd, 2);
  // rel[b, j] = j - w[b]: the update row that cache row j receives.
  const rel = e.ew('sub', e.reshape(e.iota(M), [1, -1]), e.reshape(w, [-1, 1]));
  const notLess = (a: TensorId, b: TensorId) => e.unary('not', e.ew('less', a, b));
  const zero = e.constant('int64', [1], [0], 'zero');
  // A row whose update does not fit (w < 0 or w + S > M) is ignored.
  const fits = e.ew('and', notLess(w, zero), e.unary('not', e.ew('greater', e.ew('sum', w, S), M)));
  const inside = e.ew('and', notLess(rel, e.reshape(zero, [1, 1])), e.ew('less', rel, e.reshape(S, [1, 1])));
  const ok = e.ew('and', inside, e.reshape(fits, [-1, 1]));
  const idx = e.select(ok, rel, e.reshape(zero, [1, 1]));
  const rows = e.add({ kind: 'gather', mode: 'nd', axis: 0, nbElementWiseDims: 1, inputs: [e.transpose(upd, [0, 2, 1, 3]), e.reshape(idx, [0, 0, 1])], name: 'gather' });
  return e.select(e.reshape(ok, [0, 1, -1, 1]), e.transpose(rows, [0, 2, 1, 3]), cache);
}

function rmsNorm(e: Emitter, l: RmsNormLayer): TensorId {
  const [x, w] = l.inputs;
  const dt = e.info(x).dtype;
  const r = e.info(x).shape.length;
  const ones = range(r, () => 1);
  const xf = e.cast(x, 'float32');
  const m = e.add({ kind: 'reduce', op: 'avg', axes: [r - 1], keepDims: true, inputs: [e.ew('prod', xf, xf)], name: 'reduce' });
  const inv = e.unary('recip', e.unary('sqrt', e.ew('sum', m, e.constant('float32', ones, [l.eps], 'eps'))));
  const normed = e.cast(e.ew('prod', xf, inv), dt);
  if (w === undefined) return normed;
  return e.ew('prod', normed, e.reshape(w, [...ones.slice(1), -1]));
}

/**
 * The graph with every layer of the given kinds replaced by primitive layers (tensor ids of the
 * original graph are kept; new tensors are appended). Returns `g` itself when nothing changes.
 */
export function decomposeFused(g: Graph, kinds: ReadonlySet<FusedKind> | readonly FusedKind[], which: (l: Layer, g: Graph) => boolean = () => true): Graph {
  const set = new Set<string>(kinds);
  const pick = (l: Layer) => set.has(l.kind) && which(l, g);
  if (!g.layers.some(pick)) return g;
  const e = new Emitter(g);
  for (const l of g.layers) {
    if (!pick(l)) {
      e.layers.push(l);
      continue;
    }
    e.at(l);
    let out: TensorId;
    switch (l.kind) {
      case 'attention': out = attention(e, l); break;
      case 'rotary_embedding': out = rotary(e, l); break;
      case 'kv_cache_update': out = kvCacheUpdate(e, l); break;
      case 'rms_norm': out = rmsNorm(e, l); break;
      default: throw new Error(`internal: ${l.kind} is not a fused kind`);
    }
    e.alias(l, [out]);
  }
  return { ...g, tensors: e.tensors, layers: e.layers };
}

export interface NativeAttentionOptions {
  /** The target has CausalMaskKind (addAttentionV2, TensorRT 11.0+); else only an upper-left `causal` flag. */
  causalKinds: boolean;
  /** Multiply q by the scale (TensorRT's IAttention has no scale); false keeps it on the layer (ONNX's attribute). */
  foldScale: boolean;
}

/**
 * Attention layers in the form TensorRT's IAttention takes them: IAttention has no scale (q is
 * pre-scaled: q × scale, rounded to q's dtype), cannot combine a mask with a causal kind (the
 * causal mask is folded into the boolean mask), and NvInfer.h leaves the output of a fully
 * masked row undocumented, so such rows are made explicit: their query is zeroed and their mask
 * opened, which gives uniform scores — the mean of v, the IR's definition — on any kernel.
 */
export function prepareNativeAttention(g: Graph, opts: NativeAttentionOptions): Graph {
  if (!g.layers.some((l) => l.kind === 'attention')) return g;
  const e = new Emitter(g);
  for (const l of g.layers) {
    if (l.kind !== 'attention') {
      e.layers.push(l);
      continue;
    }
    e.at(l);
    let [q, k, v, mask] = l.inputs;
    const dt = e.info(q).dtype;
    if (opts.foldScale && l.scale !== 1) q = e.ew('prod', q, e.constant(dt, [1, 1, 1, 1], [l.scale], 'scale'));
    let causal = l.causal;
    if (causal !== 'none' && (mask !== undefined || (!opts.causalKinds && causal === 'lower_right'))) {
      const cm = causalMask(e, q, k, causal);
      mask = mask === undefined ? cm : e.ew('and', mask, cm);
      causal = 'none';
    }
    if (mask !== undefined) {
      // Rows with no key to attend: any(mask) over the keys (as int32: TensorRT reduces no bool).
      const anyKey = e.ew('greater', e.add({ kind: 'reduce', op: 'max', axes: [3], keepDims: true, inputs: [e.cast(mask, 'int32')], name: 'reduce' }), e.constant('int32', [1, 1, 1, 1], [0], 'zero'));
      q = e.select(anyKey, q, e.constant(dt, [1, 1, 1, 1], [0], 'zero'));
      mask = e.ew('or', mask, e.unary('not', anyKey));
    }
    const layer: Layer = { kind: 'attention', scale: opts.foldScale ? 1 : l.scale, causal, inputs: [q, k, v, ...(mask !== undefined ? [mask] : [])], outputs: [...l.outputs], name: l.name, ...(l.site ? { site: l.site } : {}) };
    e.layers.push(layer);
  }
  return { ...g, tensors: e.tensors, layers: e.layers };
}
