/**
 * Graph ⇄ bytes under redraft's own protobuf schema. Deterministic: the same graph gives the
 * same bytes (attributes are written as canonical JSON with sorted keys; call sites, which
 * hold machine paths, are left out). Loading validates everything a hostile file could get
 * wrong and throws ModelError, never anything else.
 */
import protobuf from 'protobufjs';
import type { DType } from './dtype.js';
import { allocate, dtypeBytes, isDType, isFloat, isQuant, viewBytes } from './dtype.js';
import type { Dim } from './dim.js';
import { dimToString, parseDim } from './dim.js';
import { ModelError } from './errors.js';
import type { Graph, Layer, LayerKind, TensorInfo } from './ir.js';
import { LAYER_KINDS } from './ir.js';

export const GRAPH_FORMAT_VERSION = 1;

const root = protobuf.Root.fromJSON({
  nested: {
    redraft: {
      nested: {
        Graph: {
          fields: {
            version: { type: 'uint32', id: 1 },
            name: { type: 'string', id: 2 },
            tensors: { rule: 'repeated', type: 'Tensor', id: 3 },
            layers: { rule: 'repeated', type: 'Layer', id: 4 },
            inputs: { rule: 'repeated', type: 'Binding', id: 5 },
            outputs: { rule: 'repeated', type: 'Binding', id: 6 },
            symbols: { rule: 'repeated', type: 'Symbol', id: 7 },
            aliases: { rule: 'repeated', type: 'Alias', id: 8 },
          },
        },
        Alias: {
          fields: {
            output: { type: 'string', id: 1 },
            input: { type: 'string', id: 2 },
          },
        },
        Tensor: {
          fields: {
            dtype: { type: 'string', id: 1 },
            shape: { rule: 'repeated', type: 'string', id: 2 },
            hasValues: { type: 'bool', id: 3 },
            values: { rule: 'repeated', type: 'string', id: 4 },
            name: { type: 'string', id: 5 },
          },
        },
        Layer: {
          fields: {
            kind: { type: 'string', id: 1 },
            name: { type: 'string', id: 2 },
            inputs: { rule: 'repeated', type: 'uint32', id: 3 },
            outputs: { rule: 'repeated', type: 'uint32', id: 4 },
            attrs: { type: 'string', id: 5 },
            weights: { type: 'Weights', id: 6 },
          },
        },
        Weights: {
          fields: {
            dtype: { type: 'string', id: 1 },
            shape: { rule: 'repeated', type: 'uint32', id: 2 },
            data: { type: 'bytes', id: 3 },
            name: { type: 'string', id: 4 },
            byReference: { type: 'bool', id: 5 },
          },
        },
        Binding: { fields: { id: { type: 'uint32', id: 1 }, name: { type: 'string', id: 2 } } },
        Symbol: {
          fields: {
            name: { type: 'string', id: 1 },
            min: { type: 'uint32', id: 2 },
            opt: { type: 'uint32', id: 3 },
            max: { type: 'uint32', id: 4 },
          },
        },
      },
    },
  },
});
const GraphMsg = root.lookupType('redraft.Graph');

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const dimStr = (d: Dim) => dimToString(d);

/**
 * Serializes a graph to bytes. `weights: 'reference'` records each constant's name, dtype and
 * shape but not its bytes (for structure-only snapshots of very large models).
 */
export function serializeGraph(g: Graph, opts: { weights?: 'inline' | 'reference' } = {}): Uint8Array {
  const byRef = opts.weights === 'reference';
  const msg = {
    version: GRAPH_FORMAT_VERSION,
    name: g.name,
    tensors: g.tensors.map((t) => ({ dtype: t.dtype, shape: t.shape.map(dimStr), hasValues: !!t.values, values: (t.values ?? []).map(dimStr), name: t.name ?? '' })),
    layers: g.layers.map((l) => {
      const { kind, name, inputs, outputs, site: _site, ...rest } = l as Layer & Record<string, unknown>;
      const weights = (rest as { weights?: Layer extends never ? never : { dtype: DType; shape: number[]; data: ArrayBufferView; name?: string } }).weights;
      delete (rest as Record<string, unknown>).weights;
      return {
        kind, name, inputs, outputs,
        attrs: canonical(rest),
        weights: weights ? { dtype: weights.dtype, shape: weights.shape, data: byRef ? new Uint8Array(0) : new Uint8Array(weights.data.buffer, weights.data.byteOffset, weights.data.byteLength), name: weights.name ?? '', byReference: byRef } : undefined,
      };
    }),
    inputs: g.inputs,
    outputs: g.outputs,
    symbols: Object.keys(g.symbols).sort().map((name) => ({ name, ...g.symbols[name] })),
    aliases: Object.keys(g.aliases ?? {}).sort().map((output) => ({ output, input: g.aliases![output] })),
  };
  return GraphMsg.encode(GraphMsg.fromObject(msg)).finish();
}

function bad(where: string, msg: string): never {
  throw new ModelError(`invalid graph file: ${where}: ${msg}`, 'regenerate it with `redraft export --format graph`, or check that the file is not truncated');
}

// Attribute names and checks per layer kind (the rest of each Layer type).
const ATTRS: Record<LayerKind, Record<string, (v: unknown) => boolean>> = (() => {
  const int = (v: unknown) => Number.isInteger(v);
  const ints = (v: unknown) => Array.isArray(v) && v.every(int);
  const dimsOrTensor = (v: unknown) => ints(v) || (!!v && typeof v === 'object' && int((v as { tensor?: unknown }).tensor));
  const oneOf = (...xs: string[]) => (v: unknown) => typeof v === 'string' && xs.includes(v);
  const bool = (v: unknown) => typeof v === 'boolean';
  const num = (v: unknown) => typeof v === 'number';
  const opt = (f: (v: unknown) => boolean) => (v: unknown) => v === undefined || f(v);
  return {
    constant: {},
    shape: {},
    shuffle: { first: opt(ints), reshape: opt(dimsOrTensor), second: opt(ints), zeroIsPlaceholder: bool },
    concatenation: { axis: int },
    gather: { mode: oneOf('default', 'element', 'nd'), axis: int, nbElementWiseDims: int },
    slice: { start: dimsOrTensor, size: dimsOrTensor, stride: dimsOrTensor, mode: oneOf('strict', 'wrap', 'clamp', 'fill'), fillValue: opt(num) },
    elementwise: { op: oneOf('sum', 'prod', 'max', 'min', 'sub', 'div', 'pow', 'floor_div', 'and', 'or', 'xor', 'equal', 'greater', 'less') },
    unary: { op: oneOf('exp', 'log', 'sqrt', 'recip', 'abs', 'neg', 'sin', 'cos', 'floor', 'ceil', 'round', 'not', 'erf', 'sign', 'isnan', 'isinf') },
    activation: { op: oneOf('relu', 'sigmoid', 'tanh', 'leaky_relu', 'elu', 'softplus', 'clip', 'gelu_erf', 'gelu_tanh'), alpha: opt(num), beta: opt(num) },
    matmul: { opA: oneOf('none', 'transpose', 'vector'), opB: oneOf('none', 'transpose', 'vector') },
    softmax: { axis: int },
    topk: { op: oneOf('max', 'min'), k: int, axis: int },
    reduce: { op: oneOf('sum', 'prod', 'max', 'min', 'avg'), axes: ints, keepDims: bool },
    select: {},
    fill: { dims: dimsOrTensor, dtype: (v) => isDType(v), alpha: num, beta: num },
    cumulative: { op: oneOf('sum'), axis: int, exclusive: bool, reverse: bool },
    cast: { dtype: (v) => isDType(v) },
    scatter: { mode: oneOf('element', 'nd'), axis: int },
    nonzero: {},
    attention: { scale: num, causal: oneOf('none', 'upper_left', 'lower_right') },
    rotary_embedding: { interleaved: bool, rotaryDim: int },
    kv_cache_update: {},
    rms_norm: { eps: num },
    quantize: { axis: int, dtype: (v) => isDType(v) && isQuant(v) },
    dequantize: { axis: int, dtype: (v) => isDType(v) && isFloat(v) },
    collective: { op: oneOf('all_reduce', 'all_gather', 'broadcast'), reduce: oneOf('sum', 'max', 'none'), root: int, group: (v) => ints(v) && (v as number[]).length > 0, rank: int },
  };
})();

function parseDimStr(s: string, where: string): Dim {
  if (typeof s !== 'string' || s.length === 0 || s.length > 256) bad(where, `bad dim ${JSON.stringify(s)}`);
  const d = parseDim(s);
  if (typeof d === 'number' && (!Number.isSafeInteger(d) || d < -1)) bad(where, `bad dim ${s}`);
  return d;
}

/** Parses bytes written by serializeGraph; any defect throws ModelError naming where. */
export function deserializeGraph(bytes: Uint8Array, source = '<bytes>'): Graph {
  let m: Record<string, unknown>;
  try {
    m = GraphMsg.toObject(GraphMsg.decode(bytes), { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: true, arrays: true }) as Record<string, unknown>;
  } catch (e) {
    bad(source, `not a redraft graph (${(e as Error).message})`);
  }
  if (m.version !== GRAPH_FORMAT_VERSION) bad(source, `format version ${String(m.version)}, expected ${GRAPH_FORMAT_VERSION}`);
  const rawTensors = m.tensors as { dtype: string; shape: string[]; hasValues: boolean; values: string[]; name: string }[];
  const tensors: TensorInfo[] = rawTensors.map((t, id) => {
    const where = `${source}: tensor #${id}`;
    if (!isDType(t.dtype)) bad(where, `unknown dtype ${JSON.stringify(t.dtype)}`);
    if (t.shape.length > 16) bad(where, `rank ${t.shape.length} is above 16`);
    return {
      id,
      dtype: t.dtype,
      shape: t.shape.map((s) => parseDimStr(s, where)),
      values: t.hasValues ? t.values.map((s) => parseDimStr(s, where)) : undefined,
      name: t.name || undefined,
    };
  });
  const produced = new Set<number>();
  const checkId = (id: unknown, where: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= tensors.length) bad(where, `tensor id ${String(id)} out of range (${tensors.length} tensors)`);
    return id as number;
  };
  const inputs = (m.inputs as { id: number; name: string }[]).map((b, i) => {
    checkId(b.id, `${source}: inputs[${i}]`);
    produced.add(b.id);
    return { id: b.id, name: b.name };
  });
  const layers: Layer[] = (m.layers as { kind: string; name: string; inputs: number[]; outputs: number[]; attrs: string; weights?: { dtype: string; shape: number[]; data: Uint8Array; name: string; byReference?: boolean } }[]).map((l, i) => {
    const where = `${source}: layer #${i} '${l.name}'`;
    if (!(LAYER_KINDS as readonly string[]).includes(l.kind)) bad(where, `unknown layer kind ${JSON.stringify(l.kind)}`);
    const kind = l.kind as LayerKind;
    let attrs: Record<string, unknown>;
    try {
      attrs = JSON.parse(l.attrs || '{}');
    } catch {
      bad(where, 'attributes are not JSON');
    }
    if (!attrs || typeof attrs !== 'object' || Array.isArray(attrs)) bad(where, 'attributes are not an object');
    const spec = ATTRS[kind];
    for (const k of Object.keys(attrs)) if (!(k in spec)) bad(where, `unexpected attribute '${k}'`);
    for (const [k, ok] of Object.entries(spec)) if (!ok(attrs[k])) bad(where, `attribute '${k}' is missing or invalid (${JSON.stringify(attrs[k])})`);
    for (const id of l.inputs) if (!produced.has(checkId(id, where))) bad(where, `input tensor #${id} is used before it is produced`);
    for (const id of l.outputs) {
      if (produced.has(checkId(id, where))) bad(where, `output tensor #${id} is produced twice`);
      produced.add(id);
    }
    const layer = { kind, name: l.name, inputs: l.inputs, outputs: l.outputs, ...attrs } as Layer;
    if (kind === 'constant') {
      const w = l.weights;
      if (!w || !isDType(w.dtype)) bad(where, 'constant without valid weights');
      if ((w as { byReference?: boolean }).byReference) bad(where, `weights '${w.name}' were saved by reference, without their bytes`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(n) || dtypeBytes(w.dtype, n) !== w.data.byteLength) bad(where, `weights hold ${w.data.byteLength} bytes, shape [${w.shape}] of ${w.dtype} needs ${dtypeBytes(w.dtype, n)}`);
      const data = n === 0 ? allocate(w.dtype, 0) : viewBytes(w.dtype, new Uint8Array(w.data));
      (layer as Extract<Layer, { kind: 'constant' }>).weights = { dtype: w.dtype, shape: [...w.shape], data, name: w.name || undefined };
    }
    return layer;
  });
  const outputs = (m.outputs as { id: number; name: string }[]).map((b, i) => {
    if (!produced.has(checkId(b.id, `${source}: outputs[${i}]`))) bad(`${source}: outputs[${i}]`, `tensor #${b.id} is never produced`);
    return { id: b.id, name: b.name };
  });
  const symbols: Graph['symbols'] = {};
  for (const s of m.symbols as { name: string; min: number; opt: number; max: number }[]) {
    if (!(s.min <= s.opt && s.opt <= s.max)) bad(`${source}: dim '${s.name}'`, `range min ${s.min} opt ${s.opt} max ${s.max} is not ordered`);
    symbols[s.name] = { min: s.min, opt: s.opt, max: s.max };
  }
  const aliases: Record<string, string> = {};
  for (const a of (m.aliases ?? []) as { output: string; input: string }[]) {
    if (!outputs.some((b) => b.name === a.output) || !inputs.some((b) => b.name === a.input)) bad(`${source}: alias '${a.output}'`, `names no output, or its input '${a.input}' is not a network input`);
    aliases[a.output] = a.input;
  }
  return { name: String(m.name ?? ''), tensors, layers, inputs, outputs, symbols, ...(Object.keys(aliases).length ? { aliases } : {}) };
}
