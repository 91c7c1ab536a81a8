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
  const dims: Record<string, number> = {};
  for (const [flag, v] of [['--batch', opts.batch], ['--seq', opts.seq]] as const) {
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    dims[flag.slice(2)] = n;
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
