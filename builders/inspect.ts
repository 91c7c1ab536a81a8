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
  outputs: { name: string; dtype: string; shape: (number | string)[] }[];
  estimate?: { dims: Record<string, number>; flops: number; activationBytes: number; weightBytes: number };
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
      weightBytes += l.weights.data.byteLength;
      continue;
    }
    const out = g.tensors[l.outputs[0]];
    const n = numel(out, env);
    if (l.kind === 'matmul') {
      const a = g.tensors[l.inputs[0]];
      const k = evalDim(l.opA === 'transpose' ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1], env) ?? 1;
      flops += 2 * n * k;
    } else if (l.kind === 'softmax') flops += 5 * n;
    else if (l.kind === 'reduce') flops += numel(g.tensors[l.inputs[0]], env);
    else if (['elementwise', 'unary', 'activation', 'cumulative', 'select'].includes(l.kind)) flops += n;
    for (const id of l.outputs) activationBytes += numel(g.tensors[id], env) * dtypeSize(g.tensors[id].dtype);
  }
  return { flops, activationBytes, weightBytes };
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
    outputs: engineIoTable(g).outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
  };
  if (dims) {
    const env = { ...Object.fromEntries(Object.entries(g.symbols).map(([k, r]) => [k, r.opt])), ...dims };
    summary.estimate = { dims: env, ...estimate(g, env) };
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
  for (const o of s.outputs) lines.push(`  ${o.name.padEnd(24)} ${o.dtype.padEnd(8)} [${o.shape.join(', ')}]`);
  if (s.estimate) {
    const d = Object.entries(s.estimate.dims).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push('', `per step at ${d}: ${human(s.estimate.flops, 'FLOP')}, activations ${human(s.estimate.activationBytes, 'B')}, weights ${human(s.estimate.weightBytes, 'B')}`);
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
