/** Graph → serialized TensorRT engine through the native addon. */
import { MissingBackendError } from '../../dsl/errors.js';
import type { Graph } from '../../dsl/ir.js';
import type { BuildConfig } from '../build-config.js';
import { native, tryNative, nativeError } from './native.js';
import { lowerToPlan } from './plan.js';

/** Throws MissingBackendError (exit 3) unless an engine can be built here; does no other work. */
export function assertTensorRtUsable(): void {
  const n = tryNative();
  if (!n) throw new MissingBackendError(`cannot build a TensorRT engine: ${nativeError()}`, 'run `npm run build:native`, or use --target onnx / --target plan on machines without TensorRT');
  if (!n.info().tensorrtHeaders)
    throw new MissingBackendError('cannot build a TensorRT engine: the native addon was compiled without TensorRT headers', 'rebuild it with TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run build:native, or use --target onnx');
  const lib = n.loadTensorRT();
  if (!lib.ok)
    throw new MissingBackendError(`cannot build a TensorRT engine: ${lib.tried.join(', ') || 'libnvinfer'} not found (${lib.error ?? 'dlopen failed'})`, 'install TensorRT and point redraft at libnvinfer with TENSORRT_LIB=/path/to/libnvinfer.so.10 or LD_LIBRARY_PATH, or use --target onnx');
}

export async function buildTrtEngine(
  graph: Graph,
  cfg: BuildConfig,
  hooks: { onProgress?: (done: number, total: number) => void; log?: (severity: string, msg: string) => void } = {},
): Promise<ArrayBuffer> {
  assertTensorRtUsable();
  const plan = lowerToPlan(graph);
  const config = {
    precision: cfg.dtype,
    workspaceBytes: cfg.workspaceMiB * 2 ** 20,
    optimizationLevel: cfg.optimizationLevel,
    timingCache: cfg.timingCache ?? '',
  };
  return native().buildEngine(plan, config, (_phase, done, total) => hooks.onProgress?.(done, total), hooks.log);
}
