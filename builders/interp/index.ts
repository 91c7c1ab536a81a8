/**
 * The CPU reference interpreter: runs any IR graph with typed arrays, following TensorRT's
 * layer semantics. float16/bfloat16 are stored as raw bits and computed in float32 or wider;
 * int64 is exact (BigInt64Array). Intermediates are freed after their last use.
 */
import { dimToString, evalDim, shapeToString } from '../../dsl/dim.js';
import { RedraftError, UsageError } from '../../dsl/errors.js';
import type { HostTensor } from '../../dsl/host.js';
import type { CollectiveLayer, DimsOrTensor, Graph, Layer } from '../../dsl/ir.js';
import { assertNever } from '../../dsl/ir.js';
import { activation, cumulative, elementwise, matmul, reduce, softmax, topk, unary } from './math.js';
import { attention, kvCacheUpdate, rmsNorm, rotaryEmbedding } from './fused.js';
import { cast, concatenation, fill, gather, KernelError, nonzero, reshapeTo, scatter, select, slice, transpose } from './movement.js';
import { dequantize, quantize } from './quant.js';
import { asInts, numel, tensor } from './tensor.js';

export { KernelError };

/** A run-time failure inside a layer (bad index, impossible reshape): names the layer and the user's line. */
export class InterpError extends RedraftError {
  constructor(layer: Layer, message: string) {
    super(`${message}${layer.site && !message.includes(layer.site) ? `\n  (layer '${layer.name}' built at ${layer.site})` : ''}`, { exitCode: 4 });
  }
}

/** Checks inputs against the declared dtypes, ranks, static dims and named-dim ranges. */
export function checkInputs(graph: Graph, inputs: Record<string, HostTensor>): void {
  const env = new Map<string, number>();
  const expected = graph.inputs.map((b) => b.name);
  for (const k of Object.keys(inputs))
    if (!expected.includes(k)) throw new UsageError(`unknown input '${k}' for graph '${graph.name}'`, `the graph's inputs are: ${expected.join(', ')}`);
  for (const b of graph.inputs) {
    const t = graph.tensors[b.id];
    const v = inputs[b.name];
    const decl = `${t.dtype}${shapeToString(t.shape)}`;
    if (!v) throw new UsageError(`input '${b.name}' (${decl}) is missing`, `pass every input of graph '${graph.name}': ${expected.join(', ')}`);
    if (v.dtype !== t.dtype) throw new UsageError(`input '${b.name}' has dtype ${v.dtype}, expected ${t.dtype}`, `convert it to ${t.dtype}`);
    if (v.shape.length !== t.shape.length) throw new UsageError(`input '${b.name}' has shape [${v.shape}], expected rank ${t.shape.length} (${decl})`);
    if (v.data.length !== numel(v.shape)) throw new UsageError(`input '${b.name}' holds ${v.data.length} elements but its shape [${v.shape}] needs ${numel(v.shape)}`);
    t.shape.forEach((d, i) => {
      const got = v.shape[i];
      if (typeof d === 'number') {
        if (d !== got) throw new UsageError(`input '${b.name}' dim ${i} is ${got}, expected ${d} (${decl})`);
        return;
      }
      if (d.factors.length === 1 && d.coef === 1) {
        const name = d.factors[0];
        const prev = env.get(name);
        if (prev !== undefined && prev !== got)
          throw new UsageError(`input '${b.name}' dim ${i} ('${name}') is ${got}, but another input set '${name}' = ${prev}`, `every input must agree on '${name}'`);
        const r = graph.symbols[name];
        if (r && (got < r.min || got > r.max)) throw new UsageError(`input '${b.name}' dim ${i} ('${name}') is ${got}, outside the declared range [${r.min}, ${r.max}]`, rangeFix(graph, name, got));
        env.set(name, got);
      }
    });
  }
  // Compound dims (2*batch) are checked once their factors are bound.
  for (const b of graph.inputs) {
    const t = graph.tensors[b.id];
    t.shape.forEach((d, i) => {
      const want = evalDim(d, (n) => env.get(n));
      if (want !== undefined && want !== inputs[b.name].shape[i]) throw new UsageError(`input '${b.name}' dim ${i} is ${inputs[b.name].shape[i]}, expected ${dimToString(d)} = ${want}`);
    });
  }
}

function paramValues(p: DimsOrTensor, vals: (id: number) => HostTensor): number[] {
  return Array.isArray(p) ? p : asInts(vals(p.tensor));
}

function runLayer(l: Layer, get: (id: number) => HostTensor): HostTensor[] {
  const x = () => get(l.inputs[0]);
  switch (l.kind) {
    case 'constant':
      return [{ dtype: l.weights.dtype, shape: [...l.weights.shape], data: l.weights.data }];
    case 'shape': {
      const s = x().shape;
      const out = tensor('int64', [s.length]);
      s.forEach((d, i) => ((out.data as BigInt64Array)[i] = BigInt(d)));
      return [out];
    }
    case 'shuffle': {
      let t = x();
      if (l.first) t = transpose(t, l.first);
      if (l.reshape !== undefined) {
        const dims = paramValues(l.reshape, get);
        t = { dtype: t.dtype, shape: reshapeTo(t.shape, dims, l.zeroIsPlaceholder, `shuffle '${l.name}'`), data: t.data };
      }
      if (l.second) t = transpose(t, l.second);
      return [t];
    }
    case 'concatenation':
      return [concatenation(l, l.inputs.map(get))];
    case 'gather':
      return [gather(l, get(l.inputs[0]), get(l.inputs[1]))];
    case 'slice':
      return [slice(l, x(), paramValues(l.start, get), paramValues(l.size, get), paramValues(l.stride, get))];
    case 'elementwise':
      return [elementwise(l.op, get(l.inputs[0]), get(l.inputs[1]), l.name)];
    case 'unary':
      return [unary(l.op, x())];
    case 'activation':
      return [activation(l, x())];
    case 'matmul':
      return [matmul(l, get(l.inputs[0]), get(l.inputs[1]))];
    case 'softmax':
      return [softmax(l.axis, x())];
    case 'topk':
      return topk(l, x());
    case 'reduce':
      return [reduce(l, x())];
    case 'select':
      return [select(get(l.inputs[0]), get(l.inputs[1]), get(l.inputs[2]))];
    case 'fill':
      return [fill(l, paramValues(l.dims, get))];
    case 'cumulative':
      return [cumulative(l, x())];
    case 'cast':
      return [cast(x(), l.dtype)];
    case 'scatter':
      return [scatter(l, get(l.inputs[0]), get(l.inputs[1]), get(l.inputs[2]))];
    case 'nonzero':
      return [nonzero(x())];
    case 'attention':
      return [attention(l, get(l.inputs[0]), get(l.inputs[1]), get(l.inputs[2]), l.inputs[3] !== undefined ? get(l.inputs[3]) : undefined)];
    case 'rotary_embedding':
      return [rotaryEmbedding(l, x(), get(l.inputs[1]), get(l.inputs[2]), l.inputs[3] !== undefined ? get(l.inputs[3]) : undefined)];
    case 'kv_cache_update':
      return [kvCacheUpdate(l, x(), get(l.inputs[1]), get(l.inputs[2]))];
    case 'rms_norm':
      return [rmsNorm(l, x(), l.inputs[1] !== undefined ? get(l.inputs[1]) : undefined)];
    case 'quantize':
      return [quantize(x(), get(l.inputs[1]), l.axis, l.dtype)];
    case 'dequantize':
      return [dequantize(x(), get(l.inputs[1]), l.axis, l.dtype)];
    case 'collective':
      throw new Error(`internal: collective '${l.name}' reached runLayer (graphSteps yields collectives to its driver)`);
    default:
      return assertNever(l);
  }
}

/** Last layer index that reads each tensor (graph outputs are kept). */
function lastUses(graph: Graph): Map<number, number> {
  const last = new Map<number, number>();
  graph.layers.forEach((l, i) => l.inputs.forEach((id) => last.set(id, i)));
  for (const o of graph.outputs) last.set(o.id, Infinity);
  return last;
}

const lastUseCache = new WeakMap<Graph, Map<number, number>>();

/** What graphSteps yields at a collective: the layer and this rank's input; it resumes with the layer's output. */
export interface CollectiveRequest {
  layer: CollectiveLayer;
  input: HostTensor;
}

/**
 * A collective met by the single-graph interpreter: one graph alone has no peers to exchange
 * with, so it names the simulator that runs every rank's graph together.
 */
export class CollectiveOutsideSimulatorError extends RedraftError {
  constructor(graph: Graph, layer: CollectiveLayer) {
    super(
      `graph '${graph.name}' holds the collective '${layer.name}' (${layer.op} over ranks [${layer.group.join(', ')}], this graph is rank ${layer.rank}): a single rank's graph cannot run alone${layer.site ? `\n  (layer built at ${layer.site})` : ''}`,
      { exitCode: 2, hint: 'run all the ranks together on the multi-rank simulator (builders/tp: runRanks, or `redraft run|generate --tp N`)' },
    );
  }
}

/** Runs `graph` on `inputs` (by input name); returns the outputs by name. A collective is refused (CollectiveOutsideSimulatorError). */
export function runGraph(graph: Graph, inputs: Record<string, HostTensor>, opts: { outputs?: string[] } = {}): Record<string, HostTensor> {
  const steps = graphSteps(graph, inputs, opts);
  const r = steps.next();
  if (!r.done) throw new CollectiveOutsideSimulatorError(graph, r.value.layer);
  return r.value;
}

/**
 * runGraph as a generator: runs layers until a collective, yields it with this graph's input
 * and resumes with the exchanged result (builders/tp runs N of these in lockstep); returns the
 * outputs by name.
 */
export function* graphSteps(graph: Graph, inputs: Record<string, HostTensor>, opts: { outputs?: string[] } = {}): Generator<CollectiveRequest, Record<string, HostTensor>, HostTensor> {
  checkInputs(graph, inputs);
  const values = new Map<number, HostTensor>();
  for (const b of graph.inputs) values.set(b.id, inputs[b.name]);
  let last = lastUseCache.get(graph);
  if (!last) lastUseCache.set(graph, (last = lastUses(graph)));
  const get = (id: number) => {
    const v = values.get(id);
    if (!v) throw new Error(`internal: tensor #${id} has no value`);
    return v;
  };
  for (let i = 0; i < graph.layers.length; i++) {
    const l = graph.layers[i];
    let outs: HostTensor[];
    if (l.kind === 'collective') outs = [yield { layer: l, input: get(l.inputs[0]) }];
    else {
      try {
        outs = runLayer(l, get);
      } catch (e) {
        if (e instanceof KernelError) throw new InterpError(l, e.message);
        throw e;
      }
    }
    l.outputs.forEach((id, k) => values.set(id, outs[k]));
    for (const id of l.inputs) if (last!.get(id) === i && !graph.inputs.some((b) => b.id === id)) values.delete(id);
  }
  const wanted = opts.outputs ?? graph.outputs.map((o) => o.name);
  const result: Record<string, HostTensor> = {};
  for (const name of wanted) {
    const b = graph.outputs.find((o) => o.name === name);
    if (!b) throw new UsageError(`graph '${graph.name}' has no output '${name}'`, `its outputs are: ${graph.outputs.map((o) => o.name).join(', ')}`);
    result[name] = get(b.id);
  }
  return result;
}

/**
 * The fix for a dim outside its range: the build flag that sets the range and the value it needs
 * (batch: --max-batch; the step graphs' seq/prompt/past: --max-seq; capacity is --max-seq plus
 * one call's writes, the difference of its max and the seq dim's), else a generic rebuild.
 */
function rangeFix(graph: Graph, name: string, got: number): string {
  const r = graph.symbols[name]!;
  if (got < r.min) return `pass an input whose '${name}' dim is ${r.min}..${r.max}`;
  if (name === 'batch') return `pass at most ${r.max} rows, or rebuild with --max-batch ${got} or more`;
  const seq = graph.symbols.prompt ?? graph.symbols.seq;
  if (['seq', 'prompt', 'past'].includes(name)) return `pass a smaller input, or rebuild with --max-seq ${got} or more`;
  if (name === 'capacity' && seq) return `pass caches of capacity ${r.max} or less, or rebuild with --max-seq ${got - (r.max - seq.max)} or more (capacity holds --max-seq + ${r.max - seq.max} slots)`;
  return `rebuild with a larger range for '${name}' or pass a smaller input`;
}
