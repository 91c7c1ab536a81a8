/** The golden-case program interface (matches builders/conformance/types.ts structurally). */
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { buildNetwork, type Network, type Tensor } from '../../dsl/network.js';
import type { LoadedModel } from '../env.js';

export interface GoldenCaseLike {
  name: string;
  fn: string;
  attrs: Record<string, unknown>;
  inputs: Record<string, HostTensor>;
  models: Record<string, string>;
}

export interface GoldenEnv {
  run(graph: Graph, inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
  loadModel(dir: string): LoadedModel;
  /** The host-side generation loop (builders/generate), injected by the caller. */
  generate?: unknown;
}

export type GoldenProgram = (c: GoldenCaseLike, env: GoldenEnv) => Promise<Record<string, HostTensor>>;

/**
 * Builds a graph whose inputs are the case's inputs (same names, dtypes and static shapes),
 * runs it, and returns the named outputs.
 */
export async function runOnCase(
  c: GoldenCaseLike,
  env: GoldenEnv,
  body: (inputs: Record<string, Tensor>, net: Network) => Record<string, Tensor>,
): Promise<Record<string, HostTensor>> {
  const graph = buildNetwork(c.fn, (net) => {
    const ins: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(c.inputs)) ins[name] = net.input(name, t.dtype, t.shape);
    for (const [name, t] of Object.entries(body(ins, net))) net.markOutput(t, name);
  });
  return env.run(graph, c.inputs);
}

export function attrNumber(c: GoldenCaseLike, key: string, fallback?: number): number {
  const v = c.attrs[key] ?? fallback;
  if (typeof v !== 'number') throw new Error(`case ${c.name}: attrs.${key} must be a number`);
  return v;
}
