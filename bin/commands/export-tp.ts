/**
 * `redraft export --tp N [--rank R] --out DIR`: each rank's graph as DIR/rank<R>.onnx (its
 * collectives as com.redraft nodes) or DIR/rank<R>.graph, plus DIR/config.json with the mapping.
 * A rank exported alone is byte-identical to the same rank of an all-ranks export.
 */
import * as path from 'node:path';
import { UsageError } from '../../dsl/errors.js';
import { ensureWritableDir, writeFilesAtomic, yieldToSignals } from '../../builders/atomic.js';
import { engineIoTable } from '../../builders/engine-io.js';
import { rankFile } from '../../builders/tp/layout.js';
import { serializeGraph } from '../../dsl/serialize.js';
import type { Output } from '../output.js';
import { VERSION } from '../cli.js';
import type { ModelFlags } from '../model.js';
import { loadRankGraphs, tpOf, tpReport, type TpFlags } from '../tp.js';
import { canonicalPretty } from './build.js';

type FileContent = Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void);

export async function exportTp(flags: ModelFlags & TpFlags & { format: string; out: string }, out: Output): Promise<void> {
  const { size } = tpOf(flags);
  // With --tp, --out is a directory: a file name there would become a folder named like a file.
  if (/\.(onnx|graph)$/i.test(flags.out))
    throw new UsageError(`--out '${flags.out}' names a file, but export --tp writes a directory (rank<R>.${flags.format === 'graph' ? 'graph' : 'onnx'} per rank and config.json)`, `pass a directory, e.g. --out ${path.join(path.dirname(flags.out), path.basename(flags.out).replace(/\.(onnx|graph)$/i, ''))}`);
  ensureWritableDir(flags.out);
  const { ranks, layout, model } = await loadRankGraphs(flags, out, { lazyWeights: flags.format === 'onnx' });
  const files: Record<string, FileContent> = {};
  const perRank: Record<number, string[]> = {};
  for (const { rank, graph } of ranks) {
    const before = new Set(Object.keys(files));
    if (flags.format === 'graph') files[rankFile(rank, 'graph')] = serializeGraph(graph);
    else {
      const { exportOnnxFiles } = await import('../../builders/onnx/files.js');
      Object.assign(files, exportOnnxFiles(graph, rankFile(rank, 'onnx'), (done, total) => out.progress(`export rank ${rank}`, done, total)));
    }
    perRank[rank] = Object.keys(files).filter((f) => !before.has(f)).sort();
  }
  const names = Object.keys(files).sort();
  files['config.json'] = canonicalPretty({
    redraft: { version: VERSION },
    export: { format: flags.format, onnxDomain: flags.format === 'onnx' ? 'com.redraft' : undefined },
    files: names,
    model: { name: model.definition.name, source: model.source, drafter: model.drafterSource },
    tensorParallel: {
      size,
      built: ranks.map((r) => r.rank),
      notes: layout.notes,
      ranks: layout.ranks.map((l, r) => {
        const g = ranks.find((x) => x.rank === r)?.graph;
        return { rank: r, sliced: l.io, ...(g ? { files: perRank[r], io: engineIoTable(g), ...tpReport(g) } : {}) };
      }),
    },
  });
  await yieldToSignals();
  writeFilesAtomic(flags.out, files);
  const written = [...names, 'config.json'].map((f) => path.join(flags.out, f));
  out.result({ status: 'exported', format: flags.format, tp: size, files: written, layers: ranks.map((r) => r.graph.layers.length) }, `exported ${flags.format}, --tp ${size}: ${written.join(', ')}`);
}
