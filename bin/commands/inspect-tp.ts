/**
 * `redraft inspect --tp N [--rank R]`: what each rank holds and moves: its layers, its weight
 * bytes (its shards plus the replicated weights) and the bytes its collectives exchange per
 * step graph call, and the KV bytes its attention reads, at --batch and --seq (as inspect takes
 * them; default the dims' opt values); --format dot with --rank R draws rank R's graph. With
 * --engine DIR of a --tp build: its built ranks, from the model and settings it records.
 */
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import type { ModelFlags } from '../model.js';
import { loadRankGraphs, tpOf, tpReport, type TpFlags } from '../tp.js';
import { callDims, stepCost, toDot } from '../../builders/inspect.js';
import { inspectDims } from './inspect.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkEngineIo, type EngineDir } from '../../builders/engine-dir.js';

const human = (n: number | null) => (n === null ? 'unknown' : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

export async function inspectTp(opts: ModelFlags & TpFlags & { format: string; batch?: string; seq?: string }, out: Output, engines?: EngineDir[]): Promise<void> {
  const { size, rank } = tpOf(opts);
  if (opts.format === 'dot' && rank === undefined) throw new UsageError(`--format dot draws one graph; --tp ${size} has ${size} rank graphs`, `pass --rank R (0..${size - 1}) to draw rank R's graph`);
  const { ranks, layout, model } = await loadRankGraphs(opts, out);
  const g0 = ranks[0].graph;
  // --engine DIR of a --tp build (engines: its built ranks): each rank graph must still have its recorded I/O.
  for (const e of engines ?? []) checkEngineIo(e, ranks.find((r) => r.rank === e.rank!.rank)!.graph);
  if (opts.format === 'dot') return out.result({ dot: toDot(g0) }, toDot(g0));
  // --batch and --seq as inspect takes them (bin/commands/inspect.ts), within the rank graphs' profile.
  const dims = inspectDims(g0, opts);
  const at = callDims(g0, dims);
  const per = ranks.map(({ rank, graph }) => ({ rank, layers: graph.layers.length, ...tpReport(graph, at), kvReadBytes: stepCost(graph, dims).kvReadBytes }));
  const engine = engines?.[0] && { dir: engines[0].dir, target: engines[0].record.target, ranks: engines.map((e) => ({ rank: e.rank!.rank, file: path.basename(e.engineFile), bytes: fs.statSync(e.engineFile).size, contentHash: e.rank!.contentHash })), build: engines[0].record.build };
  const s = { ...(engine ? { engine } : {}), model: model.definition.name, graph: g0.name, tp: size, dims: at, notes: layout.notes, ranks: per, sliced: layout.ranks.map((l, r) => ({ rank: r, io: l.io })) };
  if (opts.format === 'json') return out.result(s, JSON.stringify(s, null, 2));
  const lines = [
    ...(engine ? [`engine ${engine.dir}: ${engine.target} build over --tp ${size}, ${engine.ranks.map((r) => `${r.file} ${r.bytes} B`).join(', ')}`, ''] : []),
    `${model.definition.name}: graph ${g0.name} over --tp ${size} ranks (per call at ${Object.entries(at).map(([k, v]) => `${k}=${v}`).join(', ')})`,
    ...layout.notes.map((n) => `  note: ${n}`),
    '',
    'rank  layers  weights      KV read      collectives per graph call (bytes: the sum over its calls)',
    ...per.map((p) => `${String(p.rank).padEnd(6)}${String(p.layers).padEnd(8)}${human(p.weightBytes).padEnd(13)}${human(p.kvReadBytes).padEnd(13)}${p.collectives.calls} calls, ${human(p.collectives.bytes)} in all (${Object.entries(p.collectives.byOp).map(([op, e]) => `${op}: ${e.calls} call${e.calls === 1 ? '' : 's'}, ${human(e.bytes)} in all`).join('; ')})`),
  ];
  out.result(s, lines.join('\n'));
}
