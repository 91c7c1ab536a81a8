/**
 * What `redraft inspect` reports about a graph: layers by kind, parameters and bytes per
 * dtype, inputs/outputs with dim ranges, and FLOPs / activation memory for concrete dims.
 */
import { dtypeSize } from '../dsl/dtype.js';
import { dimToString, evalDim as evalDimWith } from '../dsl/dim.js';
import type { Dim } from '../dsl/dim.js';
import { engineIoTable } from './engine-io.js';

const evalDim = (d: Dim, env: Record<string, number>) => evalDimWith(d, (n) => env[n]);
import type { Graph, TensorInfo } from '../dsl/ir.js';

export interface GraphSummary {
  name: string;
  layers: number;
  layersByKind: Record<string, number>;
  parameters: { count: number; bytes: number; byDtype: Record<string, { count: number; bytes: number }> };
  inputs: { name: string; dtype: string; shape: (number | string)[]; ranges: Record<string, { min: number; opt: number; max: number }> }[];
  outputs: { name: string; dtype: string; shape: (number | string)[]; inPlaceOf?: string }[];
  estimate?: { dims: Record<string, number>; flops: number; activationBytes: number; weightBytes: number };
  /** Bytes one call moves against the floor (weights and KV read once); see stepCost. */
  cost?: StepCost;
}

/**
 * What one call of a graph moves, at concrete dims. A step of a decoder is bound by memory
 * traffic: it must read every weight and the KV cache once (the floor); everything else is
 * overhead:
 * - `kvReadBytes`: keys and values read by the attention layers (k and v at their dims: on the
 *   per-layer cache contract attention reads all `capacity` slots of the cache, masked by
 *   length), plus entries gathered from a cache (the engine's compaction of the chosen beam);
 * - `kvWriteBytes`: cache entries stored on the device: a concatenation feeding an attention's
 *   k/v writes its whole output (the old contract copied past + new every call), a
 *   kv_cache_update only its update rows (in place);
 * - `hostBytes`: the engine inputs and outputs that cross between host and device each call;
 *   an output computed in place of an input (Graph.aliases: the caches) stays on the device, so
 *   neither it nor its input counts;
 * - `movedBytes` = weights + KV read + KV written + host transfers; `ratio` = moved / floor.
 * Activations are reported beside it (estimate.activationBytes), not counted.
 */
export interface StepCost {
  dims: Record<string, number>;
  flops: number;
  weightBytes: number;
  kvReadBytes: number;
  kvWriteBytes: number;
  hostBytes: { inputs: number; outputs: number; total: number; largest: { name: string; bytes: number }[] };
  floorBytes: number;
  movedBytes: number;
  ratio: number;
}

function numel(t: TensorInfo, env: Record<string, number>): number {
  let n = 1;
  for (const d of t.shape) n *= evalDim(d, env) ?? 1;
  return n;
}

/** FLOPs of one run: matmuls count 2·M·N·K, everything else one op per output element. */
function estimate(g: Graph, env: Record<string, number>) {
  let flops = 0;
  let activationBytes = 0;
  let weightBytes = 0;
  for (const l of g.layers) {
    if (l.kind === 'constant') {
      // From the shape: reading `data` would load a lazy weight.
      weightBytes += l.weights.shape.reduce((a, b) => a * b, 1) * dtypeSize(l.weights.dtype);
      continue;
    }
    const out = g.tensors[l.outputs[0]];
    const n = numel(out, env);
    if (l.kind === 'matmul') {
      const a = g.tensors[l.inputs[0]];
      const k = evalDim(l.opA === 'transpose' ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1], env) ?? 1;
      flops += 2 * n * k;
    } else if (l.kind === 'attention') {
      // q·kᵀ and p·v (2 · 2·Sq·Skv·D per head) plus the softmax over the scores.
      const [q, k] = [g.tensors[l.inputs[0]], g.tensors[l.inputs[1]]];
      const dim = (t: TensorInfo, i: number) => evalDim(t.shape[i], env) ?? 1;
      const scores = dim(q, 0) * dim(q, 1) * dim(q, 2) * dim(k, 2);
      flops += 4 * scores * dim(q, 3) + 5 * scores;
    } else if (l.kind === 'softmax') flops += 5 * n;
    else if (l.kind === 'reduce') flops += numel(g.tensors[l.inputs[0]], env);
    else if (['elementwise', 'unary', 'activation', 'cumulative', 'select', 'rotary_embedding'].includes(l.kind)) flops += n;
    else if (l.kind === 'rms_norm') flops += 4 * n;
    for (const id of l.outputs) activationBytes += numel(g.tensors[id], env) * dtypeSize(g.tensors[id].dtype);
  }
  return { flops, activationBytes, weightBytes };
}

const bytesOf = (t: TensorInfo, env: Record<string, number>) => numel(t, env) * dtypeSize(t.dtype);

/**
 * The dims of a call at `dims`: a graph on the per-layer cache contract (a `capacity` dim) given
 * `past` (tokens already cached) gets the capacity the host loop would hold at that length:
 * past + this call's prompt slot + its draft slots (the beams input's W·L).
 */
export function callDims(g: Graph, dims: Record<string, number>): Record<string, number> {
  const env = { ...Object.fromEntries(Object.entries(g.symbols).map(([k, r]) => [k, r.opt])), ...dims };
  if (g.symbols.capacity && dims.capacity === undefined && dims.past !== undefined) {
    const beams = g.inputs.find((b) => b.name === 'beams');
    const draft = beams ? g.tensors[beams.id]!.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1) : 0;
    env.capacity = dims.past + (env.prompt ?? env.seq ?? 1) + draft;
  }
  return env;
}

/** The step cost of `g` at `env` (every named dim bound; `past` stands for a capacity, see callDims); see StepCost. */
export function stepCost(g: Graph, dims: Record<string, number>): StepCost {
  const env = callDims(g, dims);
  const est = estimate(g, env);
  const producer = new Map<number, Graph['layers'][number]>();
  for (const l of g.layers) for (const o of l.outputs) producer.set(o, l);
  let kvReadBytes = 0;
  let kvWriteBytes = 0;
  const written = new Set<number>();
  for (const l of g.layers) {
    if (l.kind === 'kv_cache_update') {
      kvWriteBytes += bytesOf(g.tensors[l.inputs[1]!]!, env);
      written.add(l.outputs[0]!);
    }
    // The compaction reads the chosen entries back from the updated cache.
    if (l.kind === 'gather' && producer.get(l.inputs[0]!)?.kind === 'kv_cache_update') kvReadBytes += bytesOf(g.tensors[l.outputs[0]!]!, env);
  }
  for (const l of g.layers) {
    if (l.kind !== 'attention') continue;
    for (const id of [l.inputs[1], l.inputs[2]]) {
      kvReadBytes += bytesOf(g.tensors[id], env);
      // Through layout-only layers (shuffle, cast) to what stored the entries.
      let p = producer.get(id);
      while (p && (p.kind === 'shuffle' || p.kind === 'cast')) p = producer.get(p.inputs[0]);
      if (!p || written.has(p.outputs[0])) continue;
      written.add(p.outputs[0]);
      if (p.kind === 'concatenation') kvWriteBytes += bytesOf(g.tensors[p.outputs[0]], env);
    }
  }
  // In-place outputs and their inputs stay on the device.
  const onDevice = new Set([...Object.keys(g.aliases ?? {}), ...Object.values(g.aliases ?? {})]);
  const io = [...g.inputs.map((b) => ({ b, dir: 'in' as const })), ...g.outputs.map((b) => ({ b, dir: 'out' as const }))]
    .filter(({ b }) => !onDevice.has(b.name))
    .map(({ b, dir }) => ({ name: b.name, dir, bytes: bytesOf(g.tensors[b.id], env) }));
  const inputs = io.filter((x) => x.dir === 'in').reduce((a, x) => a + x.bytes, 0);
  const outputs = io.filter((x) => x.dir === 'out').reduce((a, x) => a + x.bytes, 0);
  const largest = [...io].sort((a, b) => b.bytes - a.bytes).slice(0, 4).map(({ name, bytes }) => ({ name, bytes }));
  const floorBytes = est.weightBytes + kvReadBytes;
  const movedBytes = est.weightBytes + kvReadBytes + kvWriteBytes + inputs + outputs;
  return {
    dims: env,
    flops: est.flops,
    weightBytes: est.weightBytes,
    kvReadBytes,
    kvWriteBytes,
    hostBytes: { inputs, outputs, total: inputs + outputs, largest },
    floorBytes,
    movedBytes,
    ratio: floorBytes ? movedBytes / floorBytes : 1,
  };
}

export function summarize(g: Graph, dims?: Record<string, number>): GraphSummary {
  const layersByKind: Record<string, number> = {};
  const byDtype: Record<string, { count: number; bytes: number }> = {};
  let count = 0;
  let bytes = 0;
  for (const l of g.layers) {
    layersByKind[l.kind] = (layersByKind[l.kind] ?? 0) + 1;
    if (l.kind === 'constant') {
      const n = l.weights.shape.reduce((a, b) => a * b, 1);
      const b = l.weights.data.byteLength;
      const e = (byDtype[l.weights.dtype] ??= { count: 0, bytes: 0 });
      e.count += n;
      e.bytes += b;
      count += n;
      bytes += b;
    }
  }
  const summary: GraphSummary = {
    name: g.name,
    layers: g.layers.length,
    layersByKind: Object.fromEntries(Object.entries(layersByKind).sort(([a], [b]) => a.localeCompare(b))),
    parameters: { count, bytes, byDtype },
    inputs: engineIoTable(g).inputs,
    outputs: engineIoTable(g).outputs.map(({ name, dtype, shape, inPlaceOf }) => ({ name, dtype, shape, ...(inPlaceOf ? { inPlaceOf } : {}) })),
  };
  if (dims) {
    const env = callDims(g, dims);
    summary.estimate = { dims: env, ...estimate(g, env) };
    summary.cost = stepCost(g, env);
  }
  return summary;
}

function human(n: number, unit = ''): string {
  const u = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i ? 2 : 0)}${u[i]}${unit}`;
}

/** A plain-text table for terminals. */
export function formatSummary(s: GraphSummary): string {
  const lines = [`graph ${s.name}: ${s.layers} layers, ${human(s.parameters.count)} parameters (${human(s.parameters.bytes, 'B')})`, '', 'layers by kind:'];
  for (const [k, n] of Object.entries(s.layersByKind)) lines.push(`  ${k.padEnd(14)} ${String(n).padStart(6)}`);
  lines.push('', 'parameters by dtype:');
  for (const [k, v] of Object.entries(s.parameters.byDtype)) lines.push(`  ${k.padEnd(14)} ${human(v.count).padStart(8)}  ${human(v.bytes, 'B').padStart(9)}`);
  lines.push('', 'inputs:');
  for (const i of s.inputs) {
    const r = Object.entries(i.ranges).map(([k, v]) => `${k}∈[${v.min},${v.opt},${v.max}]`).join(' ');
    lines.push(`  ${i.name.padEnd(24)} ${i.dtype.padEnd(8)} [${i.shape.join(', ')}] ${r}`);
  }
  lines.push('', 'outputs:');
  for (const o of s.outputs) lines.push(`  ${o.name.padEnd(24)} ${o.dtype.padEnd(8)} [${o.shape.join(', ')}]${o.inPlaceOf ? ` in place of ${o.inPlaceOf}` : ''}`);
  if (s.estimate) {
    const d = Object.entries(s.estimate.dims).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push('', `per step at ${d}: ${human(s.estimate.flops, 'FLOP')}, activations ${human(s.estimate.activationBytes, 'B')}, weights ${human(s.estimate.weightBytes, 'B')}`);
  }
  if (s.cost) {
    const c = s.cost;
    lines.push(
      `cost model (bytes one call moves; floor = weights + KV read once${s.cost.dims.capacity !== undefined ? `; attention reads all ${s.cost.dims.capacity} cache slots (capacity)` : ''}):`,
      `  weights read        ${human(c.weightBytes, 'B').padStart(9)}`,
      `  KV read             ${human(c.kvReadBytes, 'B').padStart(9)}`,
      `  KV written          ${human(c.kvWriteBytes, 'B').padStart(9)}`,
      `  host <-> device     ${human(c.hostBytes.total, 'B').padStart(9)}  (in ${human(c.hostBytes.inputs, 'B')}, out ${human(c.hostBytes.outputs, 'B')}; largest ${c.hostBytes.largest.map((x) => `${x.name} ${human(x.bytes, 'B')}`).join(', ')})`,
      `  moved / floor       ${human(c.movedBytes, 'B').padStart(9)} / ${human(c.floorBytes, 'B')} = ${c.ratio.toFixed(3)}x`,
    );
  }
  return lines.join('\n');
}

/** Graphviz: one node per layer, edges labelled with the tensor's dtype and shape. */
export function toDot(g: Graph): string {
  const producer = new Map<number, string>();
  const out = [`digraph "${g.name}" {`, '  rankdir=TB; node [shape=box, fontname="monospace", fontsize=10];'];
  g.inputs.forEach((b, i) => {
    out.push(`  in${i} [label="${b.name}", shape=ellipse];`);
    producer.set(b.id, `in${i}`);
  });
  g.layers.forEach((l, i) => {
    out.push(`  l${i} [label="${l.name}\\n${l.kind}${'op' in l ? ` ${String((l as { op: string }).op)}` : ''}"];`);
    for (const id of l.inputs) {
      const t = g.tensors[id];
      const p = producer.get(id);
      if (p) out.push(`  ${p} -> l${i} [label="${t.dtype}[${t.shape.map(dimToString).join(',')}]"];`);
    }
    for (const id of l.outputs) producer.set(id, `l${i}`);
  });
  g.outputs.forEach((b, i) => {
    out.push(`  out${i} [label="${b.name}", shape=ellipse];`);
    out.push(`  ${producer.get(b.id)} -> out${i};`);
  });
  out.push('}');
  return out.join('\n') + '\n';
}
