/**
 * Graph → ONNX ModelProto bytes, with large weights in a side file (ONNX external data).
 * The bytes depend only on the graph and the options: no timestamps, node and value names
 * derived from layer names, layers in graph order, initializers in creation order.
 */
import * as os from 'node:os';
import type { DType } from '../../dsl/dtype.js';
import type { Dim } from '../../dsl/dim.js';
import { dimToString } from '../../dsl/dim.js';
import { ModelError, UsageError } from '../../dsl/errors.js';
import type { Graph } from '../../dsl/ir.js';
import { FUSED_KINDS } from '../../dsl/ir.js';
import { decomposeFused, prepareNativeAttention } from '../fused.js';
import { Ctx, lowerLayer, ONNX_TYPE, REDRAFT_DOMAIN, type Val } from './lower.js';
import { onnx, type OnnxTypes } from './proto.js';

export interface ExportOptions {
  /** ai.onnx opset (default 17; 17 to 21 are supported). */
  opset?: number;
  /** Total initializer bytes above which weights go to the side file (default 64 MiB). */
  externalDataThreshold?: number;
  /** File name of the side file, relative to the model file (default 'model.onnx.data'). */
  externalDataPath?: string;
  producerVersion?: string;
  /**
   * 'float32' declares bfloat16 graph inputs/outputs as float32 (exact conversions at the
   * boundary), because ONNX Runtime cannot bind bfloat16 tensors from JavaScript. Default 'keep'.
   */
  bfloat16Io?: 'keep' | 'float32';
  /** Called after each layer is lowered. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Matmuls against float16/bfloat16 weights whose float32 copy would exceed this many bytes
   * are computed in blocks of output columns (ONNX Runtime computes them in float32; see
   * lower.ts). Off by default: the exported graph then has one MatMul per matmul layer.
   */
  halfWeightBlockBytes?: number;
  /**
   * How the fused IR layers (attention, rotary_embedding, kv_cache_update, rms_norm) are
   * exported: 'onnx' as the standard ops (opset 23 Attention, RotaryEmbedding, RMSNormalization;
   * opset 24 TensorScatter — the model's opset is raised to what they need), 'decompose' as the
   * primitive ops of builders/fused.ts (any opset). 'auto' (the default): the standard ops for
   * float32 layers, the decomposition for float16/bfloat16 ones — ONNX Runtime's CPU kernels run
   * those ops in float32 without rounding the scores and products to the half type, which the
   * precision contract (README) fixes, so half-precision tokens would drift from the
   * interpreter's and TensorRT's.
   */
  fusedLayers?: 'auto' | 'onnx' | 'decompose';
}

/** One tensor in the side file: `data` is a view of the weights (no copy). */
export interface ExternalTensor {
  name: string;
  offset: number;
  byteLength: number;
  /** The bytes: a view of in-memory weights, or read on access for lazy weights. */
  readonly data: Uint8Array;
}
export interface ExternalData {
  /** The side file's name, as recorded in the model (relative to the model file). */
  fileName: string;
  byteLength: number;
  /** In file order; gaps between them are zero padding. */
  tensors: ExternalTensor[];
}
export interface OnnxExport {
  model: Uint8Array;
  externalData?: ExternalData;
}

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 17;
export const MAX_OPSET = 21;
export const DEFAULT_EXTERNAL_THRESHOLD = 64 * 2 ** 20;
/** Protobuf messages cannot exceed 2 GiB; above this many weight bytes the side file is mandatory. */
export const FORCE_EXTERNAL_BYTES = 2 ** 31 - 64 * 2 ** 20;
/** With external data on, tensors smaller than this stay inline (onnx's own size_threshold). */
export const EXTERNAL_MIN_TENSOR_BYTES = 1024;
/** Alignment of each tensor in the side file (keeps typed-array views of the file aligned). */
export const EXTERNAL_ALIGN = 64;

/** IR version that goes with an opset (onnx/helper.py's VERSION_TABLE). */
function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : opset <= 22 ? 10 : opset === 23 ? 11 : 12;
}

/** The graph as exported in `form`, and the opset its fused ops need (undefined: any). */
function fusedForm(source: Graph, form: 'auto' | 'onnx' | 'decompose'): { graph: Graph; opset?: number } {
  if (form === 'decompose') return { graph: decomposeFused(source, FUSED_KINDS) };
  const graph = form === 'auto' ? decomposeFused(source, FUSED_KINDS, (l, g) => g.tensors[l.inputs[0]].dtype !== 'float32') : source;
  const kinds = new Set(graph.layers.map((l) => l.kind));
  const need = kinds.has('kv_cache_update') ? 24 : kinds.has('attention') || kinds.has('rotary_embedding') || kinds.has('rms_norm') ? 23 : undefined;
  // QuantizeLinear / DequantizeLinear with int4, block_size and output_dtype are opset 21.
  const quant = kinds.has('quantize') || kinds.has('dequantize') ? 21 : undefined;
  return { graph: prepareNativeAttention(graph, { causalKinds: false, foldScale: false }), opset: need ?? quant };
}

function valueInfo(name: string, dtype: DType, shape: readonly Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[dtype],
        shape: {
          dim: shape.map((d) => {
            if (typeof d === 'number') return { dimValue: d };
            const s = dimToString(d);
            // Fresh data-dependent dims (nonzero#3) are numbered per process: leave them unnamed
            // so the bytes stay the same from one build to the next.
            return s.includes('#') ? {} : { dimParam: s };
          }),
        },
      },
    },
  };
}

/** Lowers the graph to ONNX; see ExportOptions. */
export function exportOnnx(source: Graph, opts: ExportOptions = {}): OnnxExport {
  if (os.endianness() !== 'LE') throw new Error('ONNX raw tensor data is little-endian; exporting on a big-endian host is not supported');
  const asked = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(asked) || asked < MIN_OPSET || asked > MAX_OPSET)
    throw new UsageError(`ONNX opset ${asked} is not supported`, `use an opset from ${MIN_OPSET} to ${MAX_OPSET}`);
  const fused = fusedForm(source, opts.fusedLayers ?? 'auto');
  const graph = fused.graph;
  const opset = Math.max(asked, fused.opset ?? 0);
  const threshold = opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  const dataPath = opts.externalDataPath ?? 'model.onnx.data';
  if (!/^[A-Za-z0-9._-]+$/.test(dataPath) || dataPath === '.' || dataPath === '..')
    throw new UsageError(`external data file name '${dataPath}' must be a plain file name`, 'ONNX Runtime loads it from the model\'s own directory');
  const bf16AsF32 = opts.bfloat16Io === 'float32';

  const ctx = new Ctx(graph, opset, opts.halfWeightBlockBytes);
  const inputNames = new Set(graph.inputs.map((b) => b.name));
  for (const b of graph.inputs) ctx.reserve(b.name);
  for (const b of graph.outputs) {
    const t = graph.inputs.find((i) => i.name === b.name);
    if (t && t.id !== b.id) throw new ModelError(`graph '${graph.name}' has an input and a different output both named '${b.name}'`, 'ONNX value names are unique: rename one of them');
    if (!t) ctx.reserve(b.name);
  }

  const input: OnnxTypes.IValueInfoProto[] = [];
  ctx.begin('inputs');
  for (const b of graph.inputs) {
    const t = graph.tensors[b.id];
    const boundary = bf16AsF32 && t.dtype === 'bfloat16' ? 'float32' : t.dtype;
    input.push(valueInfo(b.name, boundary, t.shape));
    const v: Val = { name: b.name, dtype: boundary };
    ctx.begin(`${b.name}/to_bfloat16`);
    ctx.values.set(b.id, ctx.cast(v, t.dtype));
  }

  const total = graph.layers.length;
  graph.layers.forEach((l, i) => {
    ctx.begin(l.name);
    const outs = lowerLayer(ctx, l);
    l.outputs.forEach((id, k) => {
      const want = graph.tensors[id].dtype;
      if (outs[k].dtype !== want) throw new Error(`internal: ONNX lowering of ${l.kind} '${l.name}' output ${k} is ${outs[k].dtype}, expected ${want}`);
      ctx.values.set(id, outs[k]);
    });
    opts.onProgress?.(i + 1, total);
  });

  // Outputs: the producing node's value is renamed to the output name where it can be (a value
  // made by a node, not yet exported under another name); otherwise an Identity feeds it.
  const producers = new Map<string, OnnxTypes.INodeProto>();
  for (const n of ctx.nodes) for (const o of n.output ?? []) producers.set(o, n);
  const renamed = new Map<string, string>();
  const output: OnnxTypes.IValueInfoProto[] = [];
  for (const b of graph.outputs) {
    const t = graph.tensors[b.id];
    ctx.begin(`${b.name}/output`);
    let v = ctx.tensor(b.id);
    if (bf16AsF32 && v.dtype === 'bfloat16') {
      v = ctx.cast(v, 'float32');
      producers.set(v.name, ctx.nodes[ctx.nodes.length - 1]);
    }
    output.push(valueInfo(b.name, v.dtype as DType, t.shape));
    if (v.name === b.name) continue; // an input passed straight through under its own name
    if (producers.has(v.name) && !renamed.has(v.name) && !inputNames.has(v.name)) renamed.set(v.name, b.name);
    else ctx.identityTo(v, b.name);
  }
  for (const n of ctx.nodes) {
    n.input = (n.input ?? []).map((s) => renamed.get(s) ?? s);
    n.output = (n.output ?? []).map((s) => renamed.get(s) ?? s);
  }

  // Blocked matmuls read their weights directly, leaving the shuffles that reshaped them for a
  // single MatMul unused: drop nodes nothing reads (ONNX Runtime would still run them).
  if (opts.halfWeightBlockBytes) {
    const outNames = new Set(graph.outputs.map((b) => b.name));
    const read = new Set<string>();
    const keep: boolean[] = new Array(ctx.nodes.length).fill(false);
    for (let i = ctx.nodes.length - 1; i >= 0; i--) {
      const n = ctx.nodes[i]!;
      if ((n.output ?? []).some((o) => outNames.has(o) || read.has(o))) {
        keep[i] = true;
        for (const x of n.input ?? []) read.add(x);
      }
    }
    const kept = ctx.nodes.filter((_, i) => keep[i]);
    ctx.nodes.length = 0;
    ctx.nodes.push(...kept);
  }

  const inits = ctx.inits;
  const totalBytes = inits.reduce((a, t) => a + t.byteLength, 0);
  const external = totalBytes > threshold || totalBytes >= FORCE_EXTERNAL_BYTES;
  const tensors: ExternalTensor[] = [];
  let offset = 0;
  const initializer = inits.map((t): OnnxTypes.ITensorProto => {
    const base = { name: t.name, dataType: ONNX_TYPE[t.dtype], dims: t.dims };
    if (!external || t.byteLength < EXTERNAL_MIN_TENSOR_BYTES) return { ...base, rawData: t.bytes };
    offset = Math.ceil(offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
    // `data` stays a getter for lazy weights: the side file is written one tensor at a time.
    tensors.push(Object.defineProperty({ name: t.name, offset, byteLength: t.byteLength } as ExternalTensor, 'data', { enumerable: true, get: () => t.bytes }));
    const entry = {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: dataPath },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.byteLength) },
      ],
    };
    offset += t.byteLength;
    return entry;
  });

  const model: OnnxTypes.IModelProto = {
    irVersion: irVersionFor(opset),
    producerName: 'redraft',
    producerVersion: opts.producerVersion ?? '',
    opsetImport: [{ domain: '', version: opset }, ...(graph.layers.some((l) => l.kind === 'collective') ? [{ domain: REDRAFT_DOMAIN, version: 1 }] : [])],
    graph: { name: graph.name, node: ctx.nodes, initializer, input, output },
    metadataProps: [{ key: 'redraft.symbols', value: JSON.stringify(graph.symbols) }],
  };
  const bytes = onnx.ModelProto.encode(model).finish();
  if (bytes.byteLength >= 2 ** 31) throw new ModelError(`the ONNX model of '${graph.name}' is ${bytes.byteLength} bytes without its weights, over protobuf's 2 GiB limit`);
  return { model: bytes, externalData: external ? { fileName: dataPath, byteLength: offset, tensors } : undefined };
}
