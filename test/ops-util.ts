/** Shared by the ops-* tests: build a graph, run it on the reference interpreter, read values. */
import { expect } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import type { DType } from '../dsl/dtype.js';
import { shapeToString } from '../dsl/dim.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { buildNetwork, type Network, type Tensor } from '../dsl/network.js';

export interface Result {
  dtype: DType;
  shape: number[];
  values: number[];
}

/**
 * Builds a network whose outputs are the returned tensors, and records their build-time shapes.
 * Every named input dim gets the range 1..64 so tests can run any small size.
 */
export function build(fn: (net: Network) => Record<string, Tensor>): { graph: Graph; shapes: Record<string, string> } {
  const shapes: Record<string, string> = {};
  const graph = buildNetwork('t', (net) => {
    for (const [k, t] of Object.entries(fn(net))) {
      shapes[k] = shapeToString(t.shape);
      net.markOutput(t, k);
    }
    for (const name of Object.keys(net.toGraph().symbols)) net.dimRange(name, { min: 1, opt: 4, max: 64 });
  });
  return { graph, shapes };
}

/** Runs a built graph and returns each output as numbers. */
export async function runBuilt(graph: Graph, inputs: Record<string, HostTensor> = {}): Promise<Record<string, Result>> {
  const res = runGraph(graph, inputs);
  const out: Record<string, Result> = {};
  for (const b of graph.outputs) {
    const t = res[b.name] as HostTensor | undefined;
    expect(t, `output '${b.name}'`).toBeDefined();
    out[b.name] = { dtype: t!.dtype, shape: [...t!.shape], values: toNumbers(t!) };
  }
  return out;
}

/** build + run in one step. */
export async function run(fn: (net: Network) => Record<string, Tensor>, inputs: Record<string, HostTensor> = {}): Promise<Record<string, Result>> {
  return runBuilt(build(fn).graph, inputs);
}

export const f32 = (shape: number[], values: number[]) => hostTensor('float32', shape, values);
export const i32 = (shape: number[], values: number[]) => hostTensor('int32', shape, values);
export const i64 = (shape: number[], values: number[]) => hostTensor('int64', shape, values);
export const bool = (shape: number[], values: number[]) => hostTensor('bool', shape, values);
/** 0, 1, ..., n-1 */
export const iota = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Expects `fn` to throw a DslError whose message matches each pattern and names `file` with a line. */
export function expectDslError(fn: () => unknown, file: string, ...patterns: RegExp[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an error').toBeInstanceOf(Error);
  const msg = (err as Error).message;
  expect((err as Error).name).toBe('DslError');
  for (const p of patterns) expect(msg).toMatch(p);
  expect(msg).toMatch(new RegExp(`at test/${file.replace(/\./g, '\\.')}:\\d+:\\d+`));
}
