/**
 * Runs ONNX models with ONNX Runtime (onnxruntime-node, CPU) on HostTensors. `OnnxSession`
 * keeps one loaded model for repeated runs (the generation loop); `runOnnx` is one-shot.
 */
import ort from 'onnxruntime-node';
import type { DType } from '../../dsl/dtype.js';
import { RedraftError, UsageError } from '../../dsl/errors.js';
import type { HostTensor } from '../../dsl/host.js';

/**
 * ONNX Runtime logs to stderr on its own (a failed load prints a red error besides the
 * exception redraft raises with the same text). Quiet unless REDRAFT_VERBOSE is set, which the
 * CLI's --verbose does; ORT reads its global level once, when the first session is created.
 */
export function ortVerbose(): boolean {
  return !!process.env.REDRAFT_VERBOSE && process.env.REDRAFT_VERBOSE !== '0';
}
if (!ort.env.logLevel || ort.env.logLevel === 'warning') ort.env.logLevel = ortVerbose() ? 'warning' : 'fatal';

type OrtType = 'float32' | 'float16' | 'int32' | 'int64' | 'int8' | 'bool';
const TO_ORT: Record<Exclude<DType, 'bfloat16' | 'int4' | 'float8e4m3'>, OrtType> = {
  float32: 'float32',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  int8: 'int8',
  bool: 'bool',
};

/** A HostTensor as an ort.Tensor (same buffer; float16 as raw Uint16 bits, bool as 0/1 bytes). */
export function toOrtTensor(t: HostTensor, name = 'tensor'): ort.Tensor {
  if (t.dtype === 'bfloat16')
    throw new UsageError(
      `'${name}' is bfloat16, which ONNX Runtime's JavaScript API cannot pass`,
      "export the model with bfloat16Io: 'float32' and pass float32 (bfloat16 converts to float32 exactly)",
    );
  if (t.dtype === 'int4' || t.dtype === 'float8e4m3')
    throw new UsageError(`'${name}' is ${t.dtype}, which redraft does not pass to ONNX Runtime`, 'keep quantized tensors inside the graph: dequantize them before an output, quantize after an input');
  return new ort.Tensor(TO_ORT[t.dtype], t.data as never, [...t.shape]);
}

/** An ort.Tensor as a HostTensor (shares the output buffer). */
export function fromOrtTensor(t: ort.Tensor, name = 'tensor'): HostTensor {
  const shape = [...t.dims];
  switch (t.type) {
    case 'float32':
    case 'int32':
    case 'int64':
    case 'int8':
      return { dtype: t.type, shape, data: t.data as HostTensor['data'] };
    case 'float16': {
      // Newer runtimes may hand back a Float16Array; the HostTensor convention is raw bits.
      const d = t.data as ArrayBufferView;
      return { dtype: 'float16', shape, data: new Uint16Array(d.buffer, d.byteOffset, d.byteLength / 2) };
    }
    case 'bool': {
      const d = t.data as ArrayBufferView;
      return { dtype: 'bool', shape, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
    }
    default:
      throw new RedraftError(`ONNX output '${name}' has type ${t.type}, which has no redraft dtype`);
  }
}

export interface OnnxSessionOptions {
  /** Threads inside one operator (ORT's default: one per core). */
  intraOpThreads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Trade speed for memory: see sessionForGraph (builders/onnx/env.ts). */
  lowMemory?: boolean;
}

interface Meta {
  name: string;
  type?: string;
  shape?: readonly (number | string)[];
}

/** A loaded ONNX model; create once, run many times, release when done. */
export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly inputMeta: Map<string, Meta>,
  ) {}

  /** Loads a model from ModelProto bytes or a file path (a path is needed for external data). */
  static async create(model: Uint8Array | string, opts: OnnxSessionOptions = {}): Promise<OnnxSession> {
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      logSeverityLevel: ortVerbose() ? 2 : 4,
      ...(opts.intraOpThreads !== undefined ? { intraOpNumThreads: opts.intraOpThreads } : {}),
      ...(opts.graphOptimization ? { graphOptimizationLevel: opts.graphOptimization } : {}),
      // Low memory: no constant folding (it would turn each half weight's Cast into a float32
      // initializer), no arena and no memory pattern (both keep the largest temporaries).
      ...(opts.lowMemory ? { enableCpuMemArena: false, enableMemPattern: false, extra: { optimization: { disable_specified_optimizers: 'ConstantFolding' } } } : {}),
    };
    let s: ort.InferenceSession;
    try {
      s = typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
    } catch (e) {
      const what = typeof model === 'string' ? `'${model}'` : `a ${model.byteLength}-byte model`;
      const msg = (e as Error).message;
      // onnxruntime-node cannot bind bfloat16 (ONNX type 16) inputs or outputs at all.
      const hint = /data type: 16\b/.test(msg) ? "the model has bfloat16 inputs or outputs; export it with bfloat16Io: 'float32'" : undefined;
      throw new RedraftError(`ONNX Runtime could not load ${what}: ${msg}`, { exitCode: 4, cause: e, hint });
    }
    const meta = new Map<string, Meta>();
    const md = (s as { inputMetadata?: readonly Meta[] }).inputMetadata ?? [];
    for (const m of md) meta.set(m.name, m);
    return new OnnxSession(s, [...s.inputNames], [...s.outputNames], meta);
  }

  /** Runs the model; returns the requested outputs (default: all) by name. */
  async run(inputs: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    for (const k of Object.keys(inputs))
      if (!this.inputNames.includes(k)) throw new UsageError(`unknown input '${k}' for the ONNX model`, `its inputs are: ${this.inputNames.join(', ')}`);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of this.inputNames) {
      const t = inputs[name];
      if (!t) throw new UsageError(`ONNX model input '${name}' is missing`, `pass every input: ${this.inputNames.join(', ')}`);
      const m = this.inputMeta.get(name);
      if (m?.type && m.type !== t.dtype) throw new UsageError(`input '${name}' has dtype ${t.dtype}, the ONNX model expects ${m.type}`);
      if (m?.shape && m.shape.length !== t.shape.length) throw new UsageError(`input '${name}' has shape [${t.shape}], the ONNX model expects rank ${m.shape.length} ([${m.shape}])`);
      feeds[name] = toOrtTensor(t, name);
    }
    const wanted = outputNames ?? this.outputNames;
    for (const o of wanted) if (!this.outputNames.includes(o)) throw new UsageError(`the ONNX model has no output '${o}'`, `its outputs are: ${this.outputNames.join(', ')}`);
    let res: ort.InferenceSession.ReturnType;
    try {
      res = await this.session.run(feeds, [...wanted]);
    } catch (e) {
      throw new RedraftError(`ONNX Runtime failed: ${(e as Error).message}`, { exitCode: 4, cause: e });
    }
    const out: Record<string, HostTensor> = {};
    for (const o of wanted) out[o] = fromOrtTensor(res[o] as ort.Tensor, o);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Loads, runs once and releases. */
export async function runOnnx(model: Uint8Array | string, inputs: Record<string, HostTensor>, opts: OnnxSessionOptions = {}): Promise<Record<string, HostTensor>> {
  const s = await OnnxSession.create(model, opts);
  try {
    return await s.run(inputs);
  } finally {
    await s.release();
  }
}
