/** Graph → serialized TensorRT engine through the native addon. */
import { MissingBackendError, ModelError } from '../../dsl/errors.js';
import { evalDim } from '../../dsl/dim.js';
import type { Graph } from '../../dsl/ir.js';
import type { BuildConfig } from '../build-config.js';
import { native, tryNative, nativeError, type NativeEngine } from './native.js';
import { lowerToPlan, parseTrtVersion, type TrtPlan, type TrtVersion } from './plan.js';

/**
 * The TensorRT version engines are built for here: the headers the native addon was compiled
 * against (its bridge can only call what they declare); undefined without an addon or headers.
 */
export function engineTrtVersion(): TrtVersion | undefined {
  const info = tryNative()?.info();
  return info?.tensorrtHeaders && info.headersVersion ? parseTrtVersion(info.headersVersion) : undefined;
}

/** Throws MissingBackendError (exit 3) unless an engine can be built here; does no other work. */
export function assertTensorRtUsable(): void {
  const n = tryNative();
  if (!n) throw new MissingBackendError(`cannot build a TensorRT engine: ${nativeError()}`, 'run `npm run build:native`, or use --target onnx / --target plan on machines without TensorRT');
  if (!n.info().tensorrtHeaders)
    throw new MissingBackendError('cannot build a TensorRT engine: the native addon was compiled without TensorRT headers', 'rebuild it with TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run build:native, or use --target onnx');
  const lib = n.loadTensorRT();
  if (!lib.ok) {
    const major = n.info().headersVersion?.split('.')[0] ?? '10';
    throw new MissingBackendError(
      `cannot build a TensorRT engine: no usable TensorRT library (tried ${lib.tried.join(', ') || 'libnvinfer'}: ${lib.error ?? 'dlopen failed'})`,
      `install TensorRT ${major}.x (the headers the addon was compiled against are ${n.info().headersVersion}) and point redraft at it with TENSORRT_LIB=/path/to/libnvinfer.so.${major} or LD_LIBRARY_PATH, or use --target onnx`,
    );
  }
}

/**
 * The plan as the addon reads it: the lowering's plan plus what the bridge needs for messages
 * and profiles — each layer's call site (the user's file:line) and, for shape-tensor inputs
 * (inputs whose values are tracked, `TensorInfo.values`), their value ranges.
 */
export function nativePlan(graph: Graph, plan: TrtPlan = lowerToPlan(graph)): TrtPlan {
  // Sites come with the lowered layers (a decomposed layer carries its fused layer's site); a
  // hand-made plan without them falls back to the graph's layer at the same index.
  const lowered = plan.layers.some((l) => l.site !== undefined);
  const layers = plan.layers.map((l, i) => {
    const site = l.site ?? (lowered ? undefined : graph.layers[i]?.site);
    return site ? { ...l, site } : l;
  });
  const inputs = plan.inputs.map((inp) => {
    if ((inp as { shapeValues?: unknown }).shapeValues) return inp;
    const values = graph.tensors[inp.id]?.values;
    if (!values) return inp;
    const at = (k: 'min' | 'opt' | 'max') => values.map((d) => evalDim(d, (n) => graph.symbols[n]?.[k]) ?? 1);
    return { ...inp, shapeValues: { min: at('min'), opt: at('opt'), max: at('max') } };
  });
  return { ...plan, layers, inputs };
}

/** Why TensorRT refused: a layer or an input is the model's (exit 4); anything else is the backend's (exit 3). */
function classify(e: unknown): Error {
  const msg = (e as Error)?.message ?? String(e);
  if (/^(layer '|network input '|output '|plan: )/.test(msg) || /TensorRT could not build the engine/.test(msg))
    return new ModelError(`TensorRT rejected the model: ${msg}`, 'fix the model line named above, or build with --target plan to list what TensorRT would refuse');
  return new MissingBackendError(`the TensorRT build failed: ${msg}`, 'check the TensorRT installation (redraft doctor) and the log above');
}

/** Builds the engine and returns it in TensorRT's memory (write it with `writeTo(fd)`: no 4 GiB limit). */
export async function buildTrtEngineHandle(
  graph: Graph,
  cfg: BuildConfig,
  hooks: { onProgress?: (done: number, total: number) => void; log?: (severity: string, msg: string) => void } = {},
): Promise<NativeEngine> {
  assertTensorRtUsable();
  // Lowered for the headers the bridge was compiled against: their native layers, the others as primitives.
  const plan = nativePlan(graph, lowerToPlan(graph, { trtVersion: engineTrtVersion() }));
  const config = {
    precision: cfg.dtype,
    workspaceBytes: cfg.workspaceMiB * 2 ** 20,
    optimizationLevel: cfg.optimizationLevel,
    timingCache: cfg.timingCache ?? '',
  };
  try {
    return await native().buildEngine(plan, config, (_phase, done, total) => hooks.onProgress?.(done, total), hooks.log);
  } catch (e) {
    throw classify(e);
  }
}

/** The engine's bytes (below 4 GiB; larger engines need `buildTrtEngineHandle(...).writeTo(fd)`). */
export async function buildTrtEngine(
  graph: Graph,
  cfg: BuildConfig,
  hooks: { onProgress?: (done: number, total: number) => void; log?: (severity: string, msg: string) => void } = {},
): Promise<ArrayBuffer> {
  const engine = await buildTrtEngineHandle(graph, cfg, hooks);
  try {
    return engine.arrayBuffer();
  } catch (e) {
    throw new ModelError(`the engine is ${engine.size} bytes: ${(e as Error).message}`, 'write large engines with buildTrtEngineHandle(...).writeTo(fd)');
  }
}
