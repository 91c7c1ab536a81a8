/**
 * redraft's native TensorRT runtime on the TensorRT double and the CUDA-runtime double (no GPU):
 * deserialize the double's engine, bind every I/O tensor with sizes from the profile, enqueue,
 * copy back the double's pattern; a shape outside the profile, a corrupt or foreign engine and
 * CUDA failures give the reason (and, through the CLI, exit 2 / 3); `generate --engine DIR
 * --backend trt` and `doctor --smoke` run end to end on the doubles. The double does not run the
 * network: outputs are its pattern, so these tests check the plumbing (shapes, calls, copy
 * sizes), not tokens.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, buildDouble, addonOf, buildWith, ROOT, TAGS, type DoubleBuild } from './trt-double-util.js';
import { nativePlan } from '../builders/trt/build.js';
import { engineIoTable } from '../builders/engine-io.js';
import { checkRuntimeIo, inPlaceOutputs, outputShapes, runError, type NativeRuntimeEngine, type RuntimeAddon, type NativeTensor } from '../builders/trt/runtime.js';
import { lowerToPlan } from '../builders/trt/plan.js';
import { ncclCommunicator, tpLaunchFromEnv, trtRankRunner, type NcclAddon } from '../builders/trt/tp.js';
import { stepInputs } from './trt-double-util.js';
import { buildNetwork } from '../dsl/network.js';
import { hostTensor } from '../dsl/host.js';
import { all_gather, all_reduce, broadcast, matmul } from '../ops/index.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { allocate, dtypeSize, getNumber, type DType } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';

const LATEST = 'v11.1' as const;
const cudartOf = (b: DoubleBuild) => path.join(b.dir, 'Release', 'libredraft_cudart_double.so');

/** The double's pattern: FNV-1a 32 over the name, then the index as 8 little-endian bytes. */
function patternHash(name: string, i: number): number {
  let h = 2166136261;
  for (const c of Buffer.from(name, 'utf8')) h = Math.imul((h ^ c) >>> 0, 16777619) >>> 0;
  let x = BigInt(i);
  for (let b = 0; b < 8; b++, x >>= 8n) h = Math.imul((h ^ Number(x & 0xffn)) >>> 0, 16777619) >>> 0;
  return h >>> 0;
}
function expectPattern(name: string, t: { dtype: string; shape: number[]; data: ArrayBuffer }): void {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const dt = t.dtype as DType;
  expect(t.data.byteLength, `${name}: bytes copied back`).toBe(n * dtypeSize(dt));
  const arr = new (dt === 'float32' ? Float32Array : dt === 'int64' ? BigInt64Array : dt === 'int32' ? Int32Array : dt === 'float16' || dt === 'bfloat16' ? Uint16Array : dt === 'int8' ? Int8Array : Uint8Array)(t.data);
  for (let i = 0; i < n; i++) {
    const h = patternHash(name, i);
    const want = dt === 'float32' || dt === 'float16' || dt === 'bfloat16' ? ((h % 256) - 128) / 256 : h % 2;
    const got = getNumber(dt, arr as never, i);
    if (got !== want) throw new Error(`${name}[${i}] is ${got}, the pattern is ${want}`);
  }
}

function stepGraph(dtype: 'float32' | 'float16' | 'bfloat16' = 'float16'): Graph {
  return redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' }).build({ dtype, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 });
}
/** Inputs at the profile's `at` point (zeros). */
function inputsAt(engine: NativeRuntimeEngine, at: 'min' | 'opt' | 'max'): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const x of engine.io)
    if (x.mode === 'input') {
      const shape = x.profile ? x.profile[at] : x.shape;
      out[x.name] = { dtype: x.dtype as DType, shape, data: allocate(x.dtype as DType, shape.reduce((a, b) => a * b, 1)) };
    }
  return out;
}
const bytesOf = (t: HostTensor) => t.shape.reduce((a, b) => a * b, 1) * dtypeSize(t.dtype);

let b: DoubleBuild;
let addon: RuntimeAddon;
let graph: Graph;
let engineBytes: Uint8Array;

beforeAll(async () => {
  b = buildDouble(LATEST);
  addon = addonOf(b) as unknown as RuntimeAddon;
  const libs = addon.loadRuntime(b.lib, cudartOf(b));
  expect(libs.ok, libs.error).toBe(true);
  expect(libs.tensorrt.double && libs.cuda.double, 'both doubles are recognised as doubles').toBe(true);
  expect(libs.cuda.devices).toBe(1);
  graph = stepGraph('float16');
  const built = await buildWith(addonOf(b), nativePlan(graph));
  engineBytes = new Uint8Array(built.engine.arrayBuffer().slice(0));
});

describe('the native TensorRT runtime on the doubles', () => {
  it('deserializes the double engine of the ReDrafter step graph; its I/O and profile are the build\'s config.json table', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    expect(engine.tensorrtDouble).toBe(true);
    const table = engineIoTable(graph);
    expect(engine.io.filter((x) => x.mode === 'input').map((x) => x.name)).toEqual(table.inputs.map((x) => x.name));
    expect(engine.io.filter((x) => x.mode === 'output').map((x) => x.name)).toEqual(table.outputs.map((x) => x.name));
    for (const x of engine.io) {
      const e = [...table.inputs, ...table.outputs].find((y) => y.name === x.name)!;
      expect(x.dtype, x.name).toBe(e.dtype);
      expect(x.shape.length, x.name).toBe(e.shape.length);
      if (x.mode === 'input') {
        expect(x.profile, `${x.name} has a profile`).toBeDefined();
        e.shape.forEach((d, k) => {
          if (typeof d === 'number') expect([x.shape[k], x.profile!.min[k], x.profile!.max[k]]).toEqual([d, d, d]);
          else if (e.ranges[d]) expect([x.profile!.min[k], x.profile!.opt[k], x.profile!.max[k]], `${x.name} dim ${k}`).toEqual([e.ranges[d].min, e.ranges[d].opt, e.ranges[d].max]);
        });
      }
    }
    expect(() => checkRuntimeIo(engine.io, table, 'rank0.engine', 'redraft build ...')).not.toThrow();
    // Another table (a renamed output, another dtype) is refused, naming what differs.
    const o0 = table.outputs[0];
    const other = { inputs: table.inputs, outputs: [{ ...o0, dtype: o0.dtype === 'bool' ? 'int8' : 'bool' }, ...table.outputs.slice(1), { ...o0, name: 'extra' }] };
    expect(() => checkRuntimeIo(engine.io, other, 'rank0.engine', 'redraft build ...')).toThrow(new RegExp(`output '${o0.name}' is ${o0.dtype} in the engine, \\w+ in config.json; config.json has output 'extra', the engine does not`));
  });

  it('binds every I/O tensor at the profile maximum and minimum, enqueues, and copies back the pattern at the graph\'s output shapes', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    const ctx = engine.createContext();
    const nIn = engine.io.filter((x) => x.mode === 'input').length;
    const afterCreate = ctx.stats();
    // Input buffers are allocated once, at the profile's maximum, when the context is created.
    const maxIn = inputsAt(engine, 'max');
    expect(afterCreate.allocations).toBe(nIn);
    expect(afterCreate.deviceBytes).toBe(Object.values(maxIn).reduce((a, t) => a + Math.max(256, bytesOf(t)), 0));
    for (const at of ['max', 'min', 'opt'] as const) {
      const inputs = inputsAt(engine, at);
      const shapes = outputShapes(graph, inputs);
      expect(Object.keys(shapes).length, 'every output shape follows from the inputs').toBe(graph.outputs.length);
      const before = ctx.stats();
      const r = await ctx.run(inputs as unknown as Record<string, NativeTensor>, shapes);
      for (const o of graph.outputs) {
        const t = r.outputs[o.name];
        expect(t.shape, `${o.name} at the profile ${at}`).toEqual(shapes[o.name]);
        expect(t.dtype).toBe(graph.tensors[o.id].dtype);
        expectPattern(o.name, t);
      }
      // One copy in per non-empty input, one copy out per non-empty output, exactly their bytes.
      const inBytes = Object.values(inputs).map(bytesOf), outBytes = Object.values(r.outputs).map((t) => t.data.byteLength);
      expect(r.stats).toMatchObject({
        runs: 1, enqueues: 1, setInputShape: nIn, setTensorAddress: engine.io.length,
        h2dCopies: inBytes.filter((x) => x > 0).length, h2dBytes: inBytes.reduce((a, x) => a + x, 0),
        d2hCopies: outBytes.filter((x) => x > 0).length, d2hBytes: outBytes.reduce((a, x) => a + x, 0),
      });
      const s = ctx.stats();
      expect(s.runs - before.runs).toBe(1);
      // The double leaves every dynamic output dim to the caller (it infers no shapes at run time).
      expect(r.stats.shapesFromCaller).toBeGreaterThan(0);
    }
    // Inputs never reallocate below the maximum; outputs were allocated on the first run (at the maximum) only.
    expect(ctx.stats().allocations).toBe(nIn + graph.outputs.length);
    ctx.release();
    await expect(ctx.run(inputsAt(engine, 'min') as never)).rejects.toThrow(/released/);
  });

  it('keeps state on the device: an output kept on the device feeds the next run\'s input with a device copy, not through the host', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    const ctx = engine.createContext();
    const inputs = inputsAt(engine, 'opt');
    const first = await ctx.run(inputs as never, outputShapes(graph, inputs), { keepOnDevice: ['next_beams'] });
    const nb = first.outputs.next_beams;
    expect(nb).toMatchObject({ device: true, dtype: 'int64' });
    expect(nb.data).toBeUndefined();
    const hostOut = Object.values(first.outputs).filter((t) => t.data).reduce((a, t) => a + t.data!.byteLength, 0);
    expect(first.stats.d2hBytes, 'the kept output is not copied to the host').toBe(hostOut);
    const beamsBytes = nb.shape.reduce((a, x) => a * x, 1) * 8;
    expect(nb.shape).toEqual(inputs.beams.shape);
    const next = { ...inputs, beams: { device: 'next_beams' } };
    const second = await ctx.run(next as never, outputShapes(graph, inputs));
    expect(second.stats).toMatchObject({ d2dCopies: 1, d2dBytes: beamsBytes, h2dBytes: Object.values(inputs).reduce((a, t) => a + bytesOf(t), 0) - beamsBytes });
    expectPattern('next_beams', second.outputs.next_beams as never);
    // Only the last run's kept outputs can feed an input.
    await expect(ctx.run(next as never, outputShapes(graph, inputs))).rejects.toThrow(/output 'next_beams' was not kept on the device by the last run/);
    await expect(ctx.run({ ...inputs, input_ids: { device: 'next_beams' } } as never)).rejects.toThrow(/not kept on the device/);
  });

  it('trtRunner keepOnDevice: next_log_probs stays on the device (not copied to the host unless read; read, it is the output), in-place caches too', async () => {
    const g = stepGraph('float16');
    const built = await buildWith(addonOf(b), nativePlan(g, lowerToPlan(g, { trtVersion: { major: 11, minor: 1 } })));
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-keep-'));
    try {
      const file = path.join(root, 'rank0.engine');
      fs.writeFileSync(file, new Uint8Array(built.engine.arrayBuffer().slice(0)));
      const { trtRunner } = await import('../builders/trt/runtime.js');
      const r = await trtRunner(file, engineIoTable(g), g, 'redraft build ...', undefined, { addon, trtVersion: { major: 11, minor: 1 }, keepOnDevice: ['next_log_probs', 'not_an_output'] });
      const inputs = inputsAt(r.engine, 'opt');
      const stats = () => r.context.stats() as unknown as { d2hBytes: number };
      const before = stats().d2hBytes;
      const out = await r.run(g, inputs);
      const resident = ['next_log_probs', ...Object.keys(g.aliases ?? {})];
      const hostBytes = Object.entries(out).filter(([n]) => !resident.includes(n)).reduce((a, [, t]) => a + bytesOf(t), 0);
      expect(stats().d2hBytes - before, 'only the outputs the host reads crossed to it').toBe(hostBytes);
      const lp = out.next_log_probs!;
      const lpBytes = bytesOf(lp);
      expect(lpBytes).toBeGreaterThan(0);
      // Read on demand: one copy of exactly its bytes, and it is the engine's output.
      const data = lp.data as Float32Array;
      expect(stats().d2hBytes - before).toBe(hostBytes + lpBytes);
      expectPattern('next_log_probs', { dtype: lp.dtype, shape: lp.shape, data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer });
      // Fed back (sampling: prev_log_probs) it is a device copy; after the next run it is gone.
      await r.run(g, inputs);
      expect(() => lp.data).toThrow(/overwritten on the device by the next one/);
      r.context.release();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('in-place outputs (Graph.aliases): an 11.1 engine\'s KV-cache outputs share their caches\' device buffers (TensorRT refuses otherwise), and fed back they cost no copy; a decomposed update is copied on the device', async () => {
    const g = stepGraph('float16');
    const layers = tinyLlama().config.num_hidden_layers;
    const built = await buildWith(addonOf(b), nativePlan(g, lowerToPlan(g, { trtVersion: { major: 11, minor: 1 } })));
    expect(built.record.layers.some((l) => l.method === 'addKVCacheUpdate')).toBe(true);
    const engine = await addon.deserializeEngine(new Uint8Array(built.engine.arrayBuffer().slice(0)));
    const { bound, copied } = inPlaceOutputs(g, engine.io, { major: 11, minor: 1 });
    expect(Object.keys(bound).sort()).toEqual(Array.from({ length: layers }, (_, l) => [`k_cache_${l}_out`, `v_cache_${l}_out`]).flat().sort());
    expect(bound.k_cache_0_out).toBe('k_cache_0');
    expect(copied).toEqual({});
    const inputs = inputsAt(engine, 'opt');
    // Unbound, TensorRT (the double) refuses: NvInfer.h requires the output at the cache's address.
    await expect(engine.createContext().run(inputs as never, outputShapes(g, inputs))).rejects.toThrow(/IKVCacheUpdateLayer output '[kv]_cache_\d+_out' must share the device memory of its cache input '[kv]_cache_\d+'/);
    const ctx = engine.createContext({ aliases: bound });
    const keep = Object.keys(bound);
    const first = await ctx.run(inputs as never, outputShapes(g, inputs), { keepOnDevice: keep });
    expect(first.stats.inPlace, 'each in-place output bound to its input').toBe(keep.length);
    for (const o of keep) expect(first.outputs[o]).toMatchObject({ device: true, shape: inputs[bound[o]].shape });
    const total = Object.values(inputs).reduce((a, t) => a + bytesOf(t), 0);
    const caches = keep.reduce((a, o) => a + bytesOf(inputs[bound[o]]), 0);
    const next = { ...inputs, ...Object.fromEntries(keep.map((o) => [bound[o], { device: o }])) };
    const second = await ctx.run(next as never, outputShapes(g, inputs), { keepOnDevice: keep });
    expect(second.stats).toMatchObject({ d2dCopies: 0, d2dBytes: 0, inPlace: 2 * keep.length, h2dBytes: total - caches });
    // The cache buffer is the state: the double wrote its pattern there, as the output's.
    const k0 = second.outputs.k_cache_0_out;
    expectPattern('k_cache_0_out', { dtype: k0.dtype, shape: k0.shape, data: ctx.readKept('k_cache_0_out') });
    expect(() => engine.createContext({ aliases: { nope: 'k_cache_0' } })).toThrow(/aliases: 'nope' is not an output of the engine/);
    expect(() => engine.createContext({ aliases: { next_beams: 'k_cache_0' } })).toThrow(/output 'next_beams' int64\[.*\] cannot live in input 'k_cache_0' float16/);
    // Lowered for 10.9 (a decomposed update writes a new tensor): kept on the device and copied, never aliased.
    const old = inPlaceOutputs(g, engine.io, { major: 10, minor: 9 });
    expect([old.bound, Object.keys(old.copied).length]).toEqual([{}, keep.length]);
  });

  it('rejects a shape outside the profile naming the input and the dim (exit 2), and a wrong dtype or byte count', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    const ctx = engine.createContext();
    const inputs = inputsAt(engine, 'max');
    const ids = inputs.input_ids;
    const tooMany = { ...inputs, input_ids: { dtype: ids.dtype, shape: [ids.shape[0] + 1, ids.shape[1]], data: allocate('int64', (ids.shape[0] + 1) * ids.shape[1]) } };
    let err: unknown;
    await ctx.run(tooMany as never).catch((e) => (err = e));
    expect((err as { code: string }).code).toBe('PROFILE');
    expect((err as Error).message).toMatch(/input 'input_ids' \[3, \d+\]: dim 0 = 3 is outside the engine's optimization profile \[1, 2\]/);
    const mapped = runError(err, 'rank0.engine') as Error & { exitCode: number };
    expect(mapped.exitCode).toBe(2);
    await expect(ctx.run({ ...inputs, input_ids: { ...ids, dtype: 'int32' } } as never)).rejects.toThrow(/input 'input_ids' is int32, the engine's is int64/);
    await expect(ctx.run({ ...inputs, input_ids: { ...ids, data: new BigInt64Array(1) } } as never)).rejects.toThrow(/needs \d+ bytes, its data has 8/);
    const { is_context: _, ...missing } = inputs;
    await expect(ctx.run(missing as never)).rejects.toThrow(/input 'is_context' is missing/);
    // The context is still usable after refused calls.
    const r = await ctx.run(inputs as never, outputShapes(graph, inputs));
    expect(r.stats.enqueues).toBe(1);
  });

  it('TensorRT\'s reasons: a corrupt file, an engine of another TensorRT version, another GPU (code ENGINE)', async () => {
    const fail = async (bytes: Uint8Array) => addon.deserializeEngine(bytes).then(() => { throw new Error('deserialized'); }, (e: Error & { code: string }) => e);
    const corrupt = await fail(new Uint8Array(Buffer.from('not an engine at all')));
    expect(corrupt.code).toBe('ENGINE');
    expect(corrupt.message).toMatch(/cannot deserialize the engine: .*Magic tag does not match/);
    // The engine of the 10.16 double, deserialized by the 11.1 runtime.
    const old = buildDouble('v10.16');
    const built = await buildWith(addonOf(old), nativePlan(stepGraph('float32')));
    const foreign = await fail(new Uint8Array(built.engine.arrayBuffer().slice(0)));
    expect(foreign.code).toBe('ENGINE');
    expect(foreign.message).toMatch(/not compatible with this version of TensorRT, expecting library version 11\.1\.\d+ got 10\.16\.\d+, please rebuild/);
    process.env.REDRAFT_TRT_DOUBLE_FAIL = 'device';
    try {
      const device = await fail(engineBytes);
      expect(device.message).toMatch(/generated on an incompatible device/);
    } finally {
      delete process.env.REDRAFT_TRT_DOUBLE_FAIL;
    }
  });

  it('CUDA failures (copy, synchronize, allocation) reject the run with the CUDA runtime\'s reason; the next run works', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    const ctx = engine.createContext();
    const inputs = inputsAt(engine, 'opt');
    for (const [fault, re] of [['memcpy', /copying input '\w+' to the device .* failed: unspecified launch failure/], ['sync', /cudaStreamSynchronize failed/], ['malloc', /cudaMalloc of \d+ bytes for '\w+' failed: out of memory/]] as const) {
      if (fault === 'malloc') inputs.k_cache_0 = { ...inputs.k_cache_0 }; // outputs are grown on demand: a fresh context allocates them
      const c = fault === 'malloc' ? engine.createContext() : ctx;
      process.env.REDRAFT_CUDA_DOUBLE_FAIL = fault;
      let err: (Error & { code: string }) | undefined;
      try {
        await c.run(inputs as never, outputShapes(graph, inputs)).catch((e) => (err = e));
      } finally {
        delete process.env.REDRAFT_CUDA_DOUBLE_FAIL;
      }
      expect(err?.code, fault).toBe('CUDA');
      expect(err!.message, fault).toMatch(re);
      expect((runError(err, 'rank0.engine') as Error & { exitCode: number }).exitCode).toBe(3);
    }
    const r = await ctx.run(inputs as never, outputShapes(graph, inputs));
    expect(r.stats.enqueues).toBe(1);
  });

  it('runs off the main thread and can be interrupted: the event loop runs during a run, cancel() rejects it as INTERRUPTED', async () => {
    const engine = await addon.deserializeEngine(engineBytes);
    const ctx = engine.createContext();
    const inputs = inputsAt(engine, 'opt');
    process.env.REDRAFT_CUDA_DOUBLE_SYNC_MS = '400'; // the CUDA double's stream takes 400 ms to drain
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 20);
      const t0 = performance.now();
      const p = ctx.run(inputs as never, outputShapes(graph, inputs));
      await new Promise((r) => setTimeout(r, 100));
      await expect(ctx.run(inputs as never, outputShapes(graph, inputs))).rejects.toThrow(/a run of this execution context is in progress/);
      ctx.cancel();
      const err = await p.then(() => undefined, (e: Error & { code: string }) => e);
      clearInterval(timer);
      expect(err?.code).toBe('INTERRUPTED');
      expect((runError(err, 'rank0.engine') as Error & { exitCode: number }).exitCode).toBe(130);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(350);
      expect(ticks, 'the main thread was free while the run waited on its stream').toBeGreaterThanOrEqual(5);
    } finally {
      delete process.env.REDRAFT_CUDA_DOUBLE_SYNC_MS;
    }
    // The context runs again afterwards.
    expect((await ctx.run(inputs as never, outputShapes(graph, inputs))).stats.enqueues).toBe(1);
  });

  it('the runtime compiles against every header set: each addon deserializes its own double\'s engine', async () => {
    for (const t of TAGS) {
      const bt = buildDouble(t);
      const a = addonOf(bt) as unknown as RuntimeAddon;
      expect(a.runtimeCompiled).toBe(true);
      expect(a.loadRuntime(bt.lib, cudartOf(bt)).tensorrt.ok, t).toBe(true);
    }
  });
});

describe('tensor-parallel engines: one process per rank, an NCCL communicator from a dlopen\'ed libnccl, setCommunicator (10.16+)', () => {
  const ncclOf = (x: DoubleBuild) => path.join(x.dir, 'Release', 'libredraft_nccl_double.so');
  /** Rank `rank` of 2: all-reduce, all-gather and broadcast over communicator ranks [0, 1]. */
  const rankGraph = (rank: number) =>
    buildNetwork(`tp${rank}`, (net) => {
      net.rank = rank;
      const x = net.input('x', 'float32', [2, 4]);
      const part = matmul(x, net.constant(new Float32Array(8).fill(0.5 + rank), 'float32', [4, 2], 'w'));
      net.markOutput(all_reduce(part, { group: [0, 1] }), 'sum');
      net.markOutput(all_gather(part, { group: [0, 1] }), 'gathered');
      net.markOutput(broadcast(part, { group: [0, 1], root: 1 }), 'from1');
    });
  const x = { x: hostTensor('float32', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]) };

  it('the unique id goes from rank 0 to the others through REDRAFT_NCCL_ID_FILE; each rank engine runs only with a communicator holding its collectives\' group', async () => {
    const nccl = ncclOf(b);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tp-'));
    try {
      const idFile = path.join(dir, 'nccl.id');
      const env = (rank: number) => ({ REDRAFT_TP_SIZE: '2', REDRAFT_TP_RANK: String(rank), REDRAFT_NCCL_ID_FILE: idFile });
      const a = addon as unknown as NcclAddon;
      // Rank 1 starts first and waits for rank 0's id file.
      const pending1 = ncclCommunicator(a, tpLaunchFromEnv(env(1))!, nccl);
      const c0 = await ncclCommunicator(a, tpLaunchFromEnv(env(0))!, nccl);
      const c1 = await pending1;
      expect([c0.rank, c0.size, c1.rank, c1.size, c0.double, c1.double]).toEqual([0, 2, 1, 2, true, true]);
      expect(fs.readFileSync(idFile).byteLength).toBe(128);
      for (const [r, comm] of [[0, c0], [1, c1]] as const) {
        const g = rankGraph(r);
        const built = await buildWith(addonOf(b), nativePlan(g, lowerToPlan(g, { trtVersion: { major: 11, minor: 1 } })));
        expect(built.record.layers.filter((l) => l.method === 'addDistCollective')).toHaveLength(3);
        const engine = await addon.deserializeEngine(new Uint8Array(built.engine.arrayBuffer().slice(0)));
        const ctx = engine.createContext();
        await expect(ctx.run(x as never, outputShapes(g, x))).rejects.toThrow(/IDistCollectiveLayer 'all_reduce\S*' needs an NCCL communicator: call IExecutionContext::setCommunicator before enqueueV3/);
        ctx.setCommunicator(comm);
        const res = await ctx.run(x as never, outputShapes(g, x));
        expect(res.stats.enqueues).toBe(1);
        expect(res.outputs.gathered.shape).toEqual([4, 2]);
        // A communicator of one rank cannot serve a group of two.
        const one = await a.ncclInitRank(a.ncclUniqueId(nccl), 1, 0, nccl);
        const small = engine.createContext();
        small.setCommunicator(one);
        await expect(small.run(x as never, outputShapes(g, x))).rejects.toThrow(/has rank 1 in its group, the communicator only 1 ranks/);
      }
      // The launch contract's refusals.
      expect(() => tpLaunchFromEnv({ ...env(0), REDRAFT_TP_RANK: '2' })).toThrow(/REDRAFT_TP_RANK=2 is not an integer in \[0, 1\]/);
      expect(() => tpLaunchFromEnv({ REDRAFT_TP_SIZE: '2', REDRAFT_TP_RANK: '1' })).toThrow(/REDRAFT_NCCL_ID_FILE is not set/);
      expect(tpLaunchFromEnv({})).toBeUndefined();
      await expect(ncclCommunicator(a, { rank: 1, size: 2, idFile: path.join(dir, 'never'), timeoutMs: 200 }, nccl)).rejects.toThrow(/rank 0 wrote no NCCL unique id to .*never within 0\.2 s/);
      await expect(a.ncclInitRank(new Uint8Array(128), 2, 0, nccl)).rejects.toThrow(/ncclCommInitRank\(nranks 2, rank 0\) failed: invalid usage/);
      await expect(a.ncclInitRank(a.ncclUniqueId(nccl), 2, 2, nccl)).rejects.toThrow(/rank 2 is not in \[0, 2\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trtRankRunner: each rank process loads rank<R>.engine against its own I/O table, joins the communicator and runs the step with its caches in place', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tp-dir-'));
    try {
      const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
      const graphs = [0, 1].map((rank) => def.build({ dtype: 'float16', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64, tp: { rank, size: 2 } } as never));
      for (const [r, g] of graphs.entries()) {
        const built = await buildWith(addonOf(b), nativePlan(g, lowerToPlan(g, { trtVersion: { major: 11, minor: 1 } })));
        fs.writeFileSync(path.join(dir, `rank${r}.engine`), new Uint8Array(built.engine.arrayBuffer()));
      }
      const record = { tensorParallel: { size: 2, ranks: graphs.map((g, rank) => ({ rank, io: engineIoTable(g) })) } };
      const launch = (rank: number) => tpLaunchFromEnv({ REDRAFT_TP_SIZE: '2', REDRAFT_TP_RANK: String(rank), REDRAFT_NCCL_ID_FILE: path.join(dir, 'nccl.id') })!;
      const opts = { addon: addon as unknown as NcclAddon & RuntimeAddon, ncclLib: ncclOf(b), trtVersion: { major: 11, minor: 1 } };
      const runners = await Promise.all([1, 0].map((r) => trtRankRunner(dir, record, graphs[r], launch(r), 'redraft build --tp 2', opts)));
      for (const runner of runners) {
        const r = runner.communicator.rank;
        const g = graphs[r];
        expect(runner.communicator.size).toBe(2);
        expect(Object.keys(runner.inPlace).length).toBe(2 * tinyLlama().config.num_hidden_layers);
        const inputs = stepInputs(g);
        const first = await runner.run(g, inputs);
        const fed = Object.fromEntries(Object.entries(runner.inPlace).map(([o, i]) => [i, first[o]]));
        await runner.run(g, { ...inputs, ...fed });
        // Fed back untouched, the caches never crossed: every in-place output bound both times, each cache input in place the second time.
        const st = runner.context.stats();
        const n = Object.keys(runner.inPlace).length;
        expect([st.inPlace, st.d2dCopies, st.enqueues]).toEqual([3 * n, 0, 2]);
        expect(first.k_cache_0_out.shape).toEqual(inputs.k_cache_0.shape);
      }
      await expect(trtRankRunner(dir, record, graphs[0], { ...launch(0), size: 3 }, 'x', opts)).rejects.toThrow(/built for --tp 2, the launch has REDRAFT_TP_SIZE=3/);
      await expect(trtRankRunner(dir, {}, graphs[0], launch(0), 'x', opts)).rejects.toThrow(/not a tensor-parallel build/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('headers before 10.16 have no setCommunicator: refused naming the version', async () => {
    const old = buildDouble('v10.9.0');
    const a = addonOf(old) as unknown as RuntimeAddon & NcclAddon;
    expect(a.loadRuntime(old.lib, cudartOf(old)).ok).toBe(true);
    const g = buildNetwork('plain', (net) => net.markOutput(matmul(net.input('x', 'float32', [2, 4]), net.constant(new Float32Array(8).fill(1), 'float32', [4, 2])), 'y'));
    const built = await buildWith(addonOf(old), nativePlan(g));
    const engine = await a.deserializeEngine(new Uint8Array(built.engine.arrayBuffer().slice(0)));
    const comm = await a.ncclInitRank(a.ncclUniqueId(ncclOf(old)), 1, 0, ncclOf(old));
    expect(() => engine.createContext().setCommunicator(comm)).toThrow(/setCommunicator needs TensorRT 10\.16 or newer; this runtime was compiled against TensorRT 10\.9\.\d+ headers/);
  });
});

describe('--backend trt through the CLI on the doubles', () => {
  const run = runCli;
  const envOf = () => ({ REDRAFT_NATIVE_ADDON: b.addonPath, TENSORRT_LIB: b.lib, CUDA_LIB: cudartOf(b) });

  it('generate --engine DIR --backend trt runs end to end through the runtime; a corrupt engine and another GPU are exit 3 with TensorRT\'s reason; beyond the profile is exit 2', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-trt-runtime-'));
    const dir = path.join(root, 'trt');
    try {
      const built = await run(['build', '--model', 'tiny-redrafter', '--target', 'trt', '--out', dir, '--max-batch', '2', '--max-seq', '32', '-q'], envOf());
      expect(built.code, built.stderr).toBe(0);
      // The engine is lowered for the 11.1 headers: its caches are updated by IKVCacheUpdateLayer,
      // and the runtime double refuses an enqueue whose in-place outputs do not share their
      // caches' addresses. The context call runs (bound in place); the double's outputs are its
      // pattern, not the model's, so the host's own check of next_cache_lengths (the loop counts
      // every row's tokens) then refuses them: the plumbing up to there is what this shows.
      const g = await run(['generate', '--engine', dir, '--backend', 'trt', '--prompt-ids', '5,6,7,8;9,10', '--max-length', '14', '--json'], envOf());
      expect(g.stderr).toMatch(/double: outputs are the double's pattern, not the model's/);
      expect(g.stderr).not.toMatch(/must share the device memory|not kept on the device|TensorRT run failed/);
      expect(g.stderr, 'the call ran and returned the pattern as next_cache_lengths').toMatch(/the engine broke the KV contract at step \d+: row \d+'s next_cache_lengths is \d+, the host counted \d+ tokens/);
      expect(g.code, 'a contract violation is exit 4, not an internal error').toBe(4);
      expect(g.stderr).not.toMatch(/internal error/);
      // Beyond the build's --max-seq: exit 2 naming the limit (checked before the engine runs).
      const long = await run(['generate', '--engine', dir, '--backend', 'trt', '--prompt-ids', '5,6', '--max-length', '40'], envOf());
      expect(long.code, long.stderr).toBe(2);
      expect(long.stderr).toMatch(/--max-seq 32/);
      // Another GPU: TensorRT's reason, exit 3.
      const gpu = await run(['generate', '--engine', dir, '--backend', 'trt', '--prompt-ids', '5,6', '--max-length', '8'], { ...envOf(), REDRAFT_TRT_DOUBLE_FAIL: 'device' });
      expect(gpu.code, gpu.stderr).toBe(3);
      expect(gpu.stderr).toMatch(/rank0\.engine: TensorRT \S+ cannot deserialize the engine: .*incompatible device/);
      expect(gpu.stderr).toMatch(/rebuild it on this machine/);
      // No CUDA runtime: exit 3 naming CUDA_LIB.
      const nocuda = await run(['generate', '--engine', dir, '--backend', 'trt', '--prompt-ids', '5,6', '--max-length', '8'], { ...envOf(), CUDA_LIB: '/nonexistent/libcudart.so.12', LD_LIBRARY_PATH: '/nonexistent' });
      expect(nocuda.code, nocuda.stderr).toBe(3);
      expect(nocuda.stderr).toMatch(/CUDA/);
      // A corrupt engine file: TensorRT's reason, exit 3.
      fs.writeFileSync(path.join(dir, 'rank0.engine'), 'garbage');
      const bad = await run(['generate', '--engine', dir, '--backend', 'trt', '--prompt-ids', '5,6', '--max-length', '8'], envOf());
      expect(bad.code, bad.stderr).toBe(3);
      expect(bad.stderr).toMatch(/Magic tag does not match/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('doctor names the doubles as doubles (no GPU)', async () => {
    const r = await run(['doctor'], envOf());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/CUDA runtime +\S+libredraft_cudart_double\.so \(CUDA [\d.]+, 1 device\(s\), redraft's double: no GPU\)/);
    expect(r.stdout).toMatch(/can run engines +yes \(on redraft's doubles: the plumbing only, not a GPU\)/);
    const j = JSON.parse((await run(['doctor', '--json'], envOf())).stdout);
    expect(j.runtime).toMatchObject({ ok: true, tensorrt: { double: true }, cuda: { double: true, devices: 1 } });
  });

  it('doctor --smoke with the doubles runs the TensorRT part through the runtime but never reports it as a GPU pass', async () => {
    const r = await run(['doctor', '--smoke', '--json'], envOf());
    const doc = JSON.parse(r.stdout);
    const trt = doc.smoke.find((p: { name: string }) => /^TensorRT/.test(p.name));
    expect(trt, r.stdout).toBeDefined();
    // Skipped as a double's run: the host's contract check refuses the double's pattern outputs,
    // and smoke says so instead of failing or passing.
    expect(trt.status, trt.detail).toBe('skipped');
    expect(trt.detail).toMatch(/caches bound in place until the host's contract check refused the pattern on redraft's TensorRT double/);
    expect(trt.detail).toMatch(/not a GPU result/);
  });
});
