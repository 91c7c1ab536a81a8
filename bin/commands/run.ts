/** `redraft run`: execute a graph on inputs from a file; print or write the outputs. */
import { deserializeGraph } from '../../dsl/serialize.js';
import type { HostTensor } from '../../dsl/host.js';
import { toNumbers } from '../../dsl/host.js';
import { readTensors, writeTensors } from '../../builders/tensor-io.js';
import { ensureWritableFile } from '../../builders/atomic.js';
import { UsageError } from '../../dsl/errors.js';
import { backendEnv } from '../../builders/conformance/env.js';
import type { Output } from '../output.js';
import { loadGraph, type ModelFlags } from '../model.js';
import { readFile } from './inspect.js';

export async function run(flags: ModelFlags & { graph?: string; inputs: string; out?: string; backend: string }, out: Output): Promise<void> {
  if (flags.graph && (flags.model || flags.drafter)) throw new UsageError('--graph and --model/--drafter name two graphs; pass one of them');
  if (!flags.graph && !flags.model) throw new UsageError('run needs --graph FILE or --model M');
  if (flags.out) {
    if (!/\.(json|safetensors)$/.test(flags.out)) throw new UsageError(`outputs file '${flags.out}' must end in .safetensors or .json`);
    ensureWritableFile(flags.out);
  }
  const graph = flags.graph ? deserializeGraph(readFile(flags.graph), flags.graph) : (await loadGraph(flags, out)).graph;
  const inputs = readTensors(flags.inputs);
  const env = await backendEnv(flags.backend);
  const t0 = performance.now();
  const outputs: Record<string, HostTensor> = await env.run(graph, inputs);
  const ms = performance.now() - t0;
  if (flags.out) writeTensors(flags.out, outputs);
  const summary = Object.fromEntries(
    Object.entries(outputs).map(([k, t]) => {
      const v = toNumbers(t);
      return [k, { dtype: t.dtype, shape: t.shape, head: v.slice(0, 8) }];
    }),
  );
  const text = Object.entries(summary).map(([k, s]) => `${k}: ${s.dtype}[${s.shape.join(', ')}] ${JSON.stringify(s.head)}${s.head.length < toNumbers(outputs[k]).length ? ' ...' : ''}`);
  out.result({ backend: flags.backend, milliseconds: +ms.toFixed(2), outputs: summary, written: flags.out }, [...text, flags.out ? `outputs written to ${flags.out}` : ''].filter(Boolean).join('\n'));
}
