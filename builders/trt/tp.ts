/**
 * The launch contract of tensor-parallel TensorRT engines (TensorRT 10.16+: IDistCollectiveLayer
 * and IExecutionContext::setCommunicator): one process per rank, one GPU per process, an NCCL
 * communicator from a dlopen'ed libnccl.
 *
 * - Environment of every rank's process: REDRAFT_TP_SIZE=N, REDRAFT_TP_RANK=R (0..N-1),
 *   REDRAFT_NCCL_ID_FILE=PATH (a path every rank can read: one per launch), optionally
 *   REDRAFT_NCCL_TIMEOUT_S (default 120) and NCCL_LIB (else libnccl.so.2 / libnccl.so). Make one
 *   GPU visible to each process (CUDA_VISIBLE_DEVICES=R on one machine): the runtime uses device 0.
 * - Rank order: communicator rank R runs DIR/rank<R>.engine, the engine of graph rank R; the
 *   groups recorded in its addDistCollective layers are communicator ranks.
 * - The unique id: rank 0 calls ncclGetUniqueId and writes its 128 bytes to REDRAFT_NCCL_ID_FILE
 *   (a temporary file renamed into place, so no rank reads half of it); every other rank waits
 *   for the file and reads it. Every rank then calls ncclCommInitRank(id, N, R), which returns
 *   once all N ranks have joined, and sets the communicator on its execution context before the
 *   first run. The id file may be removed once every rank has its communicator.
 * - Every rank runs the same host loop on the same inputs (the ranks' engines exchange the
 *   activations, the host sends each rank the same tokens and lengths).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RedraftError, UsageError } from '../../dsl/errors.js';
import type { Graph } from '../../dsl/ir.js';
import type { IoEntry } from '../engine-io.js';
import type { TrtVersion } from './plan.js';
import type { RuntimeAddon, TrtRunner } from './runtime.js';

/** One rank's place in a launch (from its environment). */
export interface TpLaunch {
  rank: number;
  size: number;
  /** Where rank 0 leaves the NCCL unique id for the others. */
  idFile: string;
  /** How long a rank waits for the id file. */
  timeoutMs: number;
}

/** An NCCL communicator (ncclCommInitRank), to hand to an execution context. */
export interface NcclCommunicator {
  rank: number;
  size: number;
  library: string;
  /** redraft's NCCL double (no network, no GPU). */
  double: boolean;
  release(): void;
}

/** The native calls this needs (the addon's runtime, builders/trt/runtime.ts). */
export interface NcclAddon {
  ncclUniqueId(ncclLib?: string): Uint8Array;
  ncclInitRank(id: Uint8Array, nranks: number, rank: number, ncclLib?: string): Promise<NcclCommunicator>;
}

const ID_BYTES = 128;

/** The launch from REDRAFT_TP_SIZE / REDRAFT_TP_RANK / REDRAFT_NCCL_ID_FILE; undefined when REDRAFT_TP_SIZE is unset. */
export function tpLaunchFromEnv(env: NodeJS.ProcessEnv = process.env): TpLaunch | undefined {
  if (env.REDRAFT_TP_SIZE === undefined) return undefined;
  const int = (name: string, v: string | undefined, min: number, max: number) => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name}=${v ?? ''} is not an integer in [${min}, ${max}]`, 'launch one process per rank with REDRAFT_TP_SIZE=N, REDRAFT_TP_RANK=0..N-1 and one REDRAFT_NCCL_ID_FILE for all of them');
    return Number(v);
  };
  const size = int('REDRAFT_TP_SIZE', env.REDRAFT_TP_SIZE, 1, 4096);
  const rank = int('REDRAFT_TP_RANK', env.REDRAFT_TP_RANK, 0, size - 1);
  const idFile = env.REDRAFT_NCCL_ID_FILE;
  if (!idFile) throw new UsageError('REDRAFT_NCCL_ID_FILE is not set: rank 0 writes the NCCL unique id there for the other ranks', 'set REDRAFT_NCCL_ID_FILE to one path every rank can read (a fresh one per launch)');
  const timeoutMs = env.REDRAFT_NCCL_TIMEOUT_S !== undefined ? int('REDRAFT_NCCL_TIMEOUT_S', env.REDRAFT_NCCL_TIMEOUT_S, 1, 86400) * 1000 : 120_000;
  return { rank, size, idFile: path.resolve(idFile), timeoutMs };
}

/** The engine a rank runs: DIR/rank<R>.engine. */
export function rankEngineFile(dir: string, rank: number): string {
  return path.join(dir, `rank${rank}.engine`);
}

/** Rank 0: a fresh id, written atomically. Others: the id rank 0 wrote, waited for. */
async function uniqueId(addon: NcclAddon, l: TpLaunch, lib?: string): Promise<Uint8Array> {
  if (l.rank === 0) {
    const id = addon.ncclUniqueId(lib);
    const tmp = `${l.idFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, id);
    fs.renameSync(tmp, l.idFile);
    return id;
  }
  const until = Date.now() + l.timeoutMs;
  for (;;) {
    try {
      const b = fs.readFileSync(l.idFile);
      if (b.byteLength === ID_BYTES) return new Uint8Array(b);
      throw new UsageError(`${l.idFile} holds ${b.byteLength} bytes, not an NCCL unique id (${ID_BYTES})`, 'use a fresh REDRAFT_NCCL_ID_FILE per launch');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (Date.now() > until) throw new RedraftError(`rank ${l.rank}: rank 0 wrote no NCCL unique id to ${l.idFile} within ${l.timeoutMs / 1000} s`, { exitCode: 3, hint: 'start rank 0 with the same REDRAFT_NCCL_ID_FILE (or raise REDRAFT_NCCL_TIMEOUT_S)' });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** This rank's communicator: the unique id exchanged through the id file, then ncclCommInitRank (waits for every rank). */
export async function ncclCommunicator(addon: NcclAddon, l: TpLaunch, lib?: string): Promise<NcclCommunicator> {
  const id = await uniqueId(addon, l, lib);
  let comm: NcclCommunicator;
  try {
    comm = await addon.ncclInitRank(id, l.size, l.rank, lib);
  } catch (e) {
    throw new RedraftError(`rank ${l.rank} of ${l.size}: ${(e as Error).message}`, { exitCode: 3, hint: 'check NCCL (NCCL_LIB or LD_LIBRARY_PATH) and that every rank runs with the same REDRAFT_TP_SIZE and REDRAFT_NCCL_ID_FILE' });
  }
  if (comm.rank !== l.rank || comm.size !== l.size) throw new RedraftError(`NCCL made rank ${comm.rank} of ${comm.size}, the launch asked for rank ${l.rank} of ${l.size}`, { exitCode: 3 });
  return comm;
}

/** The part of a tensor-parallel build's config.json a rank reads (bin/commands/build-tp.ts writes it). */
export interface TpRecord {
  tensorParallel?: { size: number; ranks: { rank: number; io?: { inputs: IoEntry[]; outputs: IoEntry[] } }[] };
}

/**
 * This process's rank of a tensor-parallel TensorRT build in `dir`, per the launch contract above:
 * DIR/rank<R>.engine checked against rank R's I/O table, an execution context with this rank's
 * NCCL communicator (exchanged through REDRAFT_NCCL_ID_FILE) set before the first run. `graph` is
 * rank R's graph (its in-place outputs stay on the device, as for one GPU).
 */
export async function trtRankRunner(
  dir: string,
  record: TpRecord,
  graph: Graph,
  launch: TpLaunch,
  rebuild: string,
  opts: { addon: NcclAddon & RuntimeAddon; ncclLib?: string; trtVersion?: TrtVersion; log?: (severity: string, msg: string) => void },
): Promise<TrtRunner & { communicator: NcclCommunicator }> {
  const tp = record.tensorParallel;
  if (!tp) throw new UsageError(`${dir} is not a tensor-parallel build (its config.json has no tensorParallel)`, 'run it without REDRAFT_TP_SIZE, or build with --tp N');
  if (tp.size !== launch.size) throw new UsageError(`${dir} was built for --tp ${tp.size}, the launch has REDRAFT_TP_SIZE=${launch.size}`, `launch ${tp.size} processes, one per rank`);
  const io = tp.ranks.find((r) => r.rank === launch.rank)?.io;
  if (!io) throw new UsageError(`${dir} holds no engine for rank ${launch.rank} (built with --rank for other ranks)`, `build rank ${launch.rank} too: redraft build --tp ${tp.size} --rank ${launch.rank}`);
  const communicator = await ncclCommunicator(opts.addon, launch, opts.ncclLib);
  const { trtRunner } = await import('./runtime.js');
  const runner = await trtRunner(rankEngineFile(dir, launch.rank), io, graph, rebuild, opts.log, { trtVersion: opts.trtVersion, communicator, addon: opts.addon });
  return { ...runner, communicator };
}
