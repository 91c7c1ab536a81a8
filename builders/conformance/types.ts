/** Golden cases and the functions that compute them (structural types; models/ matches them). */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';

export interface GoldenCase {
  /** Absolute path of the case file. */
  path: string;
  name: string;
  fn: string;
  attrs: Record<string, unknown>;
  inputs: Record<string, HostTensor>;
  outputs: Record<string, HostTensor>;
  /** Role (llm, drafter) → absolute model directory. */
  models: Record<string, string>;
  tolerance: { atol: number; rtol: number };
}

export interface CaseEnv {
  /** The host generation loop over `run` (builders/generate), for whole-loop cases. */
  generate?: {
    redrafter(step: Graph, prompt: bigint[][], shape: unknown): Promise<{ outputIds: bigint[][]; lengthsPerStep: number[] }>;
    autoregressive(llm: Graph, prompt: bigint[][], shape: unknown): Promise<bigint[][]>;
  };
  run(graph: Graph, inputs: Record<string, HostTensor>): Promise<Record<string, HostTensor>>;
  loadModel(dir: string): {
    dir: string;
    config: Record<string, unknown>;
    weights: { path: string; names(): string[]; has(name: string): boolean; get(name: string, expectShape?: readonly number[]): { dtype: DType; shape: number[]; data: TypedArray } };
  };
}

/** Computes a case's outputs (by output name) from its inputs, attrs and models. */
export type GoldenFn = (c: GoldenCase, env: CaseEnv) => Promise<Record<string, HostTensor>>;

export interface CaseResult {
  path: string;
  name: string;
  fn: string;
  ok: boolean;
  /** Why it failed: the output, the first mismatching index, want vs got, or the error. */
  failure?: string;
  seconds: number;
}

export interface ConformanceReport {
  passed: number;
  failed: number;
  results: CaseResult[];
}
