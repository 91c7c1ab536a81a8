/**
 * Loading checkpoints: one `.safetensors` file, a directory holding `model.safetensors`, or a
 * directory with a sharded `model.safetensors.index.json`. Tensors are read on first use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { viewBytes } from '../../dsl/dtype.js';
import { ModelError } from '../../dsl/errors.js';
import { SafetensorsFile, type TensorEntry } from './safetensors.js';

export { SafetensorsFile, writeSafetensors, MAX_HEADER_BYTES, ST_DTYPES } from './safetensors.js';
export type { TensorEntry, TensorToWrite } from './safetensors.js';

/** A loaded weight (the shape of models/env.ts's WeightTensor). */
export interface LoadedTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** Named weights read lazily from one or more safetensors files. */
export interface Checkpoint {
  readonly path: string;
  names(): string[];
  has(name: string): boolean;
  get(name: string, expectShape?: readonly number[]): LoadedTensor;
  entry(name: string): TensorEntry & { file: string };
  /** Total tensor bytes of the checkpoint. */
  readonly byteLength: number;
  /** A reader that loads the tensor on each call (offered when the checkpoint is large). */
  lazy?(name: string, expectShape?: readonly number[]): { dtype: DType; shape: number[]; read(): TypedArray };
  /** A reader of one shard (`size` entries of dim `axis` from `start`) that reads only its bytes. */
  slice(name: string, expectShape: readonly number[], axis: number, start: number, size: number): { dtype: DType; shape: number[]; read(): TypedArray };
  /** Names of float tensors with NaN/Inf (reads every tensor once; `onProgress(done, total)`). */
  nonFinite(onProgress?: (done: number, total: number) => void): string[];
  close(): void;
}

function resolveFiles(p: string): { root: string; files: Map<string, SafetensorsFile>; owner: Map<string, string> } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch {
    throw new ModelError(`weights path '${p}' does not exist`, 'pass a .safetensors file or a directory holding model.safetensors');
  }
  const files = new Map<string, SafetensorsFile>();
  const owner = new Map<string, string>();
  const add = (file: string) => {
    const f = SafetensorsFile.open(file);
    files.set(file, f);
    for (const name of f.tensors.keys()) {
      if (owner.has(name)) throw new ModelError(`weight '${name}' appears in both ${owner.get(name)} and ${file}`, 'remove the duplicate from one shard');
      owner.set(name, file);
    }
  };
  if (stat.isFile()) {
    add(p);
    return { root: p, files, owner };
  }
  const index = path.join(p, 'model.safetensors.index.json');
  const single = path.join(p, 'model.safetensors');
  if (fs.existsSync(index)) {
    let map: Record<string, unknown>;
    try {
      map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    } catch (e) {
      throw new ModelError(`${index}: not valid JSON (${(e as Error).message})`, 're-download the checkpoint index');
    }
    if (typeof map !== 'object' || Array.isArray(map)) throw new ModelError(`${index}: "weight_map" must be an object of tensor name → shard file`);
    const shards = new Set<string>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string') throw new ModelError(`${index}: weight_map["${name}"] must be a file name`);
      const sp = path.join(p, shard);
      if (!fs.existsSync(sp)) throw new ModelError(`${index} maps weight '${name}' to shard '${shard}', which does not exist in ${p}`, 'download the missing shard');
      shards.add(sp);
    }
    for (const s of [...shards].sort()) add(s);
    for (const name of Object.keys(map))
      if (!owner.has(name)) throw new ModelError(`${index} maps weight '${name}' to '${String(map[name])}', but that shard does not hold it`, 'the index and its shards disagree: re-download the checkpoint');
    return { root: p, files, owner };
  }
  if (fs.existsSync(single)) {
    add(single);
    return { root: p, files, owner };
  }
  throw new ModelError(`no weights in '${p}': expected model.safetensors or model.safetensors.index.json`, 'convert the checkpoint to safetensors (Hugging Face: save_pretrained(..., safe_serialization=True))');
}

/** Checkpoints above this many bytes stream their weights instead of keeping them (REDRAFT_LAZY_WEIGHTS_BYTES). */
export const LAZY_WEIGHTS_BYTES = Number(process.env.REDRAFT_LAZY_WEIGHTS_BYTES ?? 2 ** 30);

/** Opens a checkpoint; tensors are read when first requested and kept (or streamed, when large). */
export function loadWeights(p: string, opts: { lazyAbove?: number } = {}): Checkpoint {
  const { root, files, owner } = resolveFiles(p);
  const cache = new Map<string, LoadedTensor>();
  const byteLength = [...files.values()].reduce((a, f) => a + [...f.tensors.values()].reduce((b, e) => b + e.byteLength, 0), 0);
  const lazyAbove = opts.lazyAbove ?? LAZY_WEIGHTS_BYTES;
  const fileOf = (name: string) => {
    const f = owner.get(name);
    if (!f) throw new ModelError(`weight '${name}' is missing from ${root}`, 'check that the checkpoint matches the model config (architecture, layer count, names)');
    return files.get(f)!;
  };
  const checkShape = (name: string, shape: number[], expectShape?: readonly number[]) => {
    if (expectShape && (shape.length !== expectShape.length || shape.some((d, i) => d !== expectShape[i])))
      throw new ModelError(`weight '${name}' in ${owner.get(name)} has shape [${shape.join(', ')}], expected [${expectShape.join(', ')}]`, 'the checkpoint does not match config.json (hidden size, heads, vocabulary)');
  };
  const reader = (name: string, expectShape?: readonly number[]) => {
    const f = fileOf(name);
    const e = f.entry(name);
    checkShape(name, e.shape, expectShape);
    const dtype: DType | undefined = e.stDtype === 'F64' ? 'float32' : e.dtype;
    if (!dtype) throw new ModelError(`weight '${name}' in ${owner.get(name)} has dtype ${e.stDtype}, which redraft cannot use`, 'convert it to F32, F16 or BF16');
    const read = (): TypedArray => {
      const data = f.typed(name);
      return (e.stDtype === 'F64' ? Float32Array.from(data as Float64Array) : data) as TypedArray;
    };
    return { dtype, shape: [...e.shape], read };
  };
  return {
    path: root,
    names: () => [...owner.keys()].sort(),
    has: (name) => owner.has(name),
    entry: (name) => ({ ...fileOf(name).entry(name), file: owner.get(name)! }),
    byteLength,
    get(name, expectShape) {
      let t = cache.get(name);
      if (!t) {
        const r = reader(name, expectShape);
        t = { dtype: r.dtype, shape: r.shape, data: r.read() };
        cache.set(name, t);
      } else checkShape(name, t.shape, expectShape);
      return t;
    },
    lazy: byteLength > lazyAbove ? (name, expectShape) => reader(name, expectShape) : undefined,
    slice(name, expectShape, axis, start, size) {
      const r = reader(name, expectShape);
      const f = fileOf(name);
      const shape = r.shape.map((d, i) => (i === axis ? size : d));
      const f64 = f.entry(name).stDtype === 'F64';
      const read = (): TypedArray => {
        const b = f.readSlice(name, axis, start, size);
        return (f64 ? Float32Array.from(new Float64Array(b.buffer, 0, b.byteLength / 8)) : viewBytes(r.dtype, b)) as TypedArray;
      };
      return { dtype: r.dtype, shape, read };
    },
    nonFinite: (onProgress) => {
      let done = 0;
      const total = owner.size;
      return [...files.values()].flatMap((f) => f.nonFinite(() => onProgress?.(++done, total)));
    },
    close: () => files.forEach((f) => f.close()),
  };
}
