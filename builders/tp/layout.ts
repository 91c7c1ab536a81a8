/**
 * How the I/O of a tensor-parallel build maps to the one-device graph's: per rank, the inputs
 * and outputs that hold a slice of the full tensor (the KV caches: their kv heads); every other
 * input is fed whole to every rank and every other output is the same on every rank. Written
 * to config.json (`tensorParallel`) so a launcher knows what each rank process takes.
 */

/** A rank's slice of a full tensor: entries [start, end) of dim `axis`, whose full size is `full`. */
export interface ShardSpec {
  axis: number;
  start: number;
  end: number;
  full: number;
}

export interface TpLayout {
  /** Ranks (communicator ids 0..size-1; one process and one GPU each). */
  size: number;
  /** Per rank: its sliced inputs and outputs by name (an empty slice: the rank has no such tensor). */
  ranks: { io: Record<string, ShardSpec> }[];
  /** What differs from an even split (replicated kv heads, ranks without heads, padded vocabulary). */
  notes: string[];
}

/** Communicator rank r's file for a target: rank0.engine, rank1.onnx, rank0.plan.json, ... */
export function rankFile(rank: number, ext: 'engine' | 'onnx' | 'plan.json' | 'graph'): string {
  return `rank${rank}.${ext}`;
}
