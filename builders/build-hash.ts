/**
 * The content hash of a build: the graph's structure and every weight's bytes (streamed one
 * weight at a time), the build config and redraft's version. `redraft build` records it in
 * config.json and skips rebuilding when it matches; `--engine DIR` recomputes it from the recorded
 * model so an engine whose checkpoint or config changed since is refused, not run.
 */
import { serializeGraph } from '../dsl/serialize.js';
import type { Graph } from '../dsl/ir.js';
import { contentHash, type BuildConfig } from './build-config.js';

export function buildContentHash(graph: Graph, cfg: BuildConfig, target: string, version: string, planTrtVersion?: string): string {
  function* chunks(): Generator<Uint8Array> {
    yield serializeGraph(graph, { weights: 'reference' });
    for (const l of graph.layers) if (l.kind === 'constant') {
      const d = l.weights.data;
      yield new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }
  }
  // TensorRT-only options change nothing in an ONNX model or a plan: keep them out of its hash.
  const trtOnly = target === 'trt' ? {} : { workspaceMiB: undefined, optimizationLevel: undefined, timingCache: undefined };
  return contentHash(chunks(), { ...cfg, target, ...trtOnly, planTrtVersion }, version); // canonicalJson drops undefined keys
}
