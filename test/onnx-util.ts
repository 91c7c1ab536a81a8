/** Shared by the onnx*.test.ts files: export a graph, run it in ONNX Runtime and on the interpreter, compare. */
import { expect } from 'vitest';
import { mulberry32 } from '../dsl/random.js';
import { runGraph } from '../builders/interp/index.js';
import { runGraphOnnx, sessionForGraph } from '../builders/onnx/env.js';
import type { ExportOptions } from '../builders/onnx/export.js';
import { isFloat } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { Network, type Tensor } from '../dsl/network.js';

export { hostTensor, toNumbers };

export const ORT_OPTS = { intraOpThreads: 1 } as const;

/** Runs the graph in ONNX Runtime (bfloat16 inputs/outputs carried as float32, as onnxEnv does). */
export async function ort(graph: Graph, inputs: Record<string, HostTensor>, opts: Omit<ExportOptions, 'bfloat16Io'> = {}): Promise<Record<string, HostTensor>> {
  const s = await sessionForGraph(graph, ORT_OPTS, opts);
  try {
    return await runGraphOnnx(s, graph, inputs);
  } finally {
    await s.release();
  }
}

export interface Tol {
  atol?: number;
  rtol?: number;
}

/** Same dtype and shape; integers and bools exactly, floats within tolerance (NaN matches NaN). */
export function expectClose(got: HostTensor, want: HostTensor, what: string, tol: Tol = {}): void {
  expect(got.dtype, `${what} dtype`).toBe(want.dtype);
  expect(got.shape, `${what} shape`).toEqual(want.shape);
  const g = toNumbers(got);
  const w = toNumbers(want);
  if (!isFloat(want.dtype)) {
    if (want.dtype === 'int64') expect(Array.from(got.data as BigInt64Array), `${what} values`).toEqual(Array.from(want.data as BigInt64Array));
    else expect(g, `${what} values`).toEqual(w);
    return;
  }
  const atol = tol.atol ?? (want.dtype === 'float32' ? 1e-5 : want.dtype === 'float16' ? 1e-3 : 1e-2);
  const rtol = tol.rtol ?? (want.dtype === 'float32' ? 1e-5 : want.dtype === 'float16' ? 2e-3 : 1e-2);
  for (let i = 0; i < w.length; i++) {
    const [a, b] = [g[i], w[i]];
    if (Number.isNaN(b) || Number.isNaN(a)) {
      expect(Number.isNaN(a) && Number.isNaN(b), `${what}[${i}]: got ${a}, want ${b}`).toBe(true);
      continue;
    }
    if (a === b) continue;
    const ok = Math.abs(a - b) <= atol + rtol * Math.abs(b);
    if (!ok) expect.fail(`${what}[${i}]: got ${a}, want ${b} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Interpreter vs ONNX Runtime on every output; returns the ORT outputs. */
export async function agree(graph: Graph, inputs: Record<string, HostTensor>, tol: Tol = {}, opts: ExportOptions = {}): Promise<Record<string, HostTensor>> {
  const want = runGraph(graph, inputs);
  const got = await ort(graph, inputs, opts);
  for (const b of graph.outputs) expectClose(got[b.name], want[b.name], `${graph.name}:${b.name}`, tol);
  return got;
}

/** A network with the given inputs, built by fn, outputs marked as returned. */
export function net1(name: string, inputs: [string, HostTensor['dtype'], (number | string)[]][], fn: (net: Network, ins: Tensor[]) => Record<string, Tensor>): Graph {
  const net = new Network(name);
  const ins = inputs.map(([n, d, s]) => net.input(n, d, s));
  for (const [k, t] of Object.entries(fn(net, ins))) net.markOutput(t, k);
  return net.toGraph();
}

/** Deterministic pseudo-random numbers (mulberry32). */
export const rng = mulberry32;
export function randn(dtype: HostTensor['dtype'], shape: number[], seed = 1, scale = 2): HostTensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return hostTensor(dtype, shape, Array.from({ length: n }, () => (isFloat(dtype) ? (r() * 2 - 1) * scale : dtype === 'bool' ? +(r() < 0.5) : Math.floor((r() * 2 - 1) * scale * 4))));
}
