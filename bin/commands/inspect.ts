/** `redraft inspect`: what a graph holds and costs. */
import * as fs from 'node:fs';
import { deserializeGraph } from '../../dsl/serialize.js';
import { formatSummary, summarize, toDot } from '../../builders/inspect.js';
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';

export async function inspect(opts: ModelFlags & { format: string; batch?: string; seq?: string; graph?: string }, out: Output): Promise<void> {
  const graph = opts.graph ? deserializeGraph(readFile(opts.graph), opts.graph) : (await loadGraph(opts, out)).graph;
  if (opts.format === 'dot') return out.result({ dot: toDot(graph) }, toDot(graph));
  // --batch sets the batch dim; --seq the sequence held so far (`seq`, or the step graph's `past`).
  const dims: Record<string, number> = {};
  const targets = { '--batch': ['batch'], '--seq': ['seq', 'past'] } as const;
  for (const [flag, v] of [['--batch', opts.batch], ['--seq', opts.seq]] as const) {
    if (v === undefined) continue;
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    const names = targets[flag].filter((d) => graph.symbols[d]);
    if (!names.length) throw new UsageError(`${flag}: graph '${graph.name}' has no ${targets[flag].join(' or ')} dim (its dims: ${Object.keys(graph.symbols).join(', ') || 'none'})`);
    for (const d of names) {
      const r = graph.symbols[d]!;
      if (n < r.min || n > r.max) throw new UsageError(`${flag} ${n} is outside the range of dim '${d}' [${r.min}, ${r.max}] the graph was built for`, flag === '--batch' ? 'rebuild with a larger --max-batch' : 'rebuild with a larger --max-seq');
      dims[d] = n;
    }
  }
  const s = summarize(graph, dims);
  if (opts.format === 'json') return out.result(s, JSON.stringify(s, null, 2));
  out.result(s, formatSummary(s));
}

export function readFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path');
  }
}
