/** ONNX Runtime as a conformance / generation backend: exports each graph once and runs it with ORT. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { bf16ToF32, f32ToBf16 } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import { MissingBackendError } from '../../dsl/errors.js';
import type { Graph } from '../../dsl/ir.js';
import { interpEnv } from '../conformance/env.js';
import type { CaseEnv } from '../conformance/types.js';
import { exportOnnx, type ExportOptions } from './export.js';
import { REDRAFT_DOMAIN } from './lower.js';
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

/** Bytes of float16/bfloat16 weights in `graph` above which it is loaded in low-memory mode. */
export const HALF_WEIGHTS_LOW_MEMORY_BYTES = 64 * 2 ** 20;
/** Largest float32 copy of one half-precision weight block ONNX Runtime makes in low-memory mode. */
export const HALF_WEIGHT_BLOCK_BYTES = 16 * 2 ** 20;

function halfWeightBytes(graph: Graph): number {
  let n = 0;
  for (const l of graph.layers) if (l.kind === 'constant' && (l.weights.dtype === 'float16' || l.weights.dtype === 'bfloat16')) n += l.weights.shape.reduce((a, b) => a * b, 1) * 2;
  return n;
}

/**
 * Loads `graph` into ONNX Runtime (bfloat16 inputs/outputs carried as float32). Large weights
 * go to ONNX Runtime through a temporary external-data file, written one tensor at a time (lazy
 * weights straight from their checkpoint), so no second copy is held in JavaScript.
 *
 * ONNX Runtime computes half-precision matmuls in float32. With the defaults it would fold
 * every weight's cast into a float32 initializer (2× the weight bytes, on top of the 1× it
 * loaded) and keep per-step temporaries in its arena; a graph with more than
 * HALF_WEIGHTS_LOW_MEMORY_BYTES of half weights is therefore exported with blocked matmuls
 * (one weight block cast at a time) and loaded without constant folding or the CPU arena, so
 * its peak stays near the weight bytes plus one block. `lowMemory` forces either choice.
 */
export async function sessionForGraph(
  graph: Graph,
  opts: OnnxSessionOptions & { lowMemory?: boolean } = {},
  exportOpts: Omit<ExportOptions, 'bfloat16Io'> = {},
): Promise<OnnxSession> {
  refuseCollectives(graph);
  // REDRAFT_ONNX_LOW_MEMORY=0|1 overrides the choice (for the CLI, and to compare the two).
  const forced = process.env.REDRAFT_ONNX_LOW_MEMORY;
  const auto = forced === '0' ? false : forced === '1' ? true : halfWeightBytes(graph) > HALF_WEIGHTS_LOW_MEMORY_BYTES;
  const { lowMemory = auto, ...sessionOpts } = opts;
  const result = exportOnnx(graph, { ...(lowMemory ? { halfWeightBlockBytes: HALF_WEIGHT_BLOCK_BYTES } : {}), ...exportOpts, bfloat16Io: 'float32' });
  const so: OnnxSessionOptions = lowMemory ? { lowMemory: true, ...sessionOpts } : sessionOpts;
  if (!result.externalData) return OnnxSession.create(result.model, so);
  // Weights too large for one protobuf: ORT reads the side file from the model's directory.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-onnx-'));
  try {
    const [modelPath] = writeOnnx(dir, 'model.onnx', result);
    return await OnnxSession.create(modelPath, so);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    // Writing the side file read every lazy weight once; V8 sees a small heap and may keep
    // those buffers (up to the size of the largest weights) long after: collect them now.
    if (lowMemory) collectGarbage();
  }
}

/**
 * A tensor-parallel rank graph exports its collectives as com.redraft nodes, which ONNX
 * Runtime's CPU build has no kernels for (and one session cannot exchange with the other ranks):
 * refused before a session is attempted.
 */
export function refuseCollectives(graph: Graph): void {
  const c = graph.layers.find((l) => l.kind === 'collective');
  if (c && c.kind === 'collective')
    throw new MissingBackendError(
      `graph '${graph.name}' holds the collective '${c.name}' (${c.op} over ranks [${c.group.join(', ')}]): ONNX Runtime's CPU build cannot run it (its ONNX form is a ${REDRAFT_DOMAIN} custom-domain node with no kernel there, and one session has no peer ranks to exchange with)`,
      'run tensor-parallel graphs with --backend interp (the multi-rank simulator), or build engines with --target trt for TensorRT 10.16+',
    );
}

/** A full garbage collection, without needing node --expose-gc. */
function collectGarbage(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g();
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
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
