/** The CLI's entry point for ONNX output (`redraft export`, `redraft build --target onnx`). */
import type { Graph } from '../../dsl/ir.js';
import { exportOnnx, type ExportOptions } from './export.js';
import { onnxFiles, type FileContent } from './write.js';

/**
 * Exports `graph` as the files `baseName` (+ `baseName.data` when the weights go external),
 * ready for writeFilesAtomic; the side file is a list of views of the weights.
 */
export function exportOnnxFiles(
  graph: Graph,
  baseName: string,
  onProgress?: (done: number, total: number) => void,
  opts: Omit<ExportOptions, 'onProgress' | 'externalDataPath'> = {},
): Record<string, FileContent> {
  const result = exportOnnx(graph, { ...opts, externalDataPath: `${baseName}.data`, onProgress });
  return onnxFiles(baseName, result);
}
