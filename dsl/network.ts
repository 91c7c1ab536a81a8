/**
 * The network being built (TensorRT's INetworkDefinition, TensorRT-LLM's `default_net()`):
 * inputs with named dims and ranges, constants over loaded buffers, layers, outputs.
 */
import type { DType, TypedArray } from './dtype.js';
import { allocate, dtypeBytes, getNumber, isDType, lowestFinite, setNumber } from './dtype.js';
import type { Dim, DimRange } from './dim.js';
import { dimToString, parseDim, shapeToString, SymDim } from './dim.js';
import { DslError, userCallSite } from './errors.js';
import type { Binding, Graph, Layer, TensorId, TensorInfo, Weights } from './ir.js';
import { inferLayer } from './infer.js';

/** A tensor of the network being built. Shapes may hold symbolic dims. */
export class Tensor {
  readonly net: Network;
  readonly id: TensorId;
  constructor(net: Network, id: TensorId) {
    this.net = net;
    this.id = id;
  }
  get info(): TensorInfo {
    return this.net.tensorInfo(this.id);
  }
  get dtype(): DType {
    return this.info.dtype;
  }
  get shape(): Dim[] {
    return [...this.info.shape];
  }
  get rank(): number {
    return this.info.shape.length;
  }
  /** Build-time values of a small int tensor (e.g. the result of `shape(x)`), if known. */
  get values(): Dim[] | undefined {
    return this.info.values;
  }
  get name(): string | undefined {
    return this.info.name;
  }
  /** Dim `i` of the shape (negative counts from the end). */
  size(i: number): Dim {
    const s = this.info.shape;
    return s[i < 0 ? i + s.length : i];
  }
  toString(): string {
    return `Tensor(${this.name ?? `#${this.id}`}: ${this.dtype}${shapeToString(this.info.shape)})`;
  }
}

export type LayerSpec = Layer extends infer L ? (L extends Layer ? Omit<L, 'outputs' | 'name' | 'site'> & { name?: string } : never) : never;

export interface InputSpec {
  name: string;
  dtype: DType;
  /** Dims: numbers, or names of symbolic dims (`'batch'`). */
  shape: readonly (number | string)[];
}

/** Range of a named dim whose input gave none: anything a 32-bit dim can hold. */
export const UNBOUNDED = { min: 0, opt: 1, max: 2147483647 } as const;

export class Network {
  readonly name: string;
  private readonly tensors: TensorInfo[] = [];
  private readonly layerList: Layer[] = [];
  private readonly inputList: Binding[] = [];
  private readonly outputList: Binding[] = [];
  private readonly aliasMap = new Map<string, string>();
  private readonly symbolRanges = new Map<string, DimRange>();
  private readonly counters = new Map<string, number>();
  private readonly producers = new Map<TensorId, Layer>();

  /**
   * This graph's rank under tensor parallelism (a communicator id), recorded by every
   * collective the graph holds; undefined for a single-device graph.
   */
  rank?: number;

  constructor(name = 'network') {
    this.name = name;
  }

  tensorInfo(id: TensorId): TensorInfo {
    const t = this.tensors[id];
    if (!t) throw new Error(`internal: no tensor #${id} in network '${this.name}'`);
    return t;
  }
  tensor(id: TensorId): Tensor {
    this.tensorInfo(id);
    return new Tensor(this, id);
  }
  get layers(): readonly Layer[] {
    return this.layerList;
  }
  /** The layer that produced tensor `id` (undefined for network inputs). */
  producer(id: TensorId): Layer | undefined {
    return this.producers.get(id);
  }

  /** Declares the min/opt/max range of a named dim (one TensorRT optimization profile). */
  dimRange(name: string, range: DimRange): void {
    if (!(range.min <= range.opt && range.opt <= range.max && range.min >= 0))
      throw new DslError('dim_range', `dim '${name}' needs 0 <= min <= opt <= max, got ${JSON.stringify(range)}`);
    this.symbolRanges.set(name, { ...range });
  }

  /** Adds a network input. Named dims take the ranges given here (or via dimRange), else UNBOUNDED. */
  input(name: string, dtype: DType, shape: readonly (number | string)[], ranges: Record<string, DimRange> = {}): Tensor {
    if (!isDType(dtype)) throw new DslError('input', `input '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    if (this.inputList.some((b) => b.name === name)) throw new DslError('input', `an input named '${name}' already exists`, { hint: 'give each network input a unique name' });
    const dims: Dim[] = shape.map((d) => {
      if (typeof d === 'number') {
        if (!Number.isInteger(d) || d < 0) throw new DslError('input', `input '${name}': dim ${d} must be a non-negative integer or a dim name`);
        return d;
      }
      const dim = parseDim(d);
      if (dim instanceof SymDim) for (const f of dim.factors) if (!this.symbolRanges.has(f)) this.symbolRanges.set(f, ranges[f] ?? { ...UNBOUNDED });
      return dim;
    });
    for (const [k, r] of Object.entries(ranges)) this.dimRange(k, r);
    const id = this.push({ dtype, shape: dims, name });
    this.inputList.push({ id, name });
    return new Tensor(this, id);
  }

  /** A constant from a typed array (zero-copy) or a JS array (converted to dtype). */
  constant(data: TypedArray | ArrayLike<number | bigint | boolean>, dtype: DType, shape: readonly number[], name?: string): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    let arr: TypedArray;
    if (ArrayBuffer.isView(data)) {
      arr = data as TypedArray;
      if (arr.byteLength !== dtypeBytes(dtype, n))
        throw new DslError('constant', `data has ${arr.byteLength} bytes but ${dtype}${shapeToString(shape)} needs ${dtypeBytes(dtype, n)}`);
    } else {
      if (data.length !== n) throw new DslError('constant', `got ${data.length} values for shape ${shapeToString(shape)} (${n} elements)`);
      arr = allocate(dtype, n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (dtype === 'int64') (arr as BigInt64Array)[i] = BigInt(v as number | bigint);
        else {
          setNumber(dtype, arr, i, Number(v));
          // A finite literal that overflows (float32's lowest in float16, say) would turn a
          // mask into -inf and a fully masked softmax into NaN: refuse it where it is written.
          if ((dtype === 'float16' || dtype === 'bfloat16') && Number.isFinite(Number(v)) && !Number.isFinite(getNumber(dtype, arr, i)))
            throw new DslError('constant', `value ${Number(v)} is outside the finite range of ${dtype} (it would become ${Number(v) < 0 ? '-' : ''}inf)`, { hint: `use a value within ±${-lowestFinite(dtype)}, e.g. lowestFinite('${dtype}') from redraft/dsl for a mask, or compute in float32` });
        }
      }
    }
    const weights: Weights = { dtype, shape: [...shape], data: arr, name };
    return this.addLayer({ kind: 'constant', inputs: [], weights, name: name ?? 'constant' })[0];
  }

  /**
   * A constant whose data is read by `read()` whenever a backend needs it and never kept by
   * the graph (weights streamed from a checkpoint). `read` must return `dtype`[`shape`].
   */
  lazyConstant(dtype: DType, shape: readonly number[], read: () => TypedArray, name?: string): Tensor {
    const weights = { dtype, shape: [...shape], name, lazy: true } as Weights;
    const n = shape.reduce((a, b) => a * b, 1);
    Object.defineProperty(weights, 'data', {
      enumerable: true,
      get: () => {
        const d = read();
        if (d.byteLength !== dtypeBytes(dtype, n)) throw new DslError('constant', `lazy weight '${name ?? '?'}' read ${d.byteLength} bytes, expected ${dtypeBytes(dtype, n)} for ${dtype}${shapeToString(shape)}`);
        return d;
      },
    });
    return this.addLayer({ kind: 'constant', inputs: [], weights, name: name ?? 'constant' })[0];
  }

  /** Appends a layer, infers its outputs, and returns them as tensors. */
  addLayer(spec: LayerSpec): Tensor[] {
    const base = spec.name ?? spec.kind;
    const count = this.counters.get(base) ?? 0;
    this.counters.set(base, count + 1);
    const layer = { ...spec, name: count ? `${base}_${count}` : base, outputs: [] as TensorId[], site: userCallSite() } as Layer;
    for (const id of layer.inputs) this.tensorInfo(id);
    const outs = inferLayer(layer, (id) => this.tensorInfo(id));
    layer.outputs = outs.map((o) => this.push(o));
    for (const id of layer.outputs) this.producers.set(id, layer);
    this.layerList.push(layer);
    return layer.outputs.map((id) => new Tensor(this, id));
  }

  /**
   * Marks a tensor as a network output under `name`. `inPlaceOf`: a network input whose memory
   * the output reuses (recorded in Graph.aliases): `t` must be that input updated by a chain of
   * kv_cache_update layers, so a runtime may bind both to one buffer.
   */
  markOutput(t: Tensor, name: string, opts: { inPlaceOf?: Tensor } = {}): void {
    if (t.net !== this) throw new DslError('mark_output', `output '${name}' belongs to another network`);
    if (this.outputList.some((b) => b.name === name)) throw new DslError('mark_output', `an output named '${name}' already exists`);
    if (opts.inPlaceOf) {
      const input = this.inputList.find((b) => b.id === opts.inPlaceOf!.id);
      if (!input) throw new DslError('mark_output', `output '${name}': inPlaceOf must be a network input, got ${opts.inPlaceOf}`);
      if ([...this.aliasMap.values()].includes(input.name)) throw new DslError('mark_output', `input '${input.name}' already has an in-place output`);
      // Walk back through the kv_cache_update chain (its first input is the cache it writes).
      let id = t.id;
      for (let l = this.producers.get(id); l && l.kind === 'kv_cache_update'; l = this.producers.get(id)) id = l.inputs[0]!;
      if (id !== input.id || id === t.id)
        throw new DslError('mark_output', `output '${name}' cannot be in place of input '${input.name}': it is not that input updated by kv_cache_update`, { hint: 'mark in place only the result of kv_cache_update(...) on the input cache' });
      this.aliasMap.set(name, input.name);
    }
    this.outputList.push({ id: t.id, name });
    this.tensors[t.id].name ??= name;
  }

  /** The finished graph (plain data; layers and tensors are shared, not copied). */
  toGraph(): Graph {
    const symbols: Record<string, DimRange> = {};
    for (const k of [...this.symbolRanges.keys()].sort()) symbols[k] = { ...this.symbolRanges.get(k)! };
    return {
      name: this.name,
      tensors: this.tensors,
      layers: this.layerList,
      inputs: [...this.inputList],
      outputs: [...this.outputList],
      symbols,
      ...(this.aliasMap.size ? { aliases: Object.fromEntries(this.aliasMap) } : {}),
    };
  }

  private push(o: Omit<TensorInfo, 'id'>): TensorId {
    const id = this.tensors.length;
    this.tensors.push({ ...o, id });
    return id;
  }
}

// The network that ops without tensor operands add to (TensorRT-LLM's default_net()).
const stack: Network[] = [];

export function defaultNet(): Network {
  const n = stack[stack.length - 1];
  if (!n) throw new DslError('default_net', 'no network is being built', { hint: 'wrap model code in buildNetwork(name, (net) => { ... })' });
  return n;
}

/** Runs `fn` with `net` as the default network; returns what fn returns. */
export function withNetwork<T>(net: Network, fn: (net: Network) => T): T {
  stack.push(net);
  try {
    return fn(net);
  } finally {
    stack.pop();
  }
}

/** Creates a network, builds it with `fn` (which marks outputs) and returns its graph. */
export function buildNetwork(name: string, fn: (net: Network) => void): Graph {
  const net = new Network(name);
  withNetwork(net, fn);
  if (net.toGraph().outputs.length === 0) throw new DslError('build_network', `network '${name}' has no outputs`, { hint: 'call net.markOutput(tensor, name) for each result' });
  return net.toGraph();
}

export { dimToString };
