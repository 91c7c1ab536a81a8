/** ONNX Runtime as a conformance / generation backend: exports each graph once and runs it with ORT. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bf16ToF32, f32ToBf16 } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { interpEnv } from '../conformance/env.js';
import type { CaseEnv } from '../conformance/types.js';
import { exportOnnx, type ExportOptions } from './export.js';
import { OnnxSession, type OnnxSessionOptions } from './run.js';
import { writeOnnx } from './write.js';

/** bfloat16 ↔ float32 at the boundary (exact both ways for bfloat16 values). */
function bf16ToF32Tensor(t: HostTensor): HostTensor {
  const src = t.data as Uint16Array;
  return { dtype: 'float32', shape: [...t.shape], data: Float32Array.from(src, bf16ToF32) };
}
function f32ToBf16Tensor(t: HostTensor): HostTensor {
  const src = t.data as Float32Array;
  return { dtype: 'bfloat16', shape: [...t.shape], data: Uint16Array.from(src, f32ToBf16) };
}

/** Loads `graph` into ONNX Runtime (bfloat16 inputs/outputs carried as float32). */
export async function sessionForGraph(graph: Graph, opts: OnnxSessionOptions = {}, exportOpts: Omit<ExportOptions, 'bfloat16Io'> = {}): Promise<OnnxSession> {
  const result = exportOnnx(graph, { ...exportOpts, bfloat16Io: 'float32' });
  if (!result.externalData) return OnnxSession.create(result.model, opts);
  // Weights too large for one protobuf: ORT reads the side file from the model's directory.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-onnx-'));
  try {
    const [modelPath] = writeOnnx(dir, 'model.onnx', result);
    return await OnnxSession.create(modelPath, opts);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a graph through an OnnxSession made by sessionForGraph, converting bfloat16 at the boundary. */
export async function runGraphOnnx(session: OnnxSession, graph: Graph, inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const feeds: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(inputs)) feeds[k] = t.dtype === 'bfloat16' ? bf16ToF32Tensor(t) : t;
  const out = await session.run(feeds);
  for (const b of graph.outputs) if (graph.tensors[b.id].dtype === 'bfloat16') out[b.name] = f32ToBf16Tensor(out[b.name]);
  return out;
}

/** A CaseEnv whose graphs run in ONNX Runtime; one session per graph object. */
export function onnxEnv(opts: OnnxSessionOptions = {}): CaseEnv {
  const base = interpEnv();
  const sessions = new WeakMap<Graph, Promise<OnnxSession>>();
  return {
    run: async (graph, inputs) => {
      let s = sessions.get(graph);
      if (!s) sessions.set(graph, (s = sessionForGraph(graph, opts)));
      return runGraphOnnx(await s, graph, inputs);
    },
    loadModel: base.loadModel,
  };
}
