/**
 * The rank graphs of a tensor-parallel build run as one graph on the multi-rank simulator: the
 * full inputs are cut into each rank's slices (TpLayout), the ranks run in lockstep, and the
 * outputs are put back together (a sliced output from the ranks that hold each entry, a
 * replicated one from rank 0 after checking every rank computed the same bytes). The host loop
 * (builders/generate) drives it like any other backend.
 */
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { concatAxis, sliceAxis } from './host-slices.js';
import type { TpLayout } from './layout.js';
import { CollectiveMismatchError, runRanks, type CollectiveStats } from './sim.js';

/** A tensor-parallel build: graph r is communicator rank r's. */
export interface TpBundle {
  graphs: Graph[];
  layout: TpLayout;
}

const bytesEqual = (a: HostTensor, b: HostTensor) => {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** Runs the bundle on full (one-device) inputs; returns full outputs and each rank's collective traffic. */
export function runTp(bundle: TpBundle, inputs: Record<string, HostTensor>): { outputs: Record<string, HostTensor>; stats: CollectiveStats[] } {
  const { graphs, layout } = bundle;
  const perRank = graphs.map((g, r) => {
    const io = layout.ranks[r].io;
    const ins: Record<string, HostTensor> = {};
    for (const b of g.inputs) {
      const t = inputs[b.name];
      const s = io[b.name];
      ins[b.name] = t && s ? sliceAxis(t, s.axis, s.start, s.end) : t;
    }
    return { graph: g, inputs: ins };
  });
  const { outputs, stats } = runRanks(perRank);
  const names = [...new Set(graphs.flatMap((g) => g.outputs.map((o) => o.name)))];
  const full: Record<string, HostTensor> = {};
  for (const name of names) {
    const holders = graphs.map((_, r) => r).filter((r) => outputs[r][name]);
    const spec = layout.ranks[holders[0]].io[name];
    if (!spec) {
      for (const r of holders.slice(1))
        if (!bytesEqual(outputs[r][name], outputs[holders[0]][name]))
          throw new CollectiveMismatchError(`output '${name}' is replicated but rank ${r} computed other values than rank ${holders[0]}`);
      full[name] = outputs[holders[0]][name];
      continue;
    }
    // Each entry of the full dim from the first rank that holds it.
    const parts: HostTensor[] = [];
    let next = 0;
    for (const r of holders) {
      const s = layout.ranks[r].io[name];
      if (s.end <= next) continue;
      if (s.start > next) throw new Error(`internal: output '${name}': no rank holds entries ${next}..${s.start - 1} of dim ${s.axis}`);
      parts.push(sliceAxis(outputs[r][name], s.axis, next - s.start, s.end - s.start));
      next = s.end;
    }
    if (next !== spec.full) throw new Error(`internal: output '${name}': the ranks hold entries up to ${next} of ${spec.full}`);
    full[name] = parts.length === 1 ? parts[0] : concatAxis(parts, spec.axis);
  }
  return { outputs: full, stats };
}

/**
 * A graph runner (models/env's GraphRunner shape) that runs a bundle whenever it is handed the
 * bundle's rank-0 graph, and `fallback` for any other graph.
 */
export function tpGraphRunner(
  bundles: readonly TpBundle[],
  fallback: (graph: Graph, inputs: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>,
  onStats?: (stats: CollectiveStats[]) => void,
): (graph: Graph, inputs: Record<string, HostTensor>) => Promise<Record<string, HostTensor>> {
  const byGraph = new Map(bundles.map((b) => [b.graphs[0], b]));
  return async (graph, inputs) => {
    const b = byGraph.get(graph);
    if (!b) return fallback(graph, inputs);
    const r = runTp(b, inputs);
    onStats?.(r.stats);
    return r.outputs;
  };
}
