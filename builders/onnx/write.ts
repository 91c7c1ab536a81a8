/** Writing an exported model: the model file and its side file, together and atomically. */
import * as fs from 'node:fs';
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

/** Writes the side file to `fd` one tensor at a time (lazy weights are read, written, dropped). */
export function writeExternalData(x: ExternalData, fd: number): void {
  let pos = 0;
  for (const t of x.tensors) {
    if (t.offset < pos) throw new Error(`internal: external tensor '${t.name}' overlaps the previous one`);
    if (t.offset > pos) fs.writeSync(fd, new Uint8Array(t.offset - pos));
    const data = t.data;
    let done = 0;
    while (done < data.byteLength) done += fs.writeSync(fd, data, done, data.byteLength - done);
    pos = t.offset + data.byteLength;
  }
  if (pos !== x.byteLength) throw new Error(`internal: external data is ${pos} bytes, expected ${x.byteLength}`);
}

export type FileContent = Uint8Array | readonly Uint8Array[] | ((fd: number) => void);

/** The files of an export, by name: `baseName` and, with external data, its side file (streamed). */
export function onnxFiles(baseName: string, result: OnnxExport): Record<string, FileContent> {
  const files: Record<string, FileContent> = { [baseName]: result.model };
  const x = result.externalData;
  if (x) {
    if (x.fileName === baseName) throw new Error(`internal: the side file has the model's own name '${baseName}'`);
    files[x.fileName] = (fd: number) => writeExternalData(x, fd);
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
