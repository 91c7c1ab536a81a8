/**
 * redraft's TensorRT runtime from JavaScript: the native addon deserializes `rank0.engine`
 * (IRuntime::deserializeCudaEngine), reports its I/O, and runs an execution context
 * (setInputShape, setTensorAddress, enqueueV3 on a CUDA stream, device buffers from the dlopen'ed
 * CUDA runtime) on a worker thread. This module checks the engine's I/O against the build's
 * config.json table and turns a run into host tensors.
 */
import * as fs from 'node:fs';
import { ExitCode, MissingBackendError, RedraftError, UsageError } from '../../dsl/errors.js';
import { evalDim, type Dim } from '../../dsl/dim.js';
import type { DType, TypedArray } from '../../dsl/dtype.js';
import type { Graph } from '../../dsl/ir.js';
import type { HostTensor } from '../../dsl/host.js';
import type { IoEntry } from '../engine-io.js';
import { native, tryNative } from './native.js';
import { nativeFusedKinds, type TrtVersion } from './plan.js';
import type { NcclAddon, NcclCommunicator } from './tp.js';

export interface RuntimeIo {
  name: string;
  mode: 'input' | 'output';
  dtype: string;
  /** -1 for a dim the engine leaves to the profile (inputs) or to shape inference (outputs). */
  shape: number[];
  profile?: { min: number[]; opt: number[]; max: number[] };
}
export interface RunStats {
  runs: number;
  enqueues: number;
  setInputShape: number;
  setTensorAddress: number;
  h2dCopies: number;
  d2hCopies: number;
  h2dBytes: number;
  d2hBytes: number;
  /** Device-to-device copies (inputs fed from outputs kept on the device). */
  d2dCopies: number;
  d2dBytes: number;
  /** Device bytes this context holds (buffers at the profile's maximum, outputs grown on demand). */
  deviceBytes: number;
  allocations: number;
  /** Output dims TensorRT left unresolved that the caller's graph supplied (the double leaves every dynamic one). */
  shapesFromCaller: number;
  /** In-place bindings: outputs bound to their input's buffer, and inputs fed back in place (no copy at all). */
  inPlace: number;
}
export interface NativeTensor {
  dtype: string;
  shape: number[];
  data: ArrayBuffer | TypedArray;
}
/** An input taken from an output of the context's last run that was kept on the device (no host copy). */
export interface DeviceInput {
  device: string;
}
export interface NativeContext {
  /**
   * One enqueue. `keepOnDevice` outputs stay in the context's device buffers (returned as
   * `{ device: true }`, no data) and can feed the next run's inputs as `{ device: name }`, so
   * state such as a KV cache need not cross to the host between steps.
   */
  run(
    inputs: Record<string, NativeTensor | DeviceInput>,
    outputShapes?: Record<string, number[]>,
    options?: { keepOnDevice?: string[] },
  ): Promise<{ outputs: Record<string, { dtype: string; shape: number[]; data: ArrayBuffer; device?: undefined } | { dtype: string; shape: number[]; device: true; data?: undefined }>; stats: RunStats }>;
  /** A kept output's bytes, copied to the host now (synchronously; not during a run). */
  readKept(name: string): ArrayBuffer;
  /** IExecutionContext::setCommunicator (TensorRT 10.16+): the NCCL communicator of a tensor-parallel engine (kept alive by the context). */
  setCommunicator(comm: NcclCommunicator): void;
  /** Interrupts a run in progress (before its enqueue, or discards its results). */
  cancel(): void;
  stats(): RunStats;
  release(): void;
}
export interface NativeRuntimeEngine {
  io: RuntimeIo[];
  tensorrtDouble: boolean;
  /**
   * An execution context. `aliases` (output → input) binds each in-place output to its input's
   * device buffer: IKVCacheUpdateLayer writes the cache in place and NvInfer.h requires both to
   * share one address; an input fed `{ device: output }` from its alias then copies nothing.
   */
  createContext(options?: { aliases?: Record<string, string> }): NativeContext;
  release(): void;
}
export interface RuntimeLibs {
  ok: boolean;
  error?: string;
  tensorrt: { ok: boolean; library?: string; version?: string; double: boolean };
  cuda: { ok: boolean; library?: string; version?: string; double: boolean; devices?: number; tried: string[]; error?: string };
}
export interface RuntimeAddon extends Partial<NcclAddon> {
  runtimeCompiled?: boolean;
  loadRuntime(tensorrtLib?: string, cudaLib?: string): RuntimeLibs;
  deserializeEngine(bytes: Uint8Array | ArrayBuffer, onLog?: (severity: string, msg: string) => void): Promise<NativeRuntimeEngine>;
}

/** The libraries the runtime would use, without failing (for doctor). */
export function runtimeLibs(): RuntimeLibs | undefined {
  const n = tryNative() as unknown as Partial<RuntimeAddon> | undefined;
  if (!n?.loadRuntime || !n.runtimeCompiled) return undefined;
  return n.loadRuntime();
}

/** The addon's runtime (`given`, else redraft's addon), TensorRT and CUDA loaded, or MissingBackendError (exit 3) with what is missing. */
export function runtimeAddon(given?: RuntimeAddon): { addon: RuntimeAddon; libs: RuntimeLibs } {
  const n = (given ?? native()) as unknown as Partial<RuntimeAddon>;
  if (!n.loadRuntime || !n.deserializeEngine) throw new MissingBackendError('--backend trt: this native addon has no TensorRT runtime (built by an older redraft)', 'rebuild it with `npm run build:native`');
  if (!n.runtimeCompiled)
    throw new MissingBackendError('--backend trt: the native addon was compiled without TensorRT headers, so it has no TensorRT runtime', 'rebuild it with TENSORRT_INCLUDE_DIR=/path/to/TensorRT/include npm run build:native');
  const libs = n.loadRuntime();
  if (!libs.ok) throw new MissingBackendError(`--backend trt: ${libs.error ?? 'TensorRT or CUDA is not usable'}`, 'run on a machine with TensorRT and CUDA (TENSORRT_LIB, CUDA_LIB or LD_LIBRARY_PATH point redraft at them; redraft doctor says what is missing); --backend onnx|interp|plan runs the same model on the CPU');
  return { addon: n as RuntimeAddon, libs };
}

const errCode = (e: unknown) => (e as { code?: string })?.code;

/** Deserializes an engine file; TensorRT's refusal (another version, another GPU, a corrupt file) is exit 3 with its reason. */
export async function deserializeEngineFile(file: string, rebuild: string, log?: (severity: string, msg: string) => void, given?: RuntimeAddon): Promise<{ engine: NativeRuntimeEngine; libs: RuntimeLibs }> {
  const { addon, libs } = runtimeAddon(given);
  const bytes = fs.readFileSync(file);
  try {
    return { engine: await addon.deserializeEngine(bytes, log), libs };
  } catch (e) {
    const msg = (e as Error).message;
    if (errCode(e) === 'ENGINE')
      throw new MissingBackendError(`${file}: ${msg}`, `an engine runs only on the TensorRT version and GPU it was built with: rebuild it on this machine (${rebuild})`);
    throw new MissingBackendError(`${file}: ${msg}`, 'check the TensorRT installation (redraft doctor)');
  }
}

/**
 * The engine's I/O must be the build's table: the same names in each direction, dtypes, ranks,
 * the fixed dims, and the profile of every input dim that is one named range.
 */
export function checkRuntimeIo(io: RuntimeIo[], table: { inputs: IoEntry[]; outputs: IoEntry[] }, file: string, rebuild: string): void {
  const problems: string[] = [];
  for (const [mode, entries] of [['input', table.inputs], ['output', table.outputs]] as const) {
    const got = io.filter((x) => x.mode === mode);
    const want = new Set(entries.map((e) => e.name));
    for (const g of got) if (!want.has(g.name)) problems.push(`the engine has ${mode} '${g.name}', config.json does not`);
    for (const e of entries) {
      const g = got.find((x) => x.name === e.name);
      if (!g) {
        problems.push(`config.json has ${mode} '${e.name}', the engine does not`);
        continue;
      }
      if (g.dtype !== e.dtype) problems.push(`${mode} '${e.name}' is ${g.dtype} in the engine, ${e.dtype} in config.json`);
      if (g.shape.length !== e.shape.length) {
        problems.push(`${mode} '${e.name}' has rank ${g.shape.length} in the engine, ${e.shape.length} in config.json`);
        continue;
      }
      e.shape.forEach((d, k) => {
        if (typeof d === 'number') {
          if (g.shape[k] !== d && !(mode === 'output' && g.shape[k] === -1)) problems.push(`${mode} '${e.name}' dim ${k} is ${g.shape[k]} in the engine, ${d} in config.json`);
          return;
        }
        const r = e.ranges[d];
        if (mode !== 'input' || !r || !g.profile) return;
        const p = { min: g.profile.min[k], opt: g.profile.opt[k], max: g.profile.max[k] };
        if (p.min !== r.min || p.opt !== r.opt || p.max !== r.max)
          problems.push(`input '${e.name}' dim ${k} (${d}): the engine's profile is ${p.min}/${p.opt}/${p.max}, config.json's range ${r.min}/${r.opt}/${r.max}`);
      });
    }
  }
  if (problems.length) throw new UsageError(`${file} does not match its config.json: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? ` (and ${problems.length - 4} more)` : ''}`, `rebuild it: ${rebuild}`);
}

const ARRAY: Record<string, (b: ArrayBuffer) => TypedArray> = {
  float32: (b) => new Float32Array(b),
  float16: (b) => new Uint16Array(b),
  bfloat16: (b) => new Uint16Array(b),
  int32: (b) => new Int32Array(b),
  int64: (b) => new BigInt64Array(b),
  int8: (b) => new Int8Array(b),
  bool: (b) => new Uint8Array(b),
};

/** Output shapes from the graph, its symbols bound from the inputs' concrete shapes. */
export function outputShapes(graph: Graph, inputs: Record<string, HostTensor>): Record<string, number[]> {
  const bound = new Map<string, number>();
  for (const b of graph.inputs) {
    const t = inputs[b.name];
    if (!t) continue;
    graph.tensors[b.id].shape.forEach((d: Dim, k) => {
      if (typeof d !== 'number' && d.coef === 1 && d.factors.length === 1) bound.set(d.factors[0], t.shape[k]);
    });
  }
  const out: Record<string, number[]> = {};
  for (const b of graph.outputs) {
    const s = graph.tensors[b.id].shape.map((d: Dim) => evalDim(d, (n) => bound.get(n)));
    if (s.every((x): x is number => x !== undefined)) out[b.name] = s;
  }
  return out;
}

/** A run's errors as redraft's: a shape outside the profile is exit 2 naming the dim. */
export function runError(e: unknown, file: string): Error {
  const msg = (e as Error)?.message ?? String(e);
  const code = errCode(e);
  if (code === 'PROFILE') return new UsageError(`${file}: ${msg}`, 'the request is beyond what the engine was built for: pass fewer rows or a shorter --max-length, or rebuild with larger --max-batch/--max-seq');
  if (code === 'INTERRUPTED') return new RedraftError(`${file}: ${msg}`, { exitCode: ExitCode.interrupted });
  if (code === 'USAGE') return new UsageError(`${file}: ${msg}`);
  return new MissingBackendError(`${file}: the TensorRT run failed: ${msg}`, 'check the TensorRT and CUDA installation (redraft doctor); --backend onnx|interp|plan runs the same model on the CPU');
}

let active: NativeContext | undefined;
/**
 * Device bytes of the I/O buffers of the last context trtRunner created (they only grow, so this
 * is their peak); TensorRT's own activation memory is not included. Undefined without one.
 */
export function runtimeDeviceBytes(): number | undefined {
  return active?.stats().deviceBytes;
}

export interface TrtRunner {
  run(graph: Graph, inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
  engine: NativeRuntimeEngine;
  context: NativeContext;
  libs: RuntimeLibs;
  /** The in-place pairs (output → input) bound to one device buffer; the other fed-back outputs are copied on the device. */
  inPlace: Record<string, string>;
}

/**
 * The graph's in-place outputs (Graph.aliases) that this engine has, split by how they run:
 * `bound` when the engine's KV-cache update is TensorRT's IKVCacheUpdateLayer (it was lowered
 * for headers with it, 10.15+), which writes the cache in place (the output shares the input's
 * address); `copied` otherwise: a decomposed update writes a new tensor, so sharing memory with
 * the input would let TensorRT overwrite what it still reads; it stays on the device and is
 * copied device to device into the input.
 */
export function inPlaceOutputs(graph: Graph, io: RuntimeIo[], trtVersion: TrtVersion | undefined): { bound: Record<string, string>; copied: Record<string, string> } {
  const has = (name: string, mode: RuntimeIo['mode']) => io.some((x) => x.name === name && x.mode === mode);
  const pairs = Object.entries(graph.aliases ?? {}).filter(([o, i]) => has(o, 'output') && has(i, 'input'));
  const native = nativeFusedKinds(trtVersion).includes('kv_cache_update');
  return { bound: native ? Object.fromEntries(pairs) : {}, copied: native ? {} : Object.fromEntries(pairs) };
}

/**
 * Loads DIR/rank0.engine, checks it against the I/O table, and runs `graph` on one execution
 * context per call. In-place outputs (graph.aliases, e.g. k_cache_<l>_out of k_cache_<l>) stay on
 * the device: the tensor returned for one is device-resident (its `data`, if read, is copied to
 * the host then; it is valid until the next run), and fed back as its input it costs no copy.
 * Options: `trtVersion`, the headers the engine was built with (default: the addon's, as build.ts
 * lowers for them); `keepOnDevice`, more outputs to leave on the device the same way (read lazily); `communicator`, this rank's NCCL communicator for a tensor-parallel engine
 * (builders/trt/tp.ts, where the launch contract is); `addon`, another native addon than redraft's.
 */
export async function trtRunner(
  file: string,
  table: { inputs: IoEntry[]; outputs: IoEntry[] },
  graph: Graph,
  rebuild: string,
  log?: (severity: string, msg: string) => void,
  opts: { trtVersion?: TrtVersion; communicator?: NcclCommunicator; addon?: RuntimeAddon; keepOnDevice?: string[] } = {},
): Promise<TrtRunner> {
  const { trtVersion, communicator } = opts;
  const { engine, libs } = await deserializeEngineFile(file, rebuild, log, opts.addon);
  checkRuntimeIo(engine.io, table, file, rebuild);
  const version = trtVersion ?? (await import('./build.js')).engineTrtVersion();
  const { bound, copied } = inPlaceOutputs(graph, engine.io, version);
  // Also `opts.keepOnDevice`: outputs the caller mostly feeds back or ignores (a step's
  // next_log_probs, 4 · W · (L-1) · vocab bytes per row and call): copied to the host only if read.
  const keepOnDevice = [...new Set([...Object.keys(bound), ...Object.keys(copied), ...(opts.keepOnDevice ?? []).filter((n) => engine.io.some((x) => x.name === n && x.mode === 'output'))])];
  let context: NativeContext;
  try {
    context = engine.createContext({ aliases: bound });
    if (communicator) context.setCommunicator(communicator);
  } catch (e) {
    throw runError(e, file);
  }
  active = context;
  // The device-resident tensors this context returned, with the run that made them.
  const resident = new WeakMap<object, { name: string; run: number }>();
  let runs = 0;
  const run = async (g: Graph, inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>> => {
    if (g !== graph) throw new Error(`trtRunner: graph ${g.name} is not the engine's`);
    const feed: Record<string, NativeTensor | DeviceInput> = {};
    for (const [name, t] of Object.entries(inputs)) {
      const r = resident.get(t);
      if (!r) {
        feed[name] = t as unknown as NativeTensor;
        continue;
      }
      if (r.run !== runs) throw new UsageError(`input '${name}' is output '${r.name}' of an earlier run, which the next run overwrote on the device (in place)`, 'feed each in-place output back on the very next call');
      feed[name] = { device: r.name };
    }
    let r: Awaited<ReturnType<NativeContext['run']>>;
    try {
      r = await context.run(feed, outputShapes(graph, inputs), { keepOnDevice });
    } catch (e) {
      throw runError(e, file);
    }
    const now = ++runs;
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(r.outputs)) {
      const make = ARRAY[t.dtype];
      if (!make) throw new MissingBackendError(`${file}: output '${name}' is ${t.dtype}, which redraft has no host type for`);
      if (t.device) {
        let host: TypedArray | undefined;
        const tensor = {
          dtype: t.dtype as DType,
          shape: t.shape,
          // Read only by a caller that looks inside the state (the generate loop does not).
          get data(): TypedArray {
            if (now !== runs) throw new UsageError(`output '${name}' of an earlier run was overwritten on the device by the next one (in place)`);
            return (host ??= make(context.readKept(name)));
          },
        } as HostTensor;
        resident.set(tensor, { name, run: now });
        out[name] = tensor;
        continue;
      }
      if (!t.data) continue;
      out[name] = { dtype: t.dtype as DType, shape: t.shape, data: make(t.data) };
    }
    return out;
  };
  return { run, engine, context, libs, inPlace: bound };
}
