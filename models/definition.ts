/**
 * The model-definition interface: what a built-in model or a user's `.ts`/`.js` module
 * exports (as `default` or `model`) for `redraft build|export|inspect|run`.
 *
 *   import { defineModel } from 'redraft-trt/models';
 *   export default defineModel({ name: 'my-drafter', build(opts) { return buildNetwork(...) } });
 */
import type { Graph } from '../dsl/ir.js';
import type { QuantScheme } from './llama/linear.js';

export interface BuildOptions {
  dtype: 'float32' | 'float16' | 'bfloat16';
  beamWidth: number;
  beamLength: number;
  maxBatch: number;
  maxSeq: number;
  /** Weight quantization of the base model (`--quantize`; models/llama/linear.ts); absent: float. */
  quantize?: QuantScheme;
  /** Quantize the drafter too (`--quantize-drafter`); by default it stays in `dtype`. */
  quantizeDrafter?: boolean;
  /** Tensor parallelism (`--tp`): build communicator rank `rank` of `size`; absent (or size 1): one device. */
  tp?: { size: number; rank: number };
}

/**
 * How a tensor-parallel build's I/O relates to the one-device graph's (builders/tp/layout.ts):
 * per rank, the inputs/outputs holding entries [start, end) of dim `axis` (full size `full`);
 * the others are whole and the same on every rank.
 */
export interface TensorParallelLayout {
  size: number;
  ranks: { io: Record<string, { axis: number; start: number; end: number; full: number }> }[];
  notes: string[];
}

export interface ModelDefinition {
  name: string;
  description?: string;
  /** Model configuration recorded in the build's config.json. */
  config?: Record<string, unknown>;
  /** Builds the graph to compile/export for these options. */
  build(opts: BuildOptions): Graph;
  /** Present when the model builds tensor-parallel ranks (opts.tp): the rank I/O layout for `size` ranks. */
  tensorParallel?(size: number): TensorParallelLayout;
}

/** Identity with types: lets a user module get checking and completion for its definition. */
export function defineModel<T extends ModelDefinition>(def: T): T {
  return def;
}

/** True when `x` looks like a ModelDefinition (used to validate user modules). */
export function isModelDefinition(x: unknown): x is ModelDefinition {
  return !!x && typeof x === 'object' && typeof (x as ModelDefinition).name === 'string' && typeof (x as ModelDefinition).build === 'function';
}
