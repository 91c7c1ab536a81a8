/**
 * What model code needs from the outside world, as interfaces: models import only ops and
 * dsl, so the caller (bin/, tests) passes in weight loading and graph execution.
 */
import type { DType, TypedArray } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';

/** One weight tensor, zero-copy over the loaded file where possible. */
export interface WeightTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

/** Named weights of one checkpoint (PyTorch / Hugging Face names). */
export interface WeightSource {
  /** Where the weights came from (file or directory), for messages. */
  readonly path: string;
  names(): string[];
  /** The weight, or a ModelError naming it, the file, and (when given) the expected shape. */
  get(name: string, expectShape?: readonly number[]): WeightTensor;
  has(name: string): boolean;
  /**
   * Optional: the weight as a reader that loads it on each call and keeps nothing (for
   * checkpoints larger than memory). Sources offer it only when streaming pays off.
   */
  lazy?(name: string, expectShape?: readonly number[]): { dtype: DType; shape: number[]; read(): TypedArray };
  /**
   * Optional: a tensor-parallel shard, `size` entries of dim `axis` from `start`, as a reader of
   * those bytes only (`expectShape` is the whole tensor's). Without it a shard is cut from get().
   */
  slice?(name: string, expectShape: readonly number[], axis: number, start: number, size: number): { dtype: DType; shape: number[]; read(): TypedArray };
}

/** A model directory: its parsed config.json and its weights. */
export interface LoadedModel {
  dir: string;
  config: Record<string, unknown>;
  weights: WeightSource;
}

/** Runs a finished graph on some backend (the reference interpreter, ONNX Runtime, ...). */
export type GraphRunner = (graph: Graph, inputs: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>;

export interface ModelEnv {
  run: GraphRunner;
  loadModel(dir: string): LoadedModel;
}
