/** Writing an exported model: the model file and its side file, together and atomically. */
import * as path from 'node:path';
import { writeFilesAtomic } from '../atomic.js';
import type { ExternalData, OnnxExport } from './export.js';

/** The side file as chunks in file order: views of the weights and zero padding between them (no concatenation). */
export function externalDataChunks(x: ExternalData): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let pos = 0;
  for (const t of x.tensors) {
    if (t.offset < pos) throw new Error(`internal: external tensor '${t.name}' overlaps the previous one`);
    if (t.offset > pos) chunks.push(new Uint8Array(t.offset - pos));
    chunks.push(t.data);
    pos = t.offset + t.data.byteLength;
  }
  if (pos !== x.byteLength) throw new Error(`internal: external data is ${pos} bytes, expected ${x.byteLength}`);
  return chunks;
}

/** The files of an export, by name: `baseName` and, with external data, its side file. */
export function onnxFiles(baseName: string, result: OnnxExport): Record<string, Uint8Array | readonly Uint8Array[]> {
  const files: Record<string, Uint8Array | readonly Uint8Array[]> = { [baseName]: result.model };
  if (result.externalData) {
    if (result.externalData.fileName === baseName) throw new Error(`internal: the side file has the model's own name '${baseName}'`);
    files[result.externalData.fileName] = externalDataChunks(result.externalData);
  }
  return files;
}

/**
 * Writes the model as `dir/baseName` (and its side file beside it): every file goes to a
 * temporary name first and is renamed into place only when all are written. Returns the paths.
 */
export function writeOnnx(dir: string, baseName: string, result: OnnxExport): string[] {
  const files = onnxFiles(baseName, result);
  writeFilesAtomic(dir, files);
  return Object.keys(files).map((f) => path.join(dir, f));
}
