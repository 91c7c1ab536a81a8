/** `redraft inspect`: what a graph holds and costs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deserializeGraph } from '../../dsl/serialize.js';
import { formatSummary, summarize, toDot } from '../../builders/inspect.js';
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';
import type { TpFlags } from '../tp.js';
import { engineModelFlags } from '../engine.js';
import { checkEngineIo, type EngineDir } from '../../builders/engine-dir.js';

export async function inspect(opts: ModelFlags & TpFlags & { format: string; batch?: string; seq?: string; graph?: string; engine?: string }, out: Output): Promise<void> {
  // --tp: each rank's weight bytes and collective bytes per call.
  if (opts.tp !== undefined || opts.rank !== undefined) {
    if (opts.graph || opts.engine) throw new UsageError('--tp inspects the rank graphs of --model; --graph and --engine name one graph', 'pass --model (and --drafter) with --tp N');
    return (await import('./inspect-tp.js')).inspectTp(opts, out);
  }
  if (opts.graph && opts.engine) throw new UsageError('--graph and --engine name two graphs; pass one of them');
  let engine: EngineDir | undefined;
  if (opts.engine) ({ engine, flags: opts } = engineModelFlags(opts.engine, opts));
  const graph = opts.graph ? deserializeGraph(readFile(opts.graph), opts.graph) : (await loadGraph(opts, out)).graph;
  if (engine) checkEngineIo(engine, graph);
  if (opts.format === 'dot') return out.result({ dot: toDot(graph) }, toDot(graph));
  // --batch sets the batch dim; --seq the sequence held so far (the cache length, or a graph's `seq`/`past` dim).
  const dims: Record<string, number> = {};
  const targets = { '--batch': ['batch'], '--seq': ['seq', 'past'] } as const;
  for (const [flag, v] of [['--batch', opts.batch], ['--seq', opts.seq]] as const) {
    if (v === undefined) continue;
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    // On the per-layer cache contract --seq is the cache length; the cost model sizes `capacity` from it.
    if (flag === '--seq' && graph.symbols.capacity) {
      if (n + 1 > graph.symbols.capacity.max) throw new UsageError(`--seq ${n} does not fit the cache dim 'capacity' (at most ${graph.symbols.capacity.max}) the graph was built for`, 'rebuild with a larger --max-seq');
      dims.past = n;
      continue;
    }
    const names = targets[flag].filter((d) => graph.symbols[d]);
    if (!names.length) throw new UsageError(`${flag}: graph '${graph.name}' has no ${targets[flag].join(' or ')} dim (its dims: ${Object.keys(graph.symbols).join(', ') || 'none'})`);
    for (const d of names) {
      const r = graph.symbols[d]!;
      if (n < r.min || n > r.max) throw new UsageError(`${flag} ${n} is outside the range of dim '${d}' [${r.min}, ${r.max}] the graph was built for`, flag === '--batch' ? 'rebuild with a larger --max-batch' : 'rebuild with a larger --max-seq');
      dims[d] = n;
    }
  }
  const summary = summarize(graph, dims);
  // An engine directory adds what was built: target, files and their sizes, the build settings.
  // The layers as TensorRT built them (IEngineInspector) need the TensorRT runtime, absent here.
  const built = engine && {
    dir: engine.dir,
    target: engine.record.target,
    tensorrt: engine.record.tensorrt,
    contentHash: engine.record.contentHash,
    files: engine.record.files.map((f) => ({ name: f, bytes: fs.statSync(path.join(engine!.dir, f)).size })),
    build: engine.record.build,
    engineLayers: engine.record.target === 'trt' ? 'needs the TensorRT runtime (IEngineInspector); not available on this machine' : undefined,
  };
  const s = built ? { engine: built, ...summary } : summary;
  if (opts.format === 'json') return out.result(s, JSON.stringify(s, null, 2));
  const head = built ? [`engine ${built.dir}: ${built.target} build, ${built.files.map((f) => `${f.name} ${f.bytes} B`).join(', ')}, content hash ${built.contentHash.slice(0, 12)}`, ''] : [];
  out.result(s, [...head, formatSummary(summary)].join('\n'));
}

export function readFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path');
  }
}
