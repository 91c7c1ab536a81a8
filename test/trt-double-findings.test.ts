/**
 * The bridge findings of issue 13, each against the TensorRT double (see trt-double.test.ts):
 * what TensorRT rejects is a clean error naming the layer and the model line, never a crash or
 * an engine file; shape-tensor inputs get their values; lifetimes, log order, engine size,
 * version checks, timing caches, plan validation, CMake's header path and doctor's CUDA flag.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork } from '../dsl/network.js';
import type { Graph } from '../dsl/ir.js';
import { hostTensor } from '../dsl/host.js';
import { parseDim } from '../dsl/dim.js';
import { runGraph } from '../builders/interp/index.js';
import { lowerToPlan } from '../builders/trt/plan.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import { nativePlan } from '../builders/trt/build.js';
import { tryNative } from '../builders/trt/native.js';
import { doctor } from '../builders/trt/doctor.js';
import { add, cumsum, exp, gather_nd, matmul, nonzero, relu, slice, softmax, sum, topk, view, gt, arange, concat, shape, cast, gather, gelu, scatter, where } from '../ops/index.js';
import { runCli, TAGS, ROOT, TRT_HEADERS, addonOf, buildDouble, buildError, buildWith, expectRecordMatchesPlan, handPlan, recordToPlan, type DoubleBuild, type Tag } from './trt-double-util.js';

const builds = new Map<Tag, DoubleBuild>();
const B = (t: Tag) => builds.get(t)!;
const LATEST: Tag = 'v10.16';

beforeAll(() => {
  for (const t of TAGS) builds.set(t, buildDouble(t));
}, 900_000);

async function withFault<T>(kinds: string, f: () => Promise<T>): Promise<T> {
  process.env.REDRAFT_TRT_DOUBLE_FAIL = kinds;
  try {
    return await f();
  } finally {
    delete process.env.REDRAFT_TRT_DOUBLE_FAIL;
  }
}

/** Every layer kind, with 'batch' ranges (the model lines are this file's). */
function model(withCumulative = true): Graph {
  return buildNetwork('every', (net) => {
    const x = net.input('x', 'float32', ['batch', 4], { batch: { min: 1, opt: 2, max: 4 } });
    const w = net.constant(new Float32Array(16).fill(0.25), 'float32', [4, 4], 'w');
    const y = softmax(gelu(relu(exp(matmul(x, w)))), -1);
    const idx = net.constant([0, 2], 'int64', [2]);
    const g = gather(view(y, concat([shape(x, 0), 1, 4])), 2, view(cast(topk(y, 2)[1], 'int64'), concat([shape(x, 0), 1, 2])));
    const s = slice(y, [0, 1], [shape(x, 0), 4], undefined, 'fill', 2);
    const r = sum(add(s, 1), 1, true);
    const c = withCumulative ? cumsum(r, 1) : r;
    net.markOutput(g, 'g');
    net.markOutput(where(gt(c, 0), c, 0), 'c');
    net.markOutput(nonzero(gt(y, 0.2)), 'nz');
    net.markOutput(scatter(y, 1, view(idx, [1, 2]), net.constant([9, 9], 'float32', [1, 2])), 'sc');
    net.markOutput(gather_nd(y, view(arange(0, 1, 'int64'), [1, 1]), 0), 'nd');
  });
}

describe('a layer TensorRT rejects is a clean error naming the layer and the model line', () => {
  const kinds = ['constant', 'shape', 'shuffle', 'concatenation', 'gather', 'slice', 'elementwise', 'unary', 'activation', 'matrixmultiply', 'softmax', 'topk', 'reduce', 'select', 'fill', 'cumulative', 'cast', 'scatter', 'nonzero'];
  it.each(TAGS)('fault injection of each add* kind on %s', async (tag) => {
    const b = B(tag);
    const g = model(b.major > 10 || b.minor >= 8);
    const plan = nativePlan(g);
    for (const kind of kinds) {
      if (kind === 'cumulative' && b.major === 10 && b.minor < 8) continue;
      const entry = plan.layers.find((l) => l.method.toLowerCase().replace(/^add/, '').replace(/v2$/, '') === kind)!;
      expect(entry, kind).toBeDefined();
      const site = g.layers.find((l) => l.name === entry.name)!.site!;
      expect(site).toMatch(/trt-double-findings\.test\.ts:\d+:\d+/);
      const msg = await withFault(kind, () => buildError(addonOf(b), plan));
      expect(msg, `${tag} ${kind}`).toContain(`layer '${entry.name}' (${entry.method}, at ${site}): TensorRT rejected`);
      expect(msg).toMatch(/fault injection/);
    }
  });
  it('addInput, getOutput, the builder, network, config, profile and the build itself failing', async () => {
    const a = addonOf(B(LATEST));
    const plan = nativePlan(model());
    expect(await withFault('input', () => buildError(a, plan))).toMatch(/^network input 'x': TensorRT rejected addInput/);
    expect(await withFault('getoutput', () => buildError(a, plan))).toMatch(/^layer '\S+' \(\w+, at \S+\): TensorRT rejected \w+ \(output 0 is null\)/);
    expect(await withFault('builder', () => buildError(a, plan))).toMatch(/createInferBuilder failed/);
    expect(await withFault('network', () => buildError(a, plan))).toMatch(/could not create a network definition/);
    expect(await withFault('config', () => buildError(a, plan))).toMatch(/could not create a builder config/);
    expect(await withFault('profile', () => buildError(a, plan))).toMatch(/could not create an optimization profile/);
    expect(await withFault('build', () => buildError(a, plan))).toMatch(/TensorRT could not build the engine: .*fault injection/);
  });
  it('what TensorRT documents as invalid is refused with the layer named', async () => {
    const a = addonOf(B(LATEST));
    const a10 = addonOf(B('v10.9.0'));
    const a11 = addonOf(B('v11.1'));
    const x = (dims: number[], dtype = 'kFLOAT') => [{ id: 0, name: 'x', dtype, dims }];
    const one = (method: string, params: Record<string, unknown>, dtypes: string[], ranks: number[], inDims = [2, 3], inDtype = 'kFLOAT') =>
      handPlan(x(inDims, inDtype), [{ method, inputs: [0], outputs: dtypes.map((_, k) => 1 + k), params: params as never, dtypes, ranks, name: 'bad', site: 'my-model.ts:7:3' }], [{ id: 1, name: 'y' }]);
    // TopK: k <= 3840, one axis among the last four dims.
    expect(await buildError(a, one('addTopK', { op: 'kMAX', k: 4000, reduceAxes: 2 }, ['kFLOAT', 'kINT32'], [2, 2], [2, 5000]))).toMatch(/layer 'bad' \(addTopK, at my-model\.ts:7:3\): TensorRT rejected addTopK: .*k 4000 is outside \[1, 3840\]/);
    expect(await buildError(a, one('addTopK', { op: 'kMAX', k: 1, reduceAxes: 1 }, ['kFLOAT', 'kINT32'], [5, 5], [2, 2, 2, 2, 2]))).toMatch(/not among the last four dims/);
    // LINSPACE: int32, int64 or float32 output only.
    expect(await buildError(a, handPlan([], [{ method: 'addFill', inputs: [], outputs: [1], params: { dims: [3], op: 'kLINSPACE', dtype: 'kHALF', alpha: 0, beta: 1 }, dtypes: ['kHALF'], ranks: [1], name: 'ar', site: 'm.ts:1:1' }], [{ id: 1, name: 'y' }])))
      .toMatch(/layer 'ar' \(addFill, at m\.ts:1:1\): TensorRT rejected addFill: .*kLINSPACE output type 1/);
    // NonZero of an int64 input.
    expect(await buildError(a, one('addNonZero', {}, ['kINT64'], [2], [2, 3], 'kINT64'))).toMatch(/layer 'bad' \(addNonZero, at my-model\.ts:7:3\): TensorRT rejected addNonZero/);
    // Slice FILL/CLAMP on int64: rejected when the network is built, with the layer and its line.
    const sl = (mode: string) => one('addSlice', { start: [0, 0], size: [2, 4], stride: [1, 1], mode, fillValue: 1 }, ['kINT64'], [2], [2, 3], 'kINT64');
    expect(await buildError(a, sl('kFILL'))).toMatch(/TensorRT could not build the engine: .*'bad' \(addSlice\): kFILL mode does not support int64.* \(bad at my-model\.ts:7:3\)/);
    expect(await buildError(a, sl('kCLAMP'))).toMatch(/kCLAMP mode does not support int64/);
    // Tensor volume at the profile maximum: below 2^31 on 10.x, fine on 11.
    const big = handPlan([{ id: 0, name: 'kv', dtype: 'kHALF', dims: [-1, 65536, 65536], min: [1, 65536, 65536], opt: [1, 65536, 65536], max: [1, 65536, 65536] }], [{ method: 'addUnary', inputs: [0], outputs: [1], params: { op: 'kEXP' }, dtypes: ['kHALF'], ranks: [3] }], [{ id: 1, name: 'y' }]);
    expect(await buildError(a10, big)).toMatch(/input 'kv': volume 4294967296 at the profile maximum is not below 2\^31/);
    expect((await buildWith(a11, big)).record.inputs[0].name).toBe('kv');
  });
  it('plans are validated in C++ too: ranks and transposes over 8, weight byte counts, empty weights', () => {
    const a = addonOf(B(LATEST));
    const good = lowerToPlan(model());
    const withLayer = (i: number, params: Record<string, unknown>) => ({ ...good, layers: good.layers.map((l, k) => (k === i ? { ...l, params: { ...l.params, ...params } } : l)) });
    const sh = good.layers.findIndex((l) => l.method === 'addShuffle');
    expect(() => a.describePlan(withLayer(sh, { firstTranspose: [0, 1, 2, 3, 4, 5, 6, 7, 8] }))).toThrow(/firstTranspose: has 9 dims; TensorRT allows at most 8/);
    expect(() => a.describePlan(withLayer(sh, { firstTranspose: [0, 0] }))).toThrow(/is not a permutation/);
    expect(() => a.describePlan(withLayer(sh, { reshapeDims: [1, 1, 1, 1, 1, 1, 1, 1, 1] }))).toThrow(/reshapeDims: has 9 dims/);
    expect(() => a.describePlan({ ...good, inputs: [{ ...good.inputs[0], dims: [1, 1, 1, 1, 1, 1, 1, 1, 1] }] })).toThrow(/input x\.dims: has 9 dims/);
    const w0 = good.weights[0];
    expect(() => a.describePlan({ ...good, weights: [{ ...w0, data: w0.data.subarray(0, 3) }, ...good.weights.slice(1)] })).toThrow(/weights\[0\]: holds 12 bytes; shape x kFLOAT needs 64/);
    expect(() => a.describePlan({ ...good, weights: [{ ...w0, shape: [0], data: new Float32Array(0) }, ...good.weights.slice(1)] })).toThrow(/weights\[0\]: is empty/);
  });
});

describe('bridge behaviour', () => {
  it('a network input marked as an output, and one tensor under two names, get identity layers (inputs are never renamed)', async () => {
    const g = buildNetwork('io', (net) => {
      const x = net.input('x', 'float32', [2, 2]);
      const y = relu(x);
      net.markOutput(x, 'x_out');
      net.markOutput(y, 'y1');
      net.markOutput(y, 'y2');
    });
    for (const t of TAGS) {
      const plan = nativePlan(g);
      const { record } = await buildWith(addonOf(B(t)), plan);
      expectRecordMatchesPlan(record, plan, { major: B(t).major, minor: B(t).minor });
      expect(record.inputs[0].name).toBe('x');
      const xs = { x: hostTensor('float32', [2, 2], [1, -2, 3, -4]) };
      const got = executePlan(recordToPlan(record, plan.inputs), xs, g);
      expect(Array.from(got.x_out.data as Float32Array)).toEqual([1, -2, 3, -4]);
      expect(Array.from(got.y2.data as Float32Array)).toEqual([1, 0, 3, 0]);
    }
  });
  it('shape-tensor network inputs get their value ranges (setShapeValuesV2 from 10.11, setShapeValues before)', async () => {
    // y = reshape(x, dims) with dims a shape-tensor input.
    const plan = handPlan(
      [{ id: 0, name: 'x', dtype: 'kFLOAT', dims: [-1, 4], min: [1, 4], opt: [2, 4], max: [4, 4] }, { id: 1, name: 'dims', dtype: 'kINT64', dims: [2], shapeValues: { min: [2, 2], opt: [4, 2], max: [8, 2] } }],
      [{ method: 'addShuffle', inputs: [0, 1], outputs: [2], params: { reshapeDimsInput: 1, zeroIsPlaceholder: false }, dtypes: ['kFLOAT'], ranks: [2], name: 'reshape' }],
      [{ id: 2, name: 'y' }],
    );
    for (const t of TAGS) {
      const b = B(t);
      const { record } = await buildWith(addonOf(b), plan);
      expectRecordMatchesPlan(record, plan, { major: b.major, minor: b.minor });
      const v2 = b.major > 10 || b.minor >= 11;
      expect(record.calls.filter((c) => /^setShapeValues/.test(c.m)).map((c) => c.m)).toEqual(Array(3).fill(v2 ? 'setShapeValuesV2' : 'setShapeValues'));
      // Without the values TensorRT (and the double) refuse to build.
      const { shapeValues: _drop, ...noValues } = plan.inputs[1] as typeof plan.inputs[1] & { shapeValues?: unknown };
      expect(await buildError(addonOf(b), { ...plan, inputs: [plan.inputs[0], noValues] })).toMatch(/shape input 'dims' has no shape values/);
    }
  });
  it('nativePlan carries sites and the value ranges of inputs whose values the graph tracks', () => {
    const g = buildNetwork('sv', (net) => {
      const x = net.input('x', 'int64', [2], { n: { min: 1, opt: 3, max: 9 } });
      net.markOutput(add(x, 1), 'y');
    });
    g.tensors[g.inputs[0].id].values = [parseDim('n'), 4];
    const p = nativePlan(g);
    expect((p.inputs[0] as { shapeValues?: unknown }).shapeValues).toEqual({ min: [1, 4], opt: [3, 4], max: [9, 4] });
    expect((p.layers.at(-1) as { site?: string }).site).toMatch(/trt-double-findings\.test\.ts:\d+:\d+/);
  });
  it('an int64 LINSPACE gets its alpha/beta through the int64 setters', async () => {
    const plan = handPlan([], [{ method: 'addFill', inputs: [], outputs: [1], params: { dims: [4], op: 'kLINSPACE', dtype: 'kINT64', alpha: 3, beta: 2 }, dtypes: ['kINT64'], ranks: [1], name: 'ar' }], [{ id: 1, name: 'y' }]);
    for (const t of TAGS) {
      const { record } = await buildWith(addonOf(B(t)), plan);
      expectRecordMatchesPlan(record, plan, { major: B(t).major, minor: B(t).minor });
      expect(record.calls.filter((c) => c.i === 'VFillLayer').map((c) => [c.m, c.a])).toEqual([['setAlphaInt64', [3]], ['setBetaInt64', [2]]]);
    }
  });
  it('concurrent builds each get their own cumulative-axis constants', async () => {
    const a = addonOf(B(LATEST));
    const graphs = [0, 1, 0, 1, 1, 0].map((axis) =>
      buildNetwork(`c${axis}`, (net) => net.markOutput(cumsum(net.input('x', 'float32', [3, 3]), axis), 'y')),
    );
    const results = await Promise.all(graphs.map((g) => buildWith(a, nativePlan(g))));
    results.forEach((r, i) => expectRecordMatchesPlan(r.record, nativePlan(graphs[i]), { major: B(LATEST).major, minor: B(LATEST).minor }));
  });
  it('the timing cache outlives the config; a corrupt one is reported; a good one round-trips', async () => {
    const a = addonOf(B(LATEST));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tc-'));
    const cache = path.join(dir, 'timing.cache');
    const plan = nativePlan(model());
    const first = await buildWith(a, plan, { timingCache: cache });
    expect(first.logs.filter(([s]) => s === 'error')).toEqual([]);
    expect(fs.readFileSync(cache, 'utf8')).toMatch(/^RDD-TIMING-CACHE 1\n\d+/);
    const second = await buildWith(a, plan, { timingCache: cache });
    expect(second.record.config.map((c) => c.m)).toEqual(expect.arrayContaining(['createTimingCache', 'setTimingCache']));
    fs.writeFileSync(cache, 'not a timing cache');
    expect(await buildError(a, plan, { timingCache: cache })).toMatch(/timing cache '.*timing\.cache' is corrupt.*delete it or pass another --timing-cache/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('an engine of 4 GiB or more is written from C++ without an ArrayBuffer', async () => {
    const a = addonOf(B(LATEST));
    const size = 2 ** 32 + 4096;
    process.env.REDRAFT_TRT_DOUBLE_ENGINE_BYTES = String(size);
    let engine;
    try {
      engine = await a.buildEngine(nativePlan(model()), {}, () => {}, () => {});
    } finally {
      delete process.env.REDRAFT_TRT_DOUBLE_ENGINE_BYTES;
    }
    expect(engine.size).toBe(size);
    expect(() => engine.arrayBuffer()).toThrow(/over the 4 GiB a JavaScript ArrayBuffer can hold; write it with writeTo/);
    const fd = fs.openSync('/dev/null', 'w');
    engine.writeTo(fd);
    fs.closeSync(fd);
    engine.release();
    expect(() => engine.writeTo(1)).toThrow(/released/);
  });
});

describe('versions, CMake and doctor', () => {
  const probe = (addon: string, lib: string) => {
    const js = `const a=require(${JSON.stringify(addon)});const l=a.loadTensorRT(${JSON.stringify(lib)});if(!l.ok){console.log(JSON.stringify(l));process.exit(0)}
      a.buildEngine({name:'p',weights:[],inputs:[{id:0,name:'x',dtype:'kFLOAT',dims:[2],profile:{min:[2],opt:[2],max:[2]}}],layers:[{method:'addUnary',name:'u',inputs:[0],outputs:[1],params:{op:'kEXP'}}],outputs:[{id:1,name:'y'}]},{})
       .then(()=>console.log(JSON.stringify({ok:true,built:true})),e=>console.log(JSON.stringify({ok:true,built:false,error:e.message})))`;
    const r = spawnSync(process.execPath, ['-e', js], { encoding: 'utf8', env: { ...process.env, TENSORRT_LIB: '' } });
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  };
  it('only a library of the headers\' major version is accepted; within it, the handshake refuses newer headers than the library', () => {
    const r = probe(B('v10.16').addonPath, B('v11.1').lib);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/TensorRT 11\.1\.0, but the addon was compiled against TensorRT 10\.16 headers \(the major versions must match\)/);
    expect(probe(B('v11.1').addonPath, B('v10.9.0').lib).ok).toBe(false);
    const older = probe(B('v10.16').addonPath, B('v10.9.0').lib);
    expect(older).toMatchObject({ ok: true, built: false });
    expect(older.error).toMatch(/createInferBuilder failed .*compiled against TensorRT 10\.16 headers, this library is 10\.9/);
    expect(probe(B('v10.9.0').addonPath, B('v10.9.0').lib)).toMatchObject({ ok: true, built: true });
  });
  it('CMake searches the TensorRT headers on every configure: switching TENSORRT_INCLUDE_DIR takes effect', () => {
    const dir = path.join(ROOT, 'native', 'build', 'double', 'switch');
    const configure = (tag: string) => {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'configure', '--directory', path.join(ROOT, 'native'), '--out', dir], {
        cwd: ROOT, encoding: 'utf8', env: { ...process.env, TENSORRT_INCLUDE_DIR: path.join(TRT_HEADERS, tag, 'include') },
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout + r.stderr;
    };
    expect(configure('v10.9.0')).toContain(`TensorRT headers in ${path.join(TRT_HEADERS, 'v10.9.0', 'include')}`);
    expect(configure('v11.1')).toContain(`TensorRT headers in ${path.join(TRT_HEADERS, 'v11.1', 'include')}`);
    expect(fs.readFileSync(path.join(dir, 'CMakeCache.txt'), 'utf8')).not.toMatch(/NVINFER_INCLUDE|TENSORRT_INCLUDE_DIR/);
  });
  it('doctor reports the addon\'s CUDA headers from the CUDA flag, not the TensorRT one', () => {
    const n = tryNative();
    expect(n).toBeDefined();
    const cuda = fs.existsSync('/usr/local/cuda/include/cuda_runtime_api.h');
    expect(n!.info().cudaHeaders).toBe(cuda);
    expect(doctor().cuda.compiledIn).toBe(cuda);
  });
});

describe('redraft build --target trt against the double', () => {
  const MODEL = path.join(ROOT, 'test', 'trt-double-model.ts');
  const run = runCli;
  it('builds an engine (the record) and, with each layer kind failing, exits 4 naming the layer and the model line, writing no engine', async () => {
    const b = B(LATEST);
    const env = { REDRAFT_NATIVE_ADDON: b.addonPath, TENSORRT_LIB: b.lib };
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-cli-trt-'));
    const ok = await run(['build', '--model', MODEL, '--target', 'trt', '--out', path.join(root, 'ok'), '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const rec = JSON.parse(fs.readFileSync(path.join(root, 'ok', 'rank0.engine'), 'utf8'));
    expect(rec.double).toBe('redraft-trt-double');
    const src = fs.readFileSync(MODEL, 'utf8').split('\n');
    const body = [src.findIndex((l) => /buildNetwork\(/.test(l)) + 1, src.findIndex((l) => /markOutput\(sc/.test(l)) + 1];
    const kinds = ['constant', 'shape', 'shuffle', 'concatenation', 'gather', 'slice', 'elementwise', 'unary', 'activation', 'matrixmultiply', 'softmax', 'topk', 'reduce', 'select', 'fill', 'cumulative', 'cast', 'scatter', 'nonzero'];
    const results: { kind: string; r: Awaited<ReturnType<typeof run>> }[] = [];
    for (let i = 0; i < kinds.length; i += 2)
      results.push(...(await Promise.all(kinds.slice(i, i + 2).map(async (kind) => ({ kind, r: await run(['build', '--model', MODEL, '--target', 'trt', '--out', path.join(root, kind)], { ...env, REDRAFT_TRT_DOUBLE_FAIL: kind }) })))));
    for (const { kind, r } of results) {
      expect(r.code, `${kind}: ${r.stderr}`).toBe(4);
      const m = /TensorRT rejected the model: layer '\S+' \((add\w+), at test\/trt-double-model\.ts:(\d+):\d+\): TensorRT rejected/.exec(r.stderr);
      expect(m, `${kind}: ${r.stderr}`).not.toBeNull();
      expect(m![1].toLowerCase().replace(/^add/, '').replace(/v2$/, ''), kind).toBe(kind);
      const line = Number(m![2]);
      expect(line, `${kind} names a line of the model's body`).toBeGreaterThan(body[0]);
      expect(line).toBeLessThanOrEqual(body[1]);
      expect(r.stderr).not.toMatch(/SIGSEGV|Segmentation|internal error/);
      expect(fs.existsSync(path.join(root, kind, 'rank0.engine'))).toBe(false);
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
  it('without the double, --target trt is exit 3 with the fix', async () => {
    const b = B(LATEST);
    const r = await run(['build', '--model', MODEL, '--target', 'trt', '--out', path.join(os.tmpdir(), `redraft-nolib-${process.pid}`)], { REDRAFT_NATIVE_ADDON: b.addonPath, TENSORRT_LIB: '/nonexistent/libnvinfer.so.10' });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/no usable TensorRT library/);
    expect(r.stderr).toMatch(/TENSORRT_LIB/);
  });
});

void runGraph;
