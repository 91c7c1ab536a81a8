/**
 * `redraft inspect --tp N [--rank R]`: what each rank holds and moves: its layers, its weight
 * bytes (its shards plus the replicated weights) and the bytes its collectives exchange per
 * step graph call, at --batch (default the batch dim's opt value) and the other dims' opt values.
 */
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import type { ModelFlags } from '../model.js';
import { loadRankGraphs, tpOf, tpReport, type TpFlags } from '../tp.js';

const human = (n: number | null) => (n === null ? 'unknown' : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

export async function inspectTp(opts: ModelFlags & TpFlags & { format: string; batch?: string }, out: Output): Promise<void> {
  const { size } = tpOf(opts);
  const { ranks, layout, model } = await loadRankGraphs(opts, out);
  const dims: Record<string, number> = {};
  if (opts.batch !== undefined) {
    if (!/^\d+$/.test(opts.batch) || Number(opts.batch) < 1) throw new UsageError(`--batch must be a positive integer, got ${JSON.stringify(opts.batch)}`);
    dims.batch = Number(opts.batch);
  }
  const g0 = ranks[0].graph;
  const at = Object.fromEntries(Object.entries(g0.symbols).map(([k, r]) => [k, dims[k] ?? r.opt]));
  const per = ranks.map(({ rank, graph }) => ({ rank, layers: graph.layers.length, ...tpReport(graph, dims) }));
  const s = { model: model.definition.name, graph: g0.name, tp: size, dims: at, notes: layout.notes, ranks: per, sliced: layout.ranks.map((l, r) => ({ rank: r, io: l.io })) };
  if (opts.format === 'json') return out.result(s, JSON.stringify(s, null, 2));
  const lines = [
    `${model.definition.name}: graph ${g0.name} over --tp ${size} ranks (per call at ${Object.entries(at).map(([k, v]) => `${k}=${v}`).join(', ')})`,
    ...layout.notes.map((n) => `  note: ${n}`),
    '',
    'rank  layers  weights      collectives per call',
    ...per.map((p) => `${String(p.rank).padEnd(6)}${String(p.layers).padEnd(8)}${human(p.weightBytes).padEnd(13)}${p.collectives.calls} calls, ${human(p.collectives.bytes)} (${Object.entries(p.collectives.byOp).map(([op, e]) => `${op} ${e.calls}× ${human(e.bytes)}`).join(', ')})`),
  ];
  out.result(s, lines.join('\n'));
}
