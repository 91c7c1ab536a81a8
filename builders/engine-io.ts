/** The engine I/O table recorded in config.json: names, dtypes, shapes and dim ranges. */
import { dimToString, type Dim } from '../dsl/dim.js';
import type { Graph } from '../dsl/ir.js';

export interface IoEntry {
  name: string;
  dtype: string;
  /** Fixed dims as numbers, run-time dims by name (`batch`, `past + prompt`). */
  shape: (number | string)[];
  /** min/opt/max of each named dim in `shape`. */
  ranges: Record<string, { min: number; opt: number; max: number }>;
  /** Outputs only: the input this output is computed in place of (same buffer on TensorRT; fed back as it). */
  inPlaceOf?: string;
}

/** A dim for JSON: a number when it is one, else its name. */
function dimValue(d: Dim): number | string {
  const s = dimToString(d);
  return /^\d+$/.test(s) ? Number(s) : s;
}

export function engineIoTable(g: Graph): { inputs: IoEntry[]; outputs: IoEntry[] } {
  const entry = (id: number, name: string): IoEntry => {
    const t = g.tensors[id];
    const ranges: IoEntry['ranges'] = {};
    for (const d of t.shape) if (typeof d !== 'number') for (const f of d.factors) if (g.symbols[f]) ranges[f] = g.symbols[f];
    return { name, dtype: t.dtype, shape: t.shape.map(dimValue), ranges };
  };
  const outputs = g.outputs.map((b) => {
    const e = entry(b.id, b.name);
    const of = g.aliases?.[b.name];
    return of ? { ...e, inPlaceOf: of } : e;
  });
  return { inputs: g.inputs.map((b) => entry(b.id, b.name)), outputs };
}
