/** The engine I/O table recorded in config.json: names, dtypes, shapes and dim ranges. */
import { dimToString } from '../dsl/dim.js';
import type { Graph } from '../dsl/ir.js';

export interface IoEntry {
  name: string;
  dtype: string;
  shape: string[];
  /** min/opt/max of each named dim in `shape`. */
  ranges: Record<string, { min: number; opt: number; max: number }>;
}

export function engineIoTable(g: Graph): { inputs: IoEntry[]; outputs: IoEntry[] } {
  const entry = (id: number, name: string): IoEntry => {
    const t = g.tensors[id];
    const ranges: IoEntry['ranges'] = {};
    for (const d of t.shape) if (typeof d !== 'number') for (const f of d.factors) if (g.symbols[f]) ranges[f] = g.symbols[f];
    return { name, dtype: t.dtype, shape: t.shape.map(dimToString), ranges };
  };
  return { inputs: g.inputs.map((b) => entry(b.id, b.name)), outputs: g.outputs.map((b) => entry(b.id, b.name)) };
}
