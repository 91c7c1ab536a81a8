/** `redraft inspect`: what a graph holds and costs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deserializeGraph } from '../../dsl/serialize.js';
import { callDims, formatSummary, summarize, toDot } from '../../builders/inspect.js';
import type { Graph } from '../../dsl/ir.js';
import { UsageError } from '../../dsl/errors.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';
import type { TpFlags } from '../tp.js';
import { engineModelFlags } from '../engine.js';
import { checkEngineIo, openEngineDir, readEngineJson, type EngineDir } from '../../builders/engine-dir.js';

export async function inspect(opts: ModelFlags & TpFlags & { format: string; batch?: string; seq?: string; graph?: string; engine?: string }, out: Output): Promise<void> {
  // --tp: each rank's weight bytes and collective bytes per call.
  // --rank alone with --engine DIR of a --tp build picks one built rank (below); --tp is fixed by the build.
  const rankOfEngine = opts.rank !== undefined && opts.tp === undefined && opts.engine !== undefined && tpBuildOf(opts.engine) !== undefined;
  if ((opts.tp !== undefined || opts.rank !== undefined) && !rankOfEngine) {
    if (opts.engine) throw new UsageError(`${opts.tp !== undefined ? '--tp' : '--rank'} cannot be combined with --engine: the build in '${opts.engine}' fixes it`, opts.tp !== undefined && opts.engine && tpBuildOf(opts.engine) ? 'drop --tp (the build records it); --rank R alone picks one of its ranks' : 'inspect --engine DIR of a --tp build reports each rank it holds; drop --tp and --rank');
    if (opts.graph) throw new UsageError('--tp inspects the rank graphs of --model; --graph names one graph', 'pass --model (and --drafter) with --tp N');
    return (await import('./inspect-tp.js')).inspectTp(opts, out);
  }
  if (opts.graph && opts.engine) throw new UsageError('--graph and --engine name two graphs; pass one of them');
  // A --tp build directory: each built rank's report, from the model and settings config.json records.
  const tpBuild = opts.engine ? tpBuildOf(opts.engine) : undefined;
  if (tpBuild) {
    const { size } = tpBuild;
    let { built } = tpBuild;
    if (opts.rank !== undefined) {
      const r = /^\d+$/.test(opts.rank) ? Number(opts.rank) : NaN;
      if (!built.includes(r)) throw new UsageError(`--rank ${opts.rank} is not a rank built in '${opts.engine}' (built: ${built.join(', ')} of --tp ${size})`, `pass --rank ${built.join(' or ')}`);
      built = [r];
    }
    const { flags } = engineModelFlags(opts.engine!, opts, { launch: { rank: built[0]!, size, idFile: '', timeoutMs: 0 } });
    const engines = built.map((rank) => openEngineDir(opts.engine!, { rank: { rank, size } }));
    const { engine: _dir, ...model } = flags;
    return (await import('./inspect-tp.js')).inspectTp({ ...model, tp: String(size), rank: built.length < size ? String(built[0]) : undefined, format: opts.format }, out, engines);
  }
  let engine: EngineDir | undefined;
  if (opts.engine) ({ engine, flags: opts } = engineModelFlags(opts.engine, opts));
  const graph = opts.graph ? deserializeGraph(readFile(opts.graph), opts.graph) : (await loadGraph(opts, out)).graph;
  if (engine) checkEngineIo(engine, graph);
  if (opts.format === 'dot') return out.result({ dot: toDot(graph) }, toDot(graph));
  const dims = inspectDims(graph, opts);
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

/** DIR's tensor-parallel size and built ranks when its config.json records a --tp build (openEngineDir checks the rest). */
function tpBuildOf(dir: string): { size: number; built: number[] } | undefined {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return undefined;
  const tp = readEngineJson<{ tensorParallel?: { size?: unknown; built?: unknown } } | null>(file)?.tensorParallel;
  if (!tp || typeof tp !== 'object' || !Number.isInteger(tp.size)) return undefined;
  const size = tp.size as number;
  const built = Array.isArray(tp.built) && tp.built.length && tp.built.every((r) => Number.isInteger(r)) ? (tp.built as number[]) : Array.from({ length: size }, (_, r) => r);
  return { size, built };
}

/**
 * The dims inspect reports a call at: --batch sets the batch dim; --seq the tokens held so far
 * (on the per-layer cache contract the cache length, from which callDims sizes `capacity` as the
 * host loop does; else a graph's `seq`/`past` dim). Every dim the call takes, capacity included,
 * must lie in the graph's profile: exit 2 naming the bound and the largest value that fits.
 */
export function inspectDims(graph: Graph, opts: { batch?: string; seq?: string }): Record<string, number> {
  const dims: Record<string, number> = {};
  const targets = { '--batch': ['batch'], '--seq': ['seq', 'past'] } as const;
  for (const [flag, v] of [['--batch', opts.batch], ['--seq', opts.seq]] as const) {
    if (v === undefined) continue;
    const least = flag === '--batch' ? 1 : 0;
    if (!/^\d+$/.test(v) || Number(v) < least) throw new UsageError(`${flag} must be ${least ? 'a positive integer (rows)' : 'a non-negative integer (tokens already cached)'}, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (flag === '--seq' && graph.symbols.capacity) {
      dims.past = n;
      continue;
    }
    const names = targets[flag].filter((d) => graph.symbols[d]);
    if (!names.length) throw new UsageError(`${flag}: graph '${graph.name}' has no ${targets[flag].join(' or ')} dim (its dims: ${Object.keys(graph.symbols).join(', ') || 'none'})`);
    for (const d of names) {
      const r = graph.symbols[d]!;
      const rebuild = flag === '--batch' ? '--max-batch' : '--max-seq';
      if (n < r.min || n > r.max) throw new UsageError(`${flag} ${n} is outside the range of dim '${d}' [${r.min}, ${r.max}] the graph was built for`, n < r.min ? `pass ${flag} ${r.min}..${r.max}` : `pass ${flag} ${r.max} or less, or rebuild with a larger ${rebuild}`);
      dims[d] = n;
    }
  }
  // The capacity a call at this cache length needs: past + the prompt slot + the draft slots.
  const cap = graph.symbols.capacity;
  if (cap && dims.past !== undefined) {
    const env = callDims(graph, dims);
    const writes = env.capacity! - dims.past;
    const prompt = env.prompt ?? env.seq ?? 1;
    if (env.capacity! > cap.max)
      throw new UsageError(
        `--seq ${dims.past} needs a cache of capacity ${env.capacity} (${dims.past} cached + ${prompt} prompt slot${writes > prompt ? ` + ${writes - prompt} draft slots (W·L)` : ''}), beyond the 'capacity' range [${cap.min}, ${cap.max}] the graph was built for`,
        `${cap.max > writes ? `pass --seq ${cap.max - writes} or less` : 'only --seq 0 fits'}, or rebuild with a larger --max-seq (the prompt slot is the profile's opt, ${prompt})`,
      );
  }
  return dims;
}

export function readFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path');
  }
}
