/** `redraft run`: execute a graph on inputs from a file; print or write the outputs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deserializeGraph } from '../../dsl/serialize.js';
import type { HostTensor } from '../../dsl/host.js';
import { toNumbers } from '../../dsl/host.js';
import { readTensors, writeTensors } from '../../builders/tensor-io.js';
import { ensureWritableFile } from '../../builders/atomic.js';
import { UsageError } from '../../dsl/errors.js';
import { backendEnv } from '../../builders/conformance/env.js';
import { checkInputs } from '../../builders/interp/index.js';
import { checkStepInputs } from '../../builders/generate/step-inputs.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';
import { loadRankGraphs, refuseTpBackend, tpOf, type TpFlags } from '../tp.js';
import { tpGraphRunner } from '../../builders/tp/runner.js';
import { readFile } from './inspect.js';
import { defaultBackend, engineModelFlags, engineRunner, type EngineBackend } from '../engine.js';
import type { EngineDir } from '../../builders/engine-dir.js';

export async function run(flags: ModelFlags & TpFlags & { graph?: string; engine?: string; inputs: string; out?: string; backend?: string }, out: Output): Promise<void> {
  if (flags.graph && (flags.model || flags.drafter || flags.engine)) throw new UsageError('--graph and --model/--drafter/--engine name two graphs; pass one of them');
  if (!flags.graph && !flags.model && !flags.engine) throw new UsageError('run needs --graph FILE, --model M or --engine DIR');
  let engine: EngineDir | undefined;
  if (flags.engine) ({ engine, flags } = engineModelFlags(flags.engine, flags));
  const backend = flags.backend ?? (engine ? defaultBackend(engine) : 'interp');
  if (!engine && (backend === 'plan' || backend === 'trt')) throw new UsageError(`--backend ${backend} runs a build output`, `build first (redraft build --target ${backend} --out DIR), then pass --engine DIR`);
  if (flags.out) {
    if (!/\.(json|safetensors)$/.test(flags.out)) throw new UsageError(`outputs file '${flags.out}' must end in .safetensors or .json`);
    ensureWritableFile(flags.out);
  }
  if (flags.graph && /\.(onnx|engine)$/.test(flags.graph)) {
    const dir = path.dirname(flags.graph);
    const inBuild = fs.existsSync(path.join(dir, 'config.json'));
    throw new UsageError(
      `--graph '${flags.graph}' is ${flags.graph.endsWith('.onnx') ? 'an ONNX model' : 'a TensorRT engine'}, not a redraft graph file`,
      inBuild ? `to run a build output, pass its directory: --engine ${dir}` : 'run takes a redraft graph (redraft export --format graph) or a build directory (--engine DIR from redraft build)',
    );
  }
  // --tp N: the one-device inputs, cut into each rank's slices, on the multi-rank simulator (bin/tp.ts).
  const tp = tpOf(flags);
  if (tp.size > 1 && (flags.graph || engine || tp.rank !== undefined)) throw new UsageError(`run --tp ${tp.size} runs every rank graph of --model together`, tp.rank !== undefined ? 'drop --rank' : 'pass --model (and --drafter) with --tp N');
  refuseTpBackend(backend, tp.size);
  const ranks = tp.size > 1 ? await loadRankGraphs(flags, out) : undefined;
  const bundle = ranks && { graphs: ranks.ranks.map((r) => r.graph), layout: ranks.layout };
  const graph = bundle ? bundle.graphs[0] : flags.graph ? deserializeGraph(readFile(flags.graph), flags.graph) : (await loadGraph(flags, out)).graph;
  const inputs = readTensors(flags.inputs);
  // Dtypes, shapes and the profile's dim ranges (--max-batch, --max-seq) hold on every backend:
  // ONNX Runtime would run a batch beyond the build's profile without a word. (Under --tp each rank checks its slices.)
  if (!bundle) checkInputs(graph, inputs);
  // On the KV cache contract: lengths and ids against the tensors they index (exit 2, not a backend's gather error).
  checkStepInputs(graph, inputs);
  const base = engine ? await engineRunner(engine, graph, backend as EngineBackend, out) : (await backendEnv(backend)).run;
  const runGraphOn = bundle ? tpGraphRunner([bundle], base) : base;
  const t0 = performance.now();
  const outputs: Record<string, HostTensor> = await runGraphOn(graph, inputs);
  const ms = performance.now() - t0;
  if (flags.out) writeTensors(flags.out, outputs);
  const summary = Object.fromEntries(
    Object.entries(outputs).map(([k, t]) => {
      const v = toNumbers(t);
      return [k, { dtype: t.dtype, shape: t.shape, head: v.slice(0, 8) }];
    }),
  );
  const text = Object.entries(summary).map(([k, s]) => `${k}: ${s.dtype}[${s.shape.join(', ')}] ${JSON.stringify(s.head)}${s.head.length < toNumbers(outputs[k]).length ? ' ...' : ''}`);
  // The summary is the text result only without --out (as the help says); --json carries it either way.
  out.result({ backend, engine: flags.engine, milliseconds: +ms.toFixed(2), outputs: summary, written: flags.out }, flags.out ? `${text.length} outputs written to ${flags.out}` : text.join('\n'));
}
