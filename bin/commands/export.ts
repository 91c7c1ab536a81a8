/** `redraft export`: the model graph as ONNX, or as redraft's own graph file. */
import * as path from 'node:path';
import { serializeGraph } from '../../dsl/serialize.js';
import { ensureWritableFile, writeFilesAtomic, yieldToSignals } from '../../builders/atomic.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';
import type { TpFlags } from '../tp.js';

export async function exportCmd(flags: ModelFlags & TpFlags & { format: string; out: string }, out: Output): Promise<void> {
  // --tp: --out is a directory of rank<R>.onnx / rank<R>.graph files and config.json.
  if (flags.tp !== undefined || flags.rank !== undefined) return (await import('./export-tp.js')).exportTp(flags, out);
  ensureWritableFile(flags.out);
  const { graph } = await loadGraph(flags, out);
  const dir = path.dirname(path.resolve(flags.out));
  const base = path.basename(flags.out);
  let files: Record<string, Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void)>;
  if (flags.format === 'graph') files = { [base]: serializeGraph(graph) };
  else {
    const { exportOnnxFiles } = await import('../../builders/onnx/files.js');
    files = exportOnnxFiles(graph, base, (done, total) => out.progress('export', done, total));
  }
  await yieldToSignals(); // an interrupt during the export wins over committing its files
  writeFilesAtomic(dir, files);
  const written = Object.keys(files).map((f) => path.join(dir, f));
  out.result({ status: 'exported', format: flags.format, files: written, layers: graph.layers.length }, `exported ${flags.format}: ${written.join(', ')}`);
}
