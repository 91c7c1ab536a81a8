/**
 * IR → ONNX nodes. One exhaustive switch over the layer kinds; each case bridges TensorRT's
 * semantics (the reference interpreter's) to ONNX's and says why where they differ.
 *
 * dtype policy, from the kernels ONNX Runtime's CPU provider registers (probed on
 * onnxruntime-node 1.30): data movement (Transpose, Reshape, Concat, Gather*, Scatter*, Slice,
 * Squeeze/Unsqueeze, Shape, Cast) runs on every IR dtype including bfloat16; arithmetic runs
 * on float32/float64/int32/int64 only. So arithmetic on float16/bfloat16 is computed in
 * float32 and cast back after each layer (as the interpreter does, and as TensorRT rounds at
 * each layer output), and int8/bool arithmetic goes through int32 (wrapping back on the cast).
 */
import type { DType } from '../../dsl/dtype.js';
import { allocate, dtypeBytes, isFloat, setNumber } from '../../dsl/dtype.js';
import type { DimsOrTensor, Graph, Layer, TensorId, Weights } from '../../dsl/ir.js';
import { assertNever } from '../../dsl/ir.js';
import type { OnnxTypes } from './proto.js';

/** Value types inside the exported graph: the IR dtypes plus float64 for exact intermediate math. */
export type VT = DType | 'float64';
export interface Val {
  name: string;
  dtype: VT;
}

/** ONNX TensorProto.DataType of each value type. */
export const ONNX_TYPE: Record<VT, number> = {
  float32: 1,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
  float8e4m3: 17, // FLOAT8E4M3FN
  int4: 22,
};

const INT64_MIN = -(2n ** 63n);

/** An initializer: little-endian bytes (a view of the weights where possible, never a copy). */
export interface Init {
  name: string;
  dtype: VT;
  dims: number[];
  /** The tensor's bytes; for lazy weights a getter that reads them on each access. */
  readonly bytes: Uint8Array;
  byteLength: number;
}

type Attr = OnnxTypes.IAttributeProto;
const AT = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;
export const attr = {
  i: (name: string, i: number): Attr => ({ name, type: AT.INT, i }),
  f: (name: string, f: number): Attr => ({ name, type: AT.FLOAT, f }),
  ints: (name: string, ints: number[]): Attr => ({ name, type: AT.INTS, ints }),
  s: (name: string, s: string): Attr => ({ name, type: AT.STRING, s: new TextEncoder().encode(s) }),
};

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Little-endian bytes of `values` stored as `dtype` (converted as a cast would). */
export function valueBytes(dtype: VT, values: readonly (number | bigint)[]): Uint8Array {
  if (dtype === 'float64') return bytesOf(Float64Array.from(values, Number));
  const a = allocate(dtype, values.length);
  values.forEach((v, i) => {
    if (dtype === 'int64') (a as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    else setNumber(dtype, a, i, Number(v));
  });
  return bytesOf(a);
}

const isHalf = (d: VT) => d === 'float16' || d === 'bfloat16';
const isFloatVT = (d: VT) => d === 'float64' || isFloat(d as DType);
/** Where Add/Mul/Max/Equal/ReduceSum/MatMul/TopK/CumSum... compute a dtype. */
export function arithType(d: VT): VT {
  return isHalf(d) ? 'float32' : d === 'int8' || d === 'bool' ? 'int32' : d;
}
/** Where Exp/Sigmoid/Softmax... compute a dtype (non-floats, which ops never pass, via float64 or float32). */
function floatType(d: VT, hasDouble = true): VT {
  if (d === 'float32' || (d === 'float64' && hasDouble)) return d;
  if (isHalf(d)) return 'float32';
  return hasDouble ? 'float64' : 'float32';
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Emission state: nodes, initializers, unique names, and the value of each IR tensor. */
export class Ctx {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly inits: Init[] = [];
  readonly values = new Map<TensorId, Val>();
  /** Weights of constant-layer outputs (to skip run-time guards on known divisors). */
  readonly constants = new Map<TensorId, Weights>();
  private readonly valueNames = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly constCache = new Map<string, Val>();
  private readonly weightInits = new Map<object, { dtype: DType; shape: string; val: Val }>();
  private prefix = 'graph';
  private nodeCount = 0;

  constructor(
    readonly graph: Graph,
    readonly opset: number,
    /** Split matmuls against half-precision weights whose float32 copy exceeds this (ExportOptions.halfWeightBlockBytes). */
    readonly halfWeightBlockBytes?: number,
  ) {}

  /** Reserves a name exactly (graph inputs/outputs); false when already taken. */
  reserve(name: string): boolean {
    if (this.valueNames.has(name)) return false;
    this.valueNames.add(name);
    return true;
  }
  uniqueValue(base: string): string {
    let n = base;
    for (let i = 1; this.valueNames.has(n); i++) n = `${base}_${i}`;
    this.valueNames.add(n);
    return n;
  }
  private uniqueNode(base: string): string {
    let n = base;
    for (let i = 1; this.nodeNames.has(n); i++) n = `${base}_${i}`;
    this.nodeNames.add(n);
    return n;
  }

  /** Starts the nodes of one layer: its first node takes the layer's name, helpers `layer/Op`. */
  begin(prefix: string): void {
    this.prefix = prefix;
    this.nodeCount = 0;
  }

  tensor(id: TensorId): Val {
    const v = this.values.get(id);
    if (!v) throw new Error(`internal: tensor #${id} has no ONNX value yet`);
    return v;
  }
  dtypeOf(id: TensorId): DType {
    return this.graph.tensors[id].dtype;
  }
  rankOf(id: TensorId): number {
    return this.graph.tensors[id].shape.length;
  }

  opN(type: string, inputs: (Val | null)[], outTypes: VT[], attrs: Attr[] = []): Val[] {
    const name = this.uniqueNode(this.nodeCount++ === 0 ? this.prefix : `${this.prefix}/${type}`);
    const outs = outTypes.map((dtype, i) => ({ name: this.uniqueValue(outTypes.length === 1 ? name : `${name}:${i}`), dtype }));
    this.nodes.push({
      name,
      opType: type,
      input: inputs.map((v) => (v ? v.name : '')),
      output: outs.map((o) => o.name),
      ...(attrs.length ? { attribute: attrs } : {}),
    });
    return outs;
  }
  op(type: string, inputs: (Val | null)[], outType: VT, attrs: Attr[] = []): Val {
    return this.opN(type, inputs, [outType], attrs)[0];
  }
  /** Identity into an already reserved name (a graph output). */
  identityTo(v: Val, name: string): void {
    this.nodes.push({ name: this.uniqueNode(`${this.prefix}/Identity`), opType: 'Identity', input: [v.name], output: [name] });
  }
  cast(v: Val, to: VT): Val {
    return v.dtype === to ? v : this.op('Cast', [v], to, [attr.i('to', ONNX_TYPE[to])]);
  }

  /** A small helper constant (shared between layers when equal). */
  constant(dtype: VT, dims: number[], values: readonly (number | bigint)[]): Val {
    const key = values.length <= 64 ? `${dtype}|${dims.join(',')}|${values.join(',')}` : undefined;
    const hit = key && this.constCache.get(key);
    if (hit) return hit;
    const v = { name: this.uniqueValue(`${this.prefix}/const`), dtype };
    const bytes = valueBytes(dtype, values);
    this.inits.push({ name: v.name, dtype, dims, bytes, byteLength: bytes.byteLength });
    if (key) this.constCache.set(key, v);
    return v;
  }
  i64(values: readonly (number | bigint)[]): Val {
    return this.constant('int64', [values.length], values);
  }
  scalar(dtype: VT, value: number | bigint): Val {
    return this.constant(dtype, [], [value]);
  }

  /** An IR constant as an initializer; the same weights buffer used twice is stored once. */
  weights(w: Weights, fallbackName: string): Val {
    const shapeKey = w.shape.join(',');
    // Lazy weights are keyed by their Weights object: touching `data` would read them.
    const key: object = w.lazy ? w : w.data;
    const seen = this.weightInits.get(key);
    if (seen && seen.dtype === w.dtype && seen.shape === shapeKey) return seen.val;
    const val = { name: this.uniqueValue(w.name ?? fallbackName), dtype: w.dtype };
    const byteLength = dtypeBytes(w.dtype, w.shape.reduce((a, b) => a * b, 1));
    if (w.lazy) this.inits.push({ name: val.name, dtype: w.dtype, dims: [...w.shape], get bytes() { return bytesOf(w.data); }, byteLength });
    else this.inits.push({ name: val.name, dtype: w.dtype, dims: [...w.shape], bytes: bytesOf(w.data), byteLength });
    if (!seen) this.weightInits.set(key, { dtype: w.dtype, shape: shapeKey, val });
    return val;
  }

  private producers?: Map<TensorId, Layer>;
  /**
   * The constant weights behind tensor `id`: its own, or those of a constant that a shuffle only
   * gives leading unit dims ([N, K] → [1, N, K], as ops broadcast a weight over a batch).
   */
  weightView(id: TensorId): { weights: Weights; val: Val } | undefined {
    const own = this.constants.get(id);
    if (own) return { weights: own, val: this.tensor(id) };
    if (!this.producers) {
      this.producers = new Map();
      for (const l of this.graph.layers) for (const o of l.outputs) this.producers.set(o, l);
    }
    const p = this.producers.get(id);
    if (p?.kind !== 'shuffle' || p.first || p.second || !Array.isArray(p.reshape) || p.inputs.length !== 1) return undefined;
    const w = this.constants.get(p.inputs[0]!);
    if (!w) return undefined;
    const r = p.reshape as number[];
    const lead = r.length - w.shape.length;
    if (lead < 0 || r.slice(0, lead).some((d) => d !== 1) || r.slice(lead).some((d, i) => d !== w.shape[i])) return undefined;
    return { weights: w, val: this.tensor(p.inputs[0]!) };
  }

  /** A DimsOrTensor parameter as a 1-D int64 value. */
  param(p: DimsOrTensor): Val {
    return Array.isArray(p) ? this.i64(p) : this.cast(this.tensor(p.tensor), 'int64');
  }
  /** Entry `d` of a parameter when known at build time (static, or tracked values of its tensor). */
  paramEntry(p: DimsOrTensor, d: number): number | undefined {
    const v = Array.isArray(p) ? p[d] : this.graph.tensors[p.tensor].values?.[d];
    return typeof v === 'number' ? v : undefined;
  }
  /** Entry `d` of a parameter as a 0-D int64 value. */
  paramScalar(p: DimsOrTensor, d: number): Val {
    const k = this.paramEntry(p, d);
    if (k !== undefined) return this.scalar('int64', k);
    return this.op('Gather', [this.param(p), this.scalar('int64', d)], 'int64', [attr.i('axis', 0)]);
  }
  /** Dim `axis` of IR tensor `id` as a number when static. */
  staticDim(id: TensorId, axis: number): number | undefined {
    const d = this.graph.tensors[id].shape[axis];
    return typeof d === 'number' ? d : undefined;
  }
  /** Dim `axis` of IR tensor `id` as a 0-D int64 value. */
  dimScalar(id: TensorId, axis: number): Val {
    const s = this.staticDim(id, axis);
    if (s !== undefined) return this.scalar('int64', s);
    const shape = this.op('Shape', [this.tensor(id)], 'int64');
    return this.op('Gather', [shape, this.scalar('int64', axis)], 'int64', [attr.i('axis', 0)]);
  }

  /** Where(c, a, b) for any dtype (ORT has no bfloat16/int8/bool Where kernel: those go through a cast). */
  where(c: Val, a: Val, b: Val): Val {
    const w: VT = a.dtype === 'bfloat16' ? 'float32' : a.dtype === 'int8' || a.dtype === 'bool' ? 'int32' : a.dtype;
    return this.cast(this.op('Where', [c, this.cast(a, w), this.cast(b, w)], w), a.dtype);
  }
  /** Reduce* with the axes as an input (ReduceSum from opset 13, the others from 18) or an attribute. */
  reduce(type: string, x: Val, axes: number[] | null, keepdims: boolean): Val {
    const keep = attr.i('keepdims', keepdims ? 1 : 0);
    if (axes === null) return this.op(type, [x], x.dtype, [keep]);
    if (type === 'ReduceSum' || this.opset >= 18) return this.op(type, [x, this.i64(axes)], x.dtype, [keep]);
    return this.op(type, [x], x.dtype, [keep, attr.ints('axes', axes)]);
  }
}

/**
 * QuantizeLinear / DequantizeLinear (opset 21): no zero point (TensorRT's Q/DQ are symmetric);
 * the quantized type of Q from output_dtype; per tensor (scalar scale), per channel (`axis`)
 * or blocked (`axis` + block_size). Half inputs and scales go through float32, exactly: the
 * interpreter divides in float32, and a half scale times an int8/int4/e4m3 code is exact in
 * float32, so DQ rounds once, in the final Cast, as the interpreter does.
 */
function quantLinear(ctx: Ctx, l: Extract<Layer, { kind: 'quantize' | 'dequantize' }>): Val {
  const xs = ctx.graph.tensors[l.inputs[0]].shape;
  const ss = ctx.graph.tensors[l.inputs[1]].shape;
  const attrs: Attr[] = [];
  if (ss.length >= 1) attrs.push(attr.i('axis', l.axis));
  if (ss.length >= 2) {
    const [d, nb] = [xs[l.axis], ss[l.axis]];
    if (typeof d !== 'number' || typeof nb !== 'number') throw new Error(`internal: ${l.kind} '${l.name}': the blocked dim must be static`);
    attrs.push(attr.i('block_size', d / nb));
  }
  const scale = ctx.cast(ctx.tensor(l.inputs[1]), 'float32');
  if (l.kind === 'quantize') {
    const x = ctx.cast(ctx.tensor(l.inputs[0]), 'float32');
    return ctx.op('QuantizeLinear', [x, scale], l.dtype, [...attrs, attr.i('output_dtype', ONNX_TYPE[l.dtype])]);
  }
  const y = ctx.op('DequantizeLinear', [ctx.tensor(l.inputs[0]), scale], 'float32', attrs);
  return ctx.cast(y, l.dtype);
}

/** Lowers one layer; returns the ONNX values of its outputs, in order. */
/** The custom domain of redraft's collective nodes (README: "Tensor parallelism"). */
export const REDRAFT_DOMAIN = 'com.redraft';
const COLLECTIVE_OP = { all_reduce: 'AllReduce', all_gather: 'AllGather', broadcast: 'Broadcast' } as const;

/**
 * A collective as a node of the `com.redraft` domain (version 1): AllReduce (attribute
 * `reduce`: "sum" | "max"), AllGather (axis 0, the output's dim 0 is the group size times the
 * input's), Broadcast (`root`: a group rank); all carry `group` (ranks in order) and `rank`.
 * No ONNX runtime implements the domain: the node records the collective for a runtime that
 * does (one process per rank) and for inspection.
 */
function collectiveNode(ctx: Ctx, l: Extract<Layer, { kind: 'collective' }>): Val {
  const attrs = [attr.ints('group', l.group), attr.i('rank', l.rank)];
  if (l.op === 'all_reduce') attrs.push(attr.s('reduce', l.reduce));
  if (l.op === 'broadcast') attrs.push(attr.i('root', l.root));
  const out = ctx.op(COLLECTIVE_OP[l.op], [ctx.tensor(l.inputs[0])], ctx.dtypeOf(l.inputs[0]), attrs);
  ctx.nodes[ctx.nodes.length - 1].domain = REDRAFT_DOMAIN;
  return out;
}

export function lowerLayer(ctx: Ctx, l: Layer): Val[] {
  const outType = (k = 0): DType => ctx.dtypeOf(l.outputs[k]);
  const x = () => ctx.tensor(l.inputs[0]);
  switch (l.kind) {
    case 'constant':
      ctx.constants.set(l.outputs[0], l.weights);
      return [ctx.weights(l.weights, l.name)];
    case 'shape':
      return [ctx.op('Shape', [x()], 'int64')];
    case 'shuffle':
      return [shuffle(ctx, l, x())];
    case 'concatenation':
      return [ctx.op('Concat', l.inputs.map((id) => ctx.tensor(id)), outType(), [attr.i('axis', l.axis)])];
    case 'gather': {
      const data = x();
      let idx = ctx.tensor(l.inputs[1]);
      if (l.mode === 'nd') {
        // ONNX GatherND takes int64 indices only.
        return [ctx.op('GatherND', [data, ctx.cast(idx, 'int64')], data.dtype, [attr.i('batch_dims', l.nbElementWiseDims)])];
      }
      if (idx.dtype !== 'int32' && idx.dtype !== 'int64') idx = ctx.cast(idx, 'int64');
      if (l.mode === 'element') return [ctx.op('GatherElements', [data, idx], data.dtype, [attr.i('axis', l.axis)])];
      // TensorRT's default mode with nbElementWiseDims = 1 (a leading batch dim) has no ONNX equivalent;
      // the IR's ops only build 0 and the interpreter treats it as 0.
      if (l.nbElementWiseDims !== 0) throw new Error(`internal: gather '${l.name}': default mode with nbElementWiseDims=${l.nbElementWiseDims} is not exported`);
      return [ctx.op('Gather', [data, idx], data.dtype, [attr.i('axis', l.axis)])];
    }
    case 'slice':
      return [slice(ctx, l, x())];
    case 'elementwise':
      return [elementwise(ctx, l.op, ctx.tensor(l.inputs[0]), ctx.tensor(l.inputs[1]), l.inputs[1])];
    case 'unary':
      return [unary(ctx, l.op, x(), outType())];
    case 'activation':
      return [activation(ctx, l, x())];
    case 'matmul':
      return [matmul(ctx, l, ctx.tensor(l.inputs[0]), ctx.tensor(l.inputs[1]))];
    case 'softmax': {
      // Softmax from opset 13 normalizes along one axis, as ISoftMaxLayer does.
      const v = x();
      const c = floatType(v.dtype);
      return [ctx.cast(ctx.op('Softmax', [ctx.cast(v, c)], c, [attr.i('axis', l.axis)]), v.dtype)];
    }
    case 'topk': {
      const v = x();
      const c = isHalf(v.dtype) ? 'float32' : v.dtype === 'bool' ? 'int32' : v.dtype;
      // ORT's TopK returns equal values lowest index first (as TensorRT); indices are int64 in ONNX, int32 in the IR.
      const [vals, idx] = ctx.opN('TopK', [ctx.cast(v, c), ctx.i64([l.k])], [c, 'int64'], [
        attr.i('axis', l.axis),
        attr.i('largest', l.op === 'max' ? 1 : 0),
        attr.i('sorted', 1),
      ]);
      return [ctx.cast(vals, v.dtype), ctx.cast(idx, 'int32')];
    }
    case 'reduce':
      return [reduce(ctx, l, x())];
    case 'select': {
      let c = ctx.tensor(l.inputs[0]);
      if (c.dtype !== 'bool') c = ctx.cast(c, 'bool');
      return [ctx.where(c, ctx.tensor(l.inputs[1]), ctx.tensor(l.inputs[2]))];
    }
    case 'fill':
      return [fill(ctx, l)];
    case 'cumulative': {
      const v = x();
      const c = arithType(v.dtype);
      const y = ctx.op('CumSum', [ctx.cast(v, c), ctx.scalar('int64', l.axis)], c, [
        attr.i('exclusive', l.exclusive ? 1 : 0),
        attr.i('reverse', l.reverse ? 1 : 0),
      ]);
      return [ctx.cast(y, v.dtype)];
    }
    case 'cast': {
      const v = x();
      if (v.dtype === l.dtype) return [ctx.op('Identity', [v], v.dtype)];
      const y = ctx.op('Cast', [v], l.dtype, [attr.i('to', ONNX_TYPE[l.dtype])]);
      if (l.dtype === 'bool' && isFloatVT(v.dtype)) {
        // ONNX Cast makes NaN true (any non-zero); TensorRT and the interpreter make it false.
        const nan = ctx.op('IsNaN', [ctx.cast(v, floatType(v.dtype))], 'bool');
        return [ctx.op('And', [y, ctx.op('Not', [nan], 'bool')], 'bool')];
      }
      return [y];
    }
    case 'scatter': {
      const data = x();
      let idx = ctx.tensor(l.inputs[1]);
      const upd = ctx.tensor(l.inputs[2]);
      if (l.mode === 'nd') return [ctx.op('ScatterND', [data, ctx.cast(idx, 'int64'), upd], data.dtype)];
      if (idx.dtype !== 'int32' && idx.dtype !== 'int64') idx = ctx.cast(idx, 'int64');
      return [ctx.op('ScatterElements', [data, idx, upd], data.dtype, [attr.i('axis', l.axis)])];
    }
    case 'nonzero': {
      const v = x();
      const c = v.dtype === 'bfloat16' ? 'float32' : v.dtype === 'int8' ? 'int32' : v.dtype;
      if (ctx.rankOf(l.inputs[0]) > 0) return [ctx.op('NonZero', [ctx.cast(v, c)], 'int64')];
      // A 0-D input has [0, count] indices in TensorRT; ORT treats it as 1-D and returns [1, count].
      const rows = ctx.op('NonZero', [ctx.op('Reshape', [ctx.cast(v, c), ctx.i64([1])], c)], 'int64');
      return [ctx.op('Slice', [rows, ctx.i64([0]), ctx.i64([0]), ctx.i64([0])], 'int64')];
    }
    // The fused kinds reach the lowering only in the 'onnx' form (export.ts decomposes them
    // otherwise): opset 23 Attention, RotaryEmbedding, RMSNormalization, opset 24 TensorScatter.
    case 'attention':
      return [fusedAttention(ctx, l)];
    case 'rotary_embedding': {
      const v = x();
      const c = floatType(v.dtype, false);
      // Rows picked by position ids are gathered here ([B, S, R/2] caches): ORT's kernel refuses
      // position ids into a cache with fewer rows than the sequence ("updating cos_cache").
      const pos = l.inputs[3] !== undefined ? ctx.cast(ctx.tensor(l.inputs[3]), 'int64') : undefined;
      const cache = (id: number) => {
        const t = ctx.cast(ctx.tensor(id), c);
        return pos ? ctx.op('Gather', [t, pos], c, [attr.i('axis', 0)]) : t;
      };
      const ins = [ctx.cast(v, c), cache(l.inputs[1]), cache(l.inputs[2])];
      const y = ctx.op('RotaryEmbedding', ins, c, [attr.i('interleaved', l.interleaved ? 1 : 0), ...(l.rotaryDim ? [attr.i('rotary_embedding_dim', l.rotaryDim)] : [])]);
      return [ctx.cast(y, v.dtype)];
    }
    case 'rms_norm': {
      // In float32 (stash_type 1); the result is rounded to the input dtype before the weight, as the IR says.
      const v = x();
      const n = ctx.staticDim(l.inputs[0], ctx.rankOf(l.inputs[0]) - 1);
      const w = l.inputs[1] !== undefined ? ctx.tensor(l.inputs[1]) : undefined;
      if (n === undefined) throw new Error(`internal: rms_norm '${l.name}': the normalized dim must be static`);
      const direct = v.dtype === 'float32' && w !== undefined;
      const scale = direct ? w : ctx.constant('float32', [n], new Array<number>(n).fill(1));
      const y = ctx.op('RMSNormalization', [ctx.cast(v, 'float32'), scale], 'float32', [attr.i('axis', -1), attr.f('epsilon', l.eps), attr.i('stash_type', 1)]);
      if (direct) return [y];
      const normed = ctx.cast(y, v.dtype);
      if (!w) return [normed];
      return [ctx.cast(ctx.op('Mul', [ctx.cast(normed, 'float32'), ctx.cast(w, 'float32')], 'float32'), v.dtype)];
    }
    case 'kv_cache_update': {
      // TensorScatter (linear mode) leaves out-of-bound writes undefined: rows that do not fit
      // write their cache's own first S slots back at 0, so they are unchanged, as
      // IKVCacheUpdateLayer ignores them. The Where is over the update, not the whole cache.
      const cache = x();
      const upd = ctx.tensor(l.inputs[1]);
      const [sLen, mLen] = [ctx.staticDim(l.inputs[1], 2), ctx.staticDim(l.inputs[0], 2)];
      // An update longer than the cache fits no row (ORT's TensorScatter refuses it outright).
      if (sLen !== undefined && mLen !== undefined && sLen > mLen) return [ctx.op('Identity', [cache], cache.dtype)];
      const w = ctx.cast(ctx.tensor(l.inputs[2]), 'int64');
      const S = ctx.dimScalar(l.inputs[1], 2);
      const M = ctx.dimScalar(l.inputs[0], 2);
      const zero = ctx.scalar('int64', 0);
      const fits = ctx.op('And', [ctx.op('Not', [ctx.op('Less', [w, zero], 'bool')], 'bool'), ctx.op('Not', [ctx.op('Greater', [ctx.op('Add', [w, S], 'int64'), M], 'bool')], 'bool')], 'bool');
      const safeW = ctx.op('Where', [fits, w, zero], 'int64');
      const keep = ctx.op('Reshape', [fits, ctx.i64([-1, 1, 1, 1])], 'bool');
      const head = ctx.op('Slice', [cache, ctx.i64([0]), ctx.op('Reshape', [S, ctx.i64([1])], 'int64'), ctx.i64([2])], cache.dtype);
      const safeUpd = ctx.where(keep, upd, head);
      return [ctx.op('TensorScatter', [cache, safeUpd, safeW], cache.dtype, [attr.i('axis', 2), attr.s('mode', 'linear')])];
    }
    case 'quantize':
    case 'dequantize':
      return [quantLinear(ctx, l)];
    case 'collective':
      return [collectiveNode(ctx, l)];
    default:
      return assertNever(l);
  }
}

/**
 * Opset 23 Attention on 4-D q/k/v (GQA from the head counts). Its input arrives prepared
 * (builders/fused.ts prepareNativeAttention): a bool mask with no fully masked row, the causal
 * kind folded into it unless upper-left (ONNX's is_causal), scale as an attribute. Computed in
 * float32 for half inputs (ORT's CPU kernel).
 */
function fusedAttention(ctx: Ctx, l: Extract<Layer, { kind: 'attention' }>): Val {
  const q = ctx.tensor(l.inputs[0]);
  const c = floatType(q.dtype, false);
  const ins: (Val | null)[] = [ctx.cast(q, c), ctx.cast(ctx.tensor(l.inputs[1]), c), ctx.cast(ctx.tensor(l.inputs[2]), c)];
  if (l.inputs[3] !== undefined) ins.push(ctx.tensor(l.inputs[3]));
  if (l.causal === 'lower_right') throw new Error(`internal: attention '${l.name}': lower-right causal must be folded into the mask for ONNX`);
  const y = ctx.op('Attention', ins, c, [attr.f('scale', l.scale), attr.i('is_causal', l.causal === 'upper_left' ? 1 : 0)]);
  return ctx.cast(y, q.dtype);
}

function shuffle(ctx: Ctx, l: Extract<Layer, { kind: 'shuffle' }>, x: Val): Val {
  let v = x;
  const isIdentity = (p: number[]) => p.every((q, i) => q === i);
  if (l.first && !isIdentity(l.first)) v = ctx.op('Transpose', [v], v.dtype, [attr.ints('perm', l.first)]);
  if (l.reshape !== undefined) {
    const dims = Array.isArray(l.reshape) ? l.reshape : undefined;
    // ONNX Reshape's allowzero=0 copies the input dim for a 0, like zeroIsPlaceholder=true;
    // allowzero=1 keeps a literal 0, like zeroIsPlaceholder=false.
    const literalZero = !l.zeroIsPlaceholder && (dims === undefined || dims.includes(0));
    v = ctx.op('Reshape', [v, ctx.param(l.reshape)], v.dtype, literalZero ? [attr.i('allowzero', 1)] : []);
  }
  if (l.second && !isIdentity(l.second)) v = ctx.op('Transpose', [v], v.dtype, [attr.ints('perm', l.second)]);
  return v === x ? ctx.op('Identity', [x], x.dtype) : v;
}

const BINARY: Record<string, string> = {
  sum: 'Add', sub: 'Sub', prod: 'Mul', div: 'Div', max: 'Max', min: 'Min', pow: 'Pow',
  and: 'And', or: 'Or', xor: 'Xor', equal: 'Equal', greater: 'Greater', less: 'Less',
};

function elementwise(ctx: Ctx, op: Extract<Layer, { kind: 'elementwise' }>['op'], a: Val, b: Val, bId: TensorId): Val {
  const dt = a.dtype;
  const intLike = !isFloatVT(dt);
  switch (op) {
    case 'sum':
    case 'sub':
    case 'prod':
    case 'max':
    case 'min': {
      const c = arithType(dt);
      return ctx.cast(ctx.op(BINARY[op], [ctx.cast(a, c), ctx.cast(b, c)], c), dt);
    }
    case 'div':
      if (intLike) return intDivide(ctx, a, b, bId, false);
      return ctx.cast(ctx.op('Div', [ctx.cast(a, 'float32'), ctx.cast(b, 'float32')], 'float32'), dt);
    case 'floor_div': {
      // ONNX integer Div truncates; floor division is built from Mod (sign of the divisor).
      if (intLike) return intDivide(ctx, a, b, bId, true);
      // floor(a / b) of the exact quotient: a float32 quotient can round up to an integer.
      const q = ctx.op('Div', [ctx.cast(a, 'float64'), ctx.cast(b, 'float64')], 'float64');
      return ctx.cast(ctx.op('Floor', [q], 'float64'), dt);
    }
    case 'pow': {
      // ORT's integer Pow goes through C's pow on doubles, as the interpreter's Math.pow does.
      const c = arithType(dt);
      return ctx.cast(ctx.op('Pow', [ctx.cast(a, c), ctx.cast(b, c)], c), dt);
    }
    case 'and':
    case 'or':
    case 'xor':
      return ctx.op(BINARY[op], [ctx.cast(a, 'bool'), ctx.cast(b, 'bool')], 'bool');
    case 'equal':
    case 'greater':
    case 'less': {
      const c = op === 'equal' && dt === 'bool' ? 'bool' : arithType(dt);
      return ctx.op(BINARY[op], [ctx.cast(a, c), ctx.cast(b, c)], 'bool');
    }
    default:
      return assertNever(op);
  }
}

/**
 * Integer a / b, truncating (TensorRT's kDIV) or flooring (kFLOOR_DIV). The CPU traps on a
 * zero divisor and on INT_MIN / -1, which would kill the process inside ORT, so divisors 0 and
 * -1 are replaced by 1 first: x / 0 is 0 (the interpreter's choice) and x / -1 is -x (wrapping).
 * Known constant divisors without 0 or -1 skip the guard.
 */
function intDivide(ctx: Ctx, a0: Val, b0: Val, bId: TensorId, floor: boolean): Val {
  const dt = a0.dtype;
  const c = arithType(dt);
  const a = ctx.cast(a0, c);
  const b = ctx.cast(b0, c);
  const w = ctx.constants.get(bId);
  const safeConst = w !== undefined && Array.from(w.data as ArrayLike<number | bigint>).every((v) => Number(v) !== 0 && Number(v) !== -1);
  let q: Val;
  if (safeConst) {
    q = divide(ctx, a, b, floor);
  } else {
    const zero = ctx.scalar(c, 0);
    const isZero = ctx.op('Equal', [b, zero], 'bool');
    const isNeg1 = ctx.op('Equal', [b, ctx.scalar(c, -1)], 'bool');
    const safe = ctx.op('Where', [ctx.op('Or', [isZero, isNeg1], 'bool'), ctx.scalar(c, 1), b], c);
    q = divide(ctx, a, safe, floor);
    q = ctx.op('Where', [isNeg1, ctx.op('Neg', [a], c), q], c);
    q = ctx.op('Where', [isZero, zero, q], c);
  }
  return ctx.cast(q, dt);
}
function divide(ctx: Ctx, a: Val, b: Val, floor: boolean): Val {
  if (!floor) return ctx.op('Div', [a, b], a.dtype);
  // a - mod(a, b) is an exact multiple of b, so the truncating Div gives floor(a / b).
  const r = ctx.op('Mod', [a, b], a.dtype, [attr.i('fmod', 0)]);
  return ctx.op('Div', [ctx.op('Sub', [a, r], a.dtype), b], a.dtype);
}

const UNARY_FLOAT: Record<string, string> = { exp: 'Exp', log: 'Log', sqrt: 'Sqrt', recip: 'Reciprocal', sin: 'Sin', cos: 'Cos', erf: 'Erf' };

function unary(ctx: Ctx, op: Extract<Layer, { kind: 'unary' }>['op'], x: Val, out: DType): Val {
  const dt = x.dtype;
  const via = (type: string, c: VT) => ctx.cast(ctx.op(type, [ctx.cast(x, c)], c), dt);
  switch (op) {
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'recip':
    case 'sin':
    case 'cos':
      return via(UNARY_FLOAT[op], floatType(dt));
    case 'erf':
      return via('Erf', floatType(dt, false));
    case 'abs':
      return via('Abs', arithType(dt));
    case 'neg':
      return via('Neg', arithType(dt));
    case 'sign':
      return via('Sign', arithType(dt));
    case 'floor':
    case 'ceil':
    case 'round':
      // ONNX Round rounds half to even, as TensorRT's kROUND. Integers are already whole.
      if (!isFloatVT(dt)) return ctx.op('Identity', [x], dt);
      return via(op === 'floor' ? 'Floor' : op === 'ceil' ? 'Ceil' : 'Round', floatType(dt));
    case 'not':
      // ONNX Not takes bool only; for other dtypes not(x) is x == 0.
      if (dt === 'bool') return ctx.op('Not', [x], 'bool');
      return ctx.cast(ctx.op('Equal', [ctx.cast(x, arithType(dt)), ctx.scalar(arithType(dt), 0)], 'bool'), out);
    case 'isnan':
    case 'isinf': {
      if (!isFloatVT(dt)) {
        // Integers are never NaN/Inf: x != x is all false with x's shape.
        const c = arithType(dt);
        return ctx.op('Not', [ctx.op('Equal', [ctx.cast(x, c), ctx.cast(x, c)], 'bool')], 'bool');
      }
      return ctx.op(op === 'isnan' ? 'IsNaN' : 'IsInf', [ctx.cast(x, floatType(dt))], 'bool');
    }
    default:
      return assertNever(op);
  }
}

function activation(ctx: Ctx, l: Extract<Layer, { kind: 'activation' }>, x: Val): Val {
  const dt = x.dtype;
  // Relu/Sigmoid/Tanh/LeakyRelu have float64 kernels, Elu/Softplus/Erf/Gelu float32 only.
  const hasDouble = ['relu', 'sigmoid', 'tanh', 'leaky_relu'].includes(l.op);
  const c = floatType(dt, hasDouble);
  const v = ctx.cast(x, c);
  const k = (n: number) => ctx.scalar(c, n);
  let y: Val;
  switch (l.op) {
    case 'relu':
      y = ctx.op('Relu', [v], c);
      break;
    case 'sigmoid':
      y = ctx.op('Sigmoid', [v], c);
      break;
    case 'tanh':
      y = ctx.op('Tanh', [v], c);
      break;
    case 'leaky_relu':
      // ONNX's default alpha is 0.01, the IR's 0: always pass it.
      y = ctx.op('LeakyRelu', [v], c, [attr.f('alpha', l.alpha ?? 0)]);
      break;
    case 'elu':
      y = ctx.op('Elu', [v], c, [attr.f('alpha', l.alpha ?? 0)]);
      break;
    case 'softplus': {
      // TensorRT: alpha * log(exp(beta * x) + 1); ONNX Softplus is the alpha = beta = 1 case.
      const alpha = l.alpha ?? 1;
      const beta = l.beta ?? 1;
      y = ctx.op('Softplus', [beta === 1 ? v : ctx.op('Mul', [v, k(beta)], c)], c);
      if (alpha !== 1) y = ctx.op('Mul', [y, k(alpha)], c);
      break;
    }
    case 'clip':
      // Clip's min/max are inputs of x's type since opset 11.
      y = ctx.op('Clip', [v, k(l.alpha ?? 0), k(l.beta ?? 0)], c);
      break;
    case 'gelu_erf':
    case 'gelu_tanh': {
      const tanh = l.op === 'gelu_tanh';
      if (ctx.opset >= 20) {
        y = ctx.op('Gelu', [v], c, [attr.s('approximate', tanh ? 'tanh' : 'none')]);
        break;
      }
      // Opsets before 20 have no Gelu: 0.5 x (1 + erf(x / sqrt 2)), or the tanh form.
      let inner: Val;
      if (tanh) {
        const x3 = ctx.op('Mul', [ctx.op('Mul', [v, v], c), v], c);
        const poly = ctx.op('Add', [v, ctx.op('Mul', [x3, k(0.044715)], c)], c);
        inner = ctx.op('Tanh', [ctx.op('Mul', [poly, k(Math.sqrt(2 / Math.PI))], c)], c);
      } else {
        inner = ctx.op('Erf', [ctx.op('Mul', [v, k(Math.SQRT1_2)], c)], c);
      }
      y = ctx.op('Mul', [ctx.op('Mul', [v, k(0.5)], c), ctx.op('Add', [inner, k(1)], c)], c);
      break;
    }
    default:
      return assertNever(l.op);
  }
  return ctx.cast(y, dt);
}

function matmul(ctx: Ctx, l: Extract<Layer, { kind: 'matmul' }>, a0: Val, b0: Val): Val {
  const dt = a0.dtype;
  const c = arithType(dt);
  const bw = ctx.halfWeightBlockBytes && l.opB !== 'vector' ? ctx.weightView(l.inputs[1]) : undefined;
  if (bw && isHalf(bw.weights.dtype) && bw.weights.shape.length === 2 && ctx.rankOf(l.inputs[0]) >= ctx.rankOf(l.inputs[1]))
    return blockedWeightMatmul(ctx, l, a0, bw.val, bw.weights);
  let a = ctx.cast(a0, c);
  let b = ctx.cast(b0, c);
  const swapLast = (v: Val, rank: number) => {
    const perm = range(rank);
    [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
    return ctx.op('Transpose', [v], c, [attr.ints('perm', perm)]);
  };
  if (l.opA === 'transpose') a = swapLast(a, ctx.rankOf(l.inputs[0]));
  if (l.opB === 'transpose') b = swapLast(b, ctx.rankOf(l.inputs[1]));
  // A 'vector' operand is a row (A) or column (B) matrix whose unit dim is dropped afterwards.
  if (l.opA === 'vector') a = ctx.op('Unsqueeze', [a, ctx.i64([-2])], c);
  if (l.opB === 'vector') b = ctx.op('Unsqueeze', [b, ctx.i64([-1])], c);
  let y = ctx.op('MatMul', [a, b], c);
  const drop = [...(l.opA === 'vector' ? [-2] : []), ...(l.opB === 'vector' ? [-1] : [])];
  if (drop.length) y = ctx.op('Squeeze', [y, ctx.i64(drop)], c);
  return ctx.cast(y, dt);
}

const REDUCE: Record<string, string> = { sum: 'ReduceSum', prod: 'ReduceProd', max: 'ReduceMax', min: 'ReduceMin', avg: 'ReduceMean' };

function reduce(ctx: Ctx, l: Extract<Layer, { kind: 'reduce' }>, x: Val): Val {
  const dt = x.dtype;
  // No axes reduces nothing in TensorRT; in ONNX it would reduce every axis.
  if (l.axes.length === 0) return ctx.op('Identity', [x], dt);
  const c = arithType(dt);
  const v = ctx.cast(x, c);
  // ORT's integer ReduceMean truncates the mean, as the interpreter's sum / count does.
  return ctx.cast(ctx.reduce(REDUCE[l.op], v, l.axes, l.keepDims), dt);
}

/** Fill (linspace): element i of the flattened output is alpha + i * beta, as the interpreter computes it. */
function fill(ctx: Ctx, l: Extract<Layer, { kind: 'fill' }>): Val {
  const dt = l.dtype;
  const dims = Array.isArray(l.dims) ? l.dims : undefined;
  const intSteps = Number.isInteger(l.alpha) && Number.isInteger(l.beta);
  if (dims) {
    const n = dims.reduce((p, q) => p * q, 1);
    // Small static fills are folded into a constant (values computed exactly like the interpreter).
    if (n <= 4096) {
      const vals = Array.from({ length: n }, (_, i) => l.alpha + i * l.beta);
      return ctx.op('Identity', [ctx.constant(dt, dims, vals)], dt);
    }
  }
  const shape = ctx.param(l.dims);
  const count = dims ? ctx.scalar('int64', dims.reduce((p, q) => p * q, 1)) : ctx.reduce('ReduceProd', shape, null, false);
  // Range over int64 has exactly `count` elements (a float Range may be off by one from rounding).
  const iota = ctx.op('Range', [ctx.scalar('int64', 0), count, ctx.scalar('int64', 1)], 'int64');
  // Integer steps stay exact in int64; otherwise alpha + i * beta in float64, rounded once by the Cast.
  const c: VT = intSteps && !isFloat(dt) ? 'int64' : 'float64';
  const i = ctx.cast(iota, c);
  const scaled = l.beta === 1 ? i : ctx.op('Mul', [i, ctx.scalar(c, l.beta)], c);
  const vals = l.alpha === 0 ? scaled : ctx.op('Add', [scaled, ctx.scalar(c, l.alpha)], c);
  // The dims are literal sizes (0 is an empty dim, not a placeholder).
  return ctx.op('Reshape', [ctx.cast(vals, dt), shape], dt, [attr.i('allowzero', 1)]);
}

/**
 * ISliceLayer: output[i] = input[start + i * stride] per axis, with the mode deciding what an
 * out-of-range position reads. Strict slices with known non-zero strides become one ONNX Slice
 * (ends = start + size * stride); everything else is index arithmetic + Gather per axis.
 */
/**
 * A matmul against a large float16/bfloat16 weight, in blocks of output columns: each block of
 * the weight is sliced, cast to float32 and multiplied on its own, and the blocks' results are
 * concatenated. The result is the same; what changes is memory: ONNX Runtime computes in
 * float32, and a whole-weight Cast (plus the Transpose of a [N, K] weight) would hold 4-8× the
 * weight's bytes at once, where one block's copy is at most `halfWeightBlockBytes`.
 */
function blockedWeightMatmul(ctx: Ctx, l: Extract<Layer, { kind: 'matmul' }>, a0: Val, b0: Val, w: Weights): Val {
  const dt = a0.dtype;
  const c = arithType(dt);
  let a = ctx.cast(a0, c);
  const rankA = ctx.rankOf(l.inputs[0]);
  if (l.opA === 'transpose') {
    const perm = range(rankA);
    [perm[rankA - 2], perm[rankA - 1]] = [perm[rankA - 1], perm[rankA - 2]];
    a = ctx.op('Transpose', [a], c, [attr.ints('perm', perm)]);
  }
  if (l.opA === 'vector') a = ctx.op('Unsqueeze', [a, ctx.i64([-2])], c);
  const transposed = l.opB === 'transpose'; // the weight is [N, K], else [K, N]
  const axis = transposed ? 0 : 1;
  const n = w.shape[axis]!;
  const blocks = Math.max(1, Math.min(n, Math.ceil((w.shape[0]! * w.shape[1]! * 4) / ctx.halfWeightBlockBytes!)));
  const per = Math.ceil(n / blocks);
  const parts: Val[] = [];
  for (let n0 = 0; n0 < n; n0 += per) {
    const n1 = Math.min(n, n0 + per);
    // The block's bounds depend (by a multiplication with 0) on the activation or on the
    // previous block's product, so ONNX Runtime can neither fold the cast into a float32
    // initializer nor run all casts up front: each block is cast just before it is used.
    const after = parts.length ? parts[parts.length - 1]! : a;
    const zero = ctx.op('Mul', [ctx.op('Shape', [after], 'int64', [attr.i('start', 0), attr.i('end', 1)]), ctx.i64([0])], 'int64');
    const bounds = (x: number) => ctx.op('Add', [zero, ctx.i64([x])], 'int64');
    let wb = ctx.cast(ctx.op('Slice', [b0, bounds(n0), bounds(n1), ctx.i64([axis])], b0.dtype), c);
    if (transposed) wb = ctx.op('Transpose', [wb], c, [attr.ints('perm', [1, 0])]);
    parts.push(ctx.op('MatMul', [a, wb], c));
  }
  let y = parts.length === 1 ? parts[0]! : ctx.op('Concat', parts, c, [attr.i('axis', -1)]);
  if (l.opA === 'vector') y = ctx.op('Squeeze', [y, ctx.i64([-2])], c);
  return ctx.cast(y, dt);
}

function slice(ctx: Ctx, l: Extract<Layer, { kind: 'slice' }>, x: Val): Val {
  const id = l.inputs[0];
  const r = ctx.rankOf(id);
  const st = range(r).map((d) => ctx.paramEntry(l.start, d));
  const sz = range(r).map((d) => ctx.paramEntry(l.size, d));
  const sd = range(r).map((d) => ctx.paramEntry(l.stride, d));
  const n = range(r).map((d) => ctx.staticDim(id, d));
  const identity = (d: number) => st[d] === 0 && sd[d] === 1 && sz[d] !== undefined && sz[d] === n[d];
  // A static axis whose positions all lie inside the input (or that reads nothing) needs no mode handling.
  const inside = (d: number) => {
    const [s, z, t, dim] = [st[d], sz[d], sd[d], n[d]];
    if (s === undefined || z === undefined || t === undefined || t === 0) return false;
    if (z === 0) return true;
    if (dim === undefined) return l.mode === 'strict';
    const last = s + (z - 1) * t;
    return s >= 0 && s < dim && last >= 0 && last < dim;
  };
  // ONNX reads a negative end as "dim + end"; a negative stride that runs through index 0 has
  // end -1, so it gets INT64_MIN (clamped to "before 0") instead.
  const endOf = (s: number, z: number, t: number): bigint => {
    const e = s + z * t;
    return t < 0 && e < 0 ? INT64_MIN : BigInt(e);
  };
  // An empty axis is [0, 0) step 1: ONNX would clamp an out-of-range start and still read one element.
  const startsOf = (axes: number[]) => ctx.i64(axes.map((d) => (sz[d] === 0 ? 0 : st[d]!)));
  const endsOf = (axes: number[]) => ctx.i64(axes.map((d) => (sz[d] === 0 ? 0n : endOf(st[d]!, sz[d]!, sd[d]!))));
  const stepsOf = (axes: number[]) => ctx.i64(axes.map((d) => (sz[d] === 0 ? 1 : sd[d]!)));

  if (l.mode === 'strict' && sd.every((t) => t !== undefined && t !== 0)) {
    const axes = range(r).filter((d) => !identity(d));
    if (axes.length === 0) return ctx.op('Identity', [x], x.dtype);
    if (axes.every((d) => st[d] !== undefined && sz[d] !== undefined)) {
      return ctx.op('Slice', [x, startsOf(axes), endsOf(axes), ctx.i64(axes), stepsOf(axes)], x.dtype);
    }
    // Run-time start/size: ends computed in the graph, over every axis.
    let starts = ctx.param(l.start);
    const size = ctx.param(l.size);
    const steps = ctx.i64(sd as number[]);
    let ends = ctx.op('Add', [starts, ctx.op('Mul', [size, steps], 'int64')], 'int64');
    if (sd.some((t) => t! < 0)) {
      const neg = ctx.constant('bool', [r], sd.map((t) => (t! < 0 ? 1 : 0)));
      const wrapsToEnd = ctx.op('And', [ctx.op('Less', [ends, ctx.scalar('int64', 0)], 'bool'), neg], 'bool');
      ends = ctx.op('Where', [wrapsToEnd, ctx.scalar('int64', INT64_MIN), ends], 'int64');
    }
    if (sz.some((z) => z === undefined)) {
      // Run-time empty axes become [0, 0) (see startsOf); a negative step from 0 to 0 is empty too.
      const empty = ctx.op('Equal', [size, ctx.scalar('int64', 0)], 'bool');
      const zero = ctx.scalar('int64', 0);
      starts = ctx.op('Where', [empty, zero, starts], 'int64');
      ends = ctx.op('Where', [empty, zero, ends], 'int64');
    }
    return ctx.op('Slice', [x, starts, ends, ctx.i64(range(r)), steps], x.dtype);
  }

  let v = x;
  const plain = range(r).filter((d) => !identity(d) && inside(d));
  if (plain.length) {
    v = ctx.op('Slice', [v, startsOf(plain), endsOf(plain), ctx.i64(plain), stepsOf(plain)], x.dtype);
  }
  for (const d of range(r)) {
    if (identity(d) || plain.includes(d)) continue;
    let idx: Val;
    let mask: Val | undefined;
    const [s, z, t, dim] = [st[d], sz[d], sd[d], n[d]];
    if (s !== undefined && z !== undefined && t !== undefined && dim !== undefined) {
      // Everything known: the positions (and the fill mask) are constants.
      const pos = range(z).map((i) => s + i * t);
      const ok = pos.map((j) => j >= 0 && j < dim);
      const mapped = pos.map((j, i) => {
        if (l.mode === 'wrap') return dim > 0 ? ((j % dim) + dim) % dim : 0;
        if (l.mode === 'clamp') return Math.min(Math.max(j, 0), dim - 1);
        if (l.mode === 'fill') return ok[i] ? j : 0;
        return j;
      });
      idx = ctx.i64(mapped);
      if (l.mode === 'fill' && ok.some((b) => !b)) mask = ctx.constant('bool', [z], ok.map(Number));
    } else {
      const start = ctx.paramScalar(l.start, d);
      const size = ctx.paramScalar(l.size, d);
      let j = ctx.op('Range', [ctx.scalar('int64', 0), size, ctx.scalar('int64', 1)], 'int64');
      if (t !== 1) j = ctx.op('Mul', [j, ctx.paramScalar(l.stride, d)], 'int64');
      if (s !== 0) j = ctx.op('Add', [j, start], 'int64');
      const len = ctx.dimScalar(id, d);
      if (l.mode === 'wrap') {
        // ONNX integer Mod with fmod=0 takes the divisor's sign: ((j % n) + n) % n. An empty axis
        // would divide by zero (a CPU trap), so it divides by 1.
        j = ctx.op('Mod', [j, ctx.op('Max', [len, ctx.scalar('int64', 1)], 'int64')], 'int64', [attr.i('fmod', 0)]);
      } else if (l.mode === 'clamp') {
        const hi = ctx.op('Sub', [len, ctx.scalar('int64', 1)], 'int64');
        j = ctx.op('Max', [ctx.op('Min', [j, hi], 'int64'), ctx.scalar('int64', 0)], 'int64');
      } else if (l.mode === 'fill') {
        const lo = ctx.op('Not', [ctx.op('Less', [j, ctx.scalar('int64', 0)], 'bool')], 'bool');
        mask = ctx.op('And', [lo, ctx.op('Less', [j, len], 'bool')], 'bool');
        j = ctx.op('Where', [mask, j, ctx.scalar('int64', 0)], 'int64');
      }
      idx = j;
    }
    v = ctx.op('Gather', [v, idx], x.dtype, [attr.i('axis', d)]);
    if (mask) {
      const bshape = range(r).map((e) => (e === d ? -1 : 1));
      const m = ctx.op('Reshape', [mask, ctx.i64(bshape)], 'bool');
      v = ctx.where(m, v, ctx.scalar(x.dtype, l.fillValue ?? 0));
    }
  }
  return v === x ? ctx.op('Identity', [x], x.dtype) : v;
}
