/**
 * The native layers TensorRT 10.14+ has and redraft lowers to (IAttention, IRotaryEmbeddingLayer,
 * IKVCacheUpdateLayer), the quantization layers (IQuantizeLayer / IDequantizeLayer, three-argument
 * form) and IDistCollectiveLayer, through the TensorRT double compiled from each header set: the
 * record equals the plan, replays to the IR's outputs, and what NvInfer.h documents as invalid is
 * refused naming the layer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork } from '../dsl/network.js';
import type { Graph } from '../dsl/ir.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor } from '../dsl/host.js';
import { runGraph } from '../builders/interp/index.js';
import { lowerToPlan, type TrtPlan, type TrtVersion } from '../builders/trt/plan.js';
import { CollectivePlanError, executePlan, executeRankPlans } from '../builders/trt/plan-exec.js';
import { nativePlan } from '../builders/trt/build.js';
import { validateTrt } from '../builders/trt/validate.js';
import { runRanks } from '../builders/tp/sim.js';
import { TRT_RULES } from '../ops/trt.js';
import { all_gather, all_reduce, broadcast, dequantize, matmul, quantize } from '../ops/index.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { TAGS, addonOf, buildDouble, buildError, buildWith, close, expectRecordMatchesPlan, handPlan, recordToPlan, runCli, stepInputs, ROOT, type DoubleBuild, type Tag } from './trt-double-util.js';

const builds = new Map<Tag, DoubleBuild>();
const B = (t: Tag) => builds.get(t)!;
const V = (b: DoubleBuild): TrtVersion => ({ major: b.major, minor: b.minor });
const expectFor = (b: DoubleBuild) => ({ major: b.major, minor: b.minor, workspaceBytes: 2 ** 26, optimizationLevel: 2 });

beforeAll(() => {
  for (const t of TAGS) builds.set(t, buildDouble(t));
}, 900_000);

const FUSED_METHODS = /^add(Attention|AttentionV2|RotaryEmbedding|KVCacheUpdate)$/;

describe('the tiny-redrafter step graph: native layers where the headers have them', () => {
  const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
  const graph = def.build({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 } as never);
  const count = (k: string) => graph.layers.filter((l) => l.kind === k).length;
  const inputs = stepInputs(graph);
  let want: Record<string, HostTensor>;
  beforeAll(() => {
    want = runGraph(graph, inputs);
  }, 120_000);

  it.each([
    ['v11.1', ['addAttentionV2', 'addRotaryEmbedding', 'addKVCacheUpdate']],
    ['v10.16', ['addAttention', 'addRotaryEmbedding', 'addKVCacheUpdate']],
    ['v10.9.0', []],
  ] as [Tag, string[]][])('%s: the record has %j, equals the plan and replays to the IR outputs', async (tag, methods) => {
    expect(count('attention')).toBeGreaterThan(0);
    expect(count('rotary_embedding')).toBeGreaterThan(0);
    const b = B(tag);
    const plan = nativePlan(graph, lowerToPlan(graph, { trtVersion: V(b) }));
    const { record } = await buildWith(addonOf(b), plan);
    expectRecordMatchesPlan(record, plan, expectFor(b));
    const recorded = record.layers.map((l) => l.method);
    const fused = recorded.filter((m) => FUSED_METHODS.test(m));
    expect([...new Set(fused)].sort()).toEqual([...methods].filter((m) => m !== 'addKVCacheUpdate' || count('kv_cache_update') > 0).sort());
    if (methods.length) {
      expect(recorded.filter((m) => /^addAttention/.test(m))).toHaveLength(count('attention'));
      expect(recorded.filter((m) => m === 'addRotaryEmbedding')).toHaveLength(count('rotary_embedding'));
      expect(recorded.filter((m) => m === 'addKVCacheUpdate')).toHaveLength(count('kv_cache_update'));
      // IAttention is not an ILayer: its own setters (setMask for the fully-masked-row guard, setDecomposable) and getOutput.
      const att = record.calls.filter((c) => c.i === 'VAttention').map((c) => c.m);
      expect(att.filter((m) => m === 'setDecomposable')).toHaveLength(count('attention'));
      expect(att.filter((m) => m === 'getOutput').length).toBeGreaterThanOrEqual(count('attention'));
      // The decomposition's softmax is gone; RMSNorm is never native (addNormalizationV2 has no RMS mode).
      expect(recorded.filter((m) => m === 'addSoftMax').length).toBeLessThan(new Set(recorded).size);
    } else {
      expect(fused).toEqual([]);
      expect(recorded).toContain('addSoftMax');
    }
    close(want, executePlan(recordToPlan(record, plan.inputs), inputs, graph), `tiny-redrafter on ${tag}`, 1e-4);
  }, 300_000);

  it('build --target trt lowers for the addon\'s headers and says so: native layers on 11.1, the decomposition on 10.9', async () => {
    if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
    for (const [tag, native] of [['v11.1', true], ['v10.9.0', false]] as const) {
      const b = B(tag);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-fused-'));
      const r = await runCli(['build', '--model', 'tiny-redrafter', '--target', 'trt', '--out', dir, '--max-batch', '2', '--max-seq', '32'], { REDRAFT_NATIVE_ADDON: b.addonPath, TENSORRT_LIB: b.lib });
      expect(r.code, r.stderr).toBe(0);
      const v = `TensorRT ${b.major}.${b.minor}`;
      expect(r.stderr).toContain(`engine for ${v} (the headers the native addon was compiled against`);
      expect(r.stderr).toMatch(native ? /native attention, rotary_embedding(, kv_cache_update)?; rms_norm as primitive layers/ : /attention, rotary_embedding(, kv_cache_update)?, rms_norm as primitive layers/);
      expect(r.stderr).toMatch(new RegExp(`TensorRT constraints for ${v.replace('.', '\\.')}: \\d+ layers as lowered`));
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'rank0.engine'), 'utf8')) as { layers: { method: string }[] };
      const methods = new Set(rec.layers.map((l) => l.method));
      expect(methods.has('addAttentionV2'), tag).toBe(native);
      expect(methods.has('addRotaryEmbedding'), tag).toBe(native);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);
});

describe('IAttention, IRotaryEmbeddingLayer and IKVCacheUpdateLayer: the documented refusals', () => {
  const f32 = (id: number, name: string, dims: number[]) => ({ id, name, dtype: 'kFLOAT', dims });
  const att = (method: string, params: TrtPlan['layers'][number]['params'], ins: number[]) => ({ method, inputs: ins, outputs: [9], params, dtypes: ['kFLOAT'], ranks: [4], name: 'att', site: 'model.ts:7:3' });
  const refusal = async (tag: Tag, plan: TrtPlan) => buildError(addonOf(B(tag)), plan);

  it('grouped-query attention needs numHeadsQuery divisible by numHeadsKeyValue (10.16, 11.1)', async () => {
    for (const [tag, method, params] of [['v10.16', 'addAttention', { normOp: 'kSOFTMAX', causal: false, decomposable: true }], ['v11.1', 'addAttentionV2', { normOp: 'kSOFTMAX', causalKind: 'kNONE', decomposable: true }]] as const) {
      const plan = handPlan([f32(1, 'q', [1, 3, 4, 8]), f32(2, 'k', [1, 2, 5, 8]), f32(3, 'v', [1, 2, 5, 8])], [att(method, params, [1, 2, 3])], [{ id: 9, name: 'y' }]);
      expect(await refusal(tag, plan)).toMatch(new RegExp(`layer 'att' \\(${method}, at model\\.ts:7:3\\): TensorRT rejected ${method}: .*numHeadsQuery 3 is not a multiple of numHeadsKeyValue 2`));
      // 4 query heads over 2 kv heads is fine, and replays.
      const ok = handPlan([f32(1, 'q', [1, 4, 4, 8]), f32(2, 'k', [1, 2, 5, 8]), f32(3, 'v', [1, 2, 5, 8])], [att(method, params, [1, 2, 3])], [{ id: 9, name: 'y' }]);
      const { record } = await buildWith(addonOf(B(tag)), ok);
      expect(record.layers[0].outputs[0].dims).toEqual([1, 4, 4, 8]);
    }
  });

  it('the mask: kBOOL or the query type, 4-D, broadcastable; not together with a causal mask', async () => {
    const ins = (maskType: string, maskDims: number[]) => [f32(1, 'q', [2, 4, 3, 8]), f32(2, 'k', [2, 2, 5, 8]), f32(3, 'v', [2, 2, 5, 8]), { id: 4, name: 'm', dtype: maskType, dims: maskDims }];
    const v2 = { normOp: 'kSOFTMAX', causalKind: 'kNONE', decomposable: true };
    expect(await refusal('v11.1', handPlan(ins('kINT32', [2, 1, 3, 5]), [att('addAttentionV2', v2, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]))).toMatch(/\(setMask\): .*the mask is kINT32; it must be kBOOL or the BMM1 output type \(kFLOAT\)/);
    expect(await refusal('v11.1', handPlan(ins('kBOOL', [2, 3, 5]), [att('addAttentionV2', v2, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]))).toMatch(/\(setMask\): .*rank 3; it must be 4-D/);
    expect(await refusal('v11.1', handPlan(ins('kBOOL', [2, 1, 3, 4]), [att('addAttentionV2', v2, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]))).toMatch(/does not broadcast to \[batchSize, numHeadsQuery, sequenceLengthQuery, sequenceLengthKeyValue\] = \[2,4,3,5\]/);
    expect(await refusal('v11.1', handPlan(ins('kBOOL', [2, 1, 3, 5]), [att('addAttentionV2', { ...v2, causalKind: 'kLOWER_RIGHT' }, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]))).toMatch(/\(setMask\): .*cannot be used together with a causal mask/);
    expect(await refusal('v10.16', handPlan(ins('kBOOL', [2, 1, 3, 5]), [att('addAttention', { normOp: 'kSOFTMAX', causal: true, decomposable: true }, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]))).toMatch(/\(setMask\): .*cannot be used together with a causal mask \(isCausal\)/);
    // A bool mask that broadcasts over batch and heads is taken (setMask, not setInput).
    const { record } = await buildWith(addonOf(B('v11.1')), handPlan(ins('kBOOL', [1, 1, 3, 5]), [att('addAttentionV2', v2, [1, 2, 3, 4])], [{ id: 9, name: 'y' }]));
    expect(record.calls.some((c) => c.i === 'VAttention' && c.m === 'setMask')).toBe(true);
    expect(record.layers[0].setInputs).toEqual([]);
  });

  it('KV cache update: cache and update of one float type, writeIndices int32/int64 [batch]; rotary dim even and within headSize', async () => {
    const kv = (cache: string, update: string, idx: string, idxDims = [2]) =>
      handPlan([{ id: 1, name: 'cache', dtype: cache, dims: [2, 2, 16, 8] }, { id: 2, name: 'upd', dtype: update, dims: [2, 2, 3, 8] }, { id: 3, name: 'w', dtype: idx, dims: idxDims }],
        [{ method: 'addKVCacheUpdate', inputs: [1, 2, 3], outputs: [9], params: { cacheMode: 'kLINEAR' }, dtypes: [cache], ranks: [4], name: 'kv' }], [{ id: 9, name: 'cache_out' }]);
    expect(await refusal('v10.16', kv('kHALF', 'kFLOAT', 'kINT64'))).toMatch(/layer 'kv' \(addKVCacheUpdate\): TensorRT rejected addKVCacheUpdate: .*cache and update must have the same type/);
    expect(await refusal('v11.1', kv('kINT8', 'kINT8', 'kINT64'))).toMatch(/cache and update must have the same type, kFLOAT, kHALF or kBF16 \(got kINT8, kINT8\)/);
    expect(await refusal('v11.1', kv('kFLOAT', 'kFLOAT', 'kFLOAT'))).toMatch(/writeIndices must be kINT32 or kINT64 \(got kFLOAT\)/);
    expect(await refusal('v11.1', kv('kFLOAT', 'kFLOAT', 'kINT32', [2, 1]))).toMatch(/writeIndices must be \[batchSize\]/);
    for (const idx of ['kINT32', 'kINT64']) {
      const { record } = await buildWith(addonOf(B('v10.16')), kv('kBF16', 'kBF16', idx));
      expect(record.layers[0].outputs[0]).toMatchObject({ dtype: 7, dims: [2, 2, 16, 8] });
    }
    const rope = (dim: number) =>
      handPlan([f32(1, 'x', [1, 2, 3, 8]), f32(2, 'cos', [1, 3, 4]), f32(3, 'sin', [1, 3, 4])],
        [{ method: 'addRotaryEmbedding', inputs: [1, 2, 3], outputs: [9], params: { interleaved: false, rotaryEmbeddingDim: dim }, dtypes: ['kFLOAT'], ranks: [4], name: 'rope' }], [{ id: 9, name: 'y' }]);
    expect(await refusal('v11.1', rope(10))).toMatch(/layer 'rope' \(addRotaryEmbedding\): .*rotaryEmbeddingDim 10 must be even and at most headSize 8/);
    expect(await refusal('v11.1', rope(4))).toMatch(/cosCache\/sinCache \[1,3,4\] is not \(batchSize, sequenceLength, rotaryEmbeddingDim\/2\)/);
    await buildWith(addonOf(B('v11.1')), rope(8));
  });
});

/** int4 values (-8..7) packed two per byte, element 2i in the low nibble (dsl/dtype.ts). */
function packInt4(v: number[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(v.length / 2));
  v.forEach((x, i) => (out[i >> 1] |= (x & 15) << (i % 2 ? 4 : 0)));
  return out;
}

describe('IQuantizeLayer / IDequantizeLayer: addQuantize/addDequantize with the output type, per header set', () => {
  /** Weight-only: int8 per channel and int4 block-wise weights dequantized into a matmul; activations quantized per tensor. */
  function weightOnly(scaleDtype: 'float32' | 'float16', x16 = false): Graph {
    return buildNetwork('wo', (net) => {
      const x = net.input('x', x16 ? 'float16' : 'float32', ['batch', 8], { batch: { min: 1, opt: 2, max: 4 } });
      const w8 = net.constant(new Int8Array(32).map((_, i) => ((i * 7) % 17) - 8), 'int8', [4, 8], 'w8');
      const s8 = net.constant([0.5, 0.25, 0.125, 1], scaleDtype, [4], 's8');
      const w4 = net.constant(packInt4(Array.from({ length: 32 }, (_, i) => ((i * 5) % 16) - 8)), 'int4', [4, 8], 'w4');
      const s4 = net.constant([0.5, 1, 0.25, 2, 1, 1, 0.5, 0.125], scaleDtype, [4, 2], 's4');
      const dt = x16 ? 'float16' : 'float32';
      const y8 = matmul(x, dequantize(w8, s8, { axis: 0, dtype: dt }), false, true);
      const y4 = matmul(x, dequantize(w4, s4, { axis: 1, dtype: dt }), false, true);
      net.markOutput(y8, 'y8');
      net.markOutput(y4, 'y4');
      const st = net.constant([0.05], x16 ? 'float16' : 'float32', [], 'st');
      net.markOutput(dequantize(quantize(x, st, { dtype: 'int8' }), st), 'xq8');
      net.markOutput(dequantize(quantize(x, st, { dtype: 'float8e4m3' }), st), 'xq8f');
    });
  }
  const xIn = (x16 = false): Record<string, HostTensor> => {
    const v = [0.1, -0.2, 0.3, 0.4, 1, 2, -3, 0.5, 0, 0.25, 0.75, -1, 0.6, -0.7, 0.8, 0.05];
    return { x: x16 ? { dtype: 'float16', shape: [2, 8], data: Uint16Array.from(v, f16) } : hostTensor('float32', [2, 8], v) };
  };

  it.each(TAGS)('%s: int8 per-channel and int4 block-wise weights, int8/fp8 per-tensor activations: record equals plan, replays exactly', async (tag) => {
    const b = B(tag);
    const g = weightOnly('float32');
    expect(validateTrt(g, TRT_RULES, { trtVersion: V(b) })).toEqual([]);
    const plan = nativePlan(g, lowerToPlan(g, { trtVersion: V(b) }));
    const { record } = await buildWith(addonOf(b), plan);
    expectRecordMatchesPlan(record, plan, expectFor(b));
    // kINT4 weights: Weights::count is the element count (32), the bytes packed two per byte (16).
    const w4 = record.layers.find((l) => l.name.startsWith('w4') || (l.method === 'addConstant' && l.params.type === 9))!;
    expect(w4.params).toMatchObject({ type: 9, count: 32 });
    expect(Buffer.from(w4.weights!, 'base64').byteLength).toBe(16);
    const q = record.layers.filter((l) => l.method === 'addQuantizeV2').map((l) => [l.params.toType, l.outputs[0].dtype]);
    expect(q).toEqual([[2, 2], [6, 6]]);
    close(runGraph(g, xIn()), executePlan(recordToPlan(record, plan.inputs), xIn(), g), `${tag} Q/DQ replay`);
  });

  it('strongly typed scale rules: a float32 scale on float16 data needs 10.16 (the validator and the double agree)', async () => {
    const g = weightOnly('float32', true);
    for (const tag of TAGS) {
      const b = B(tag);
      const vs = validateTrt(g, TRT_RULES, { trtVersion: V(b) });
      const plan = nativePlan(g, lowerToPlan(g, { trtVersion: V(b) }));
      if (b.major === 10 && b.minor < 16) {
        expect(new Set(vs.map((v) => v.rule)), tag).toEqual(new Set(['dequantize.scale-dtype']));
        expect(vs[0].message).toMatch(/needs float16 — make the scale float16 \(TensorRT 10\.16\+ also takes float32 scales\)/);
        expect(await buildError(addonOf(b), plan)).toMatch(/TensorRT rejected addDequantize: .*the output type \(kHALF\) must be the scale's type \(kFLOAT\)/);
      } else {
        expect(vs, tag).toEqual([]);
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, expectFor(b));
        close(runGraph(g, xIn(true)), executePlan(recordToPlan(record, plan.inputs), xIn(true), g), `${tag} float16 Q/DQ`);
      }
    }
  });

  it('the quantized tiny-redrafter step graph (int8 / int4 weight-only, fp8 weights and activations): records equal the plans on 10.9 and 11.1 and replay to the IR outputs', async () => {
    const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
    // fp8: every projection's activations quantized too (an amax of 2 for each, as a calibration run would give).
    const amax2 = new Proxy({}, { get: (_, k) => (typeof k === 'string' ? 2 : undefined) }) as Record<string, number>;
    const schemes = [{ kind: 'int8-wo' }, { kind: 'int4-wo', group: 16 }, { kind: 'fp8', activations: amax2 }] as const;
    for (const quantize of schemes) {
      const graph = def.build({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64, quantize } as never);
      expect(graph.layers.some((l) => l.kind === 'dequantize'), quantize.kind).toBe(true);
      const inputs = stepInputs(graph);
      const want = runGraph(graph, inputs);
      for (const tag of ['v10.9.0', 'v11.1'] as const) {
        const b = B(tag);
        expect(validateTrt(graph, TRT_RULES, { trtVersion: V(b) }), `${quantize.kind} ${tag}`).toEqual([]);
        const plan = nativePlan(graph, lowerToPlan(graph, { trtVersion: V(b) }));
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, expectFor(b));
        expect(record.layers.some((l) => l.method === 'addDequantizeV2'), `${quantize.kind} ${tag}`).toBe(true);
        if (quantize.kind === 'fp8') expect(record.layers.filter((l) => l.method === 'addQuantizeV2' && l.params.toType === 6).length, 'fp8 activations').toBeGreaterThan(0);
        close(want, executePlan(recordToPlan(record, plan.inputs), inputs, graph), `${quantize.kind} on ${tag}`, 1e-4);
      }
    }
  }, 600_000);

  it('refusals: non-positive scales, per-channel activations, int8 or pre-10.16 fp8 blocks, block quantization of activations before 10.16', async () => {
    const inp = (dims: number[]) => ({ id: 1, name: 'x', dtype: 'kFLOAT', dims });
    const cst = (id: number, dims: number[]) => ({ method: 'addConstant', inputs: [], outputs: [id], params: { dims, weights: id - 2, dtype: 'kFLOAT' }, dtypes: ['kFLOAT'], ranks: [dims.length], name: `c${id}` });
    const w = (vals: number[], dims: number[]) => ({ index: 0, dtype: 'kFLOAT', shape: dims, data: new Float32Array(vals) });
    const q = (toType: string, axis: number, rank: number) => ({ method: 'addQuantize', inputs: [1, 2], outputs: [9], params: { toType, axis }, dtypes: [toType], ranks: [rank], name: 'q' });
    const neg = handPlan([inp([4, 8])], [cst(2, []), q('kINT8', 0, 2)], [{ id: 9, name: 'y' }], [w([-1], [])]);
    expect(await buildError(addonOf(B('v11.1')), neg)).toMatch(/layer 'q' \(addQuantize\): TensorRT rejected addQuantize: .*scale coefficients must be strictly positive \(found -1\)/);
    const perChannel = handPlan([inp([4, 8])], [cst(2, [4]), q('kINT8', 0, 2)], [{ id: 9, name: 'y' }], [w([1, 1, 1, 1], [4])]);
    for (const tag of TAGS) expect(await buildError(addonOf(B(tag)), perChannel)).toMatch(/per-channel quantization is supported only for weights/);
    const block = (toType: string) => handPlan([inp([4, 8])], [cst(2, [4, 2]), q(toType, 1, 2)], [{ id: 9, name: 'y' }], [w(Array(8).fill(1), [4, 2])]);
    expect(await buildError(addonOf(B('v11.1')), block('kINT8'))).toMatch(/block quantization supports kINT4, kFP8 and kFP4, not kINT8/);
    expect(await buildError(addonOf(B('v10.9.0')), block('kFP8'))).toMatch(/block quantization supports kINT4 only \(TensorRT 10\.9\)/);
    expect(await buildError(addonOf(B('v10.9.0')), block('kINT4'))).toMatch(/block quantization is supported only for weights/);
    await buildWith(addonOf(B('v10.16')), block('kINT4')); // 10.16 blocks activations
    await buildWith(addonOf(B('v11.1')), block('kFP8'));
  });
});

/** float32 → float16 bits (round to nearest even; finite inputs). */
function f16(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer)[0];
  const s = (u >>> 16) & 0x8000, e = ((u >>> 23) & 0xff) - 127 + 15, m = u & 0x7fffff;
  if (e <= 0) return s | Math.round((m | 0x800000) / 2 ** (14 - e));
  const h = s | (e << 10) | (m >> 13), r = m & 0x1fff;
  return r > 0x1000 || (r === 0x1000 && h & 1) ? h + 1 : h;
}

describe('IDistCollectiveLayer: addDistCollective from 10.16', () => {
  /** Rank `rank` of 2: an all-reduce of a per-rank partial matmul, an all-gather and a broadcast from group rank 1. */
  function rankGraph(rank: number): Graph {
    return buildNetwork(`tp${rank}`, (net) => {
      net.rank = rank;
      const x = net.input('x', 'float32', [2, 4]);
      const w = net.constant(new Float32Array(8).map((_, i) => (i + 1 + 4 * rank) * 0.125), 'float32', [4, 2], 'w');
      const part = matmul(x, w);
      net.markOutput(all_reduce(part, { group: [0, 1] }), 'sum');
      net.markOutput(all_gather(part, { group: [0, 1] }), 'gathered');
      net.markOutput(broadcast(part, { group: [0, 1], root: 1 }), 'from1');
    });
  }
  const x = { x: hostTensor('float32', [2, 4], [1, 2, 3, 4, -1, 0.5, 0.25, 2]) };

  it('10.16 and 11.1 record the collectives with the group and root; each rank plan alone is refused, both together replay to the simulator\'s outputs', async () => {
    const graphs = [rankGraph(0), rankGraph(1)];
    const want = runRanks(graphs.map((graph) => ({ graph, inputs: x }))).outputs;
    for (const tag of ['v10.16', 'v11.1'] as const) {
      const b = B(tag);
      const replayed: TrtPlan[] = [];
      for (const g of graphs) {
        expect(validateTrt(g, TRT_RULES, { trtVersion: V(b) })).toEqual([]);
        const plan = nativePlan(g, lowerToPlan(g, { trtVersion: V(b) }));
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, expectFor(b));
        const coll = record.layers.filter((l) => l.method === 'addDistCollective').map((l) => l.params);
        // kALL_REDUCE/kSUM, kALL_GATHER/kNONE, kBROADCAST/kNONE with root = communicator rank 1.
        expect(coll).toEqual([{ op: 0, reduceOp: 0, root: -1, groups: [0, 1] }, { op: 1, reduceOp: 5, root: -1, groups: [0, 1] }, { op: 2, reduceOp: 5, root: 1, groups: [0, 1] }]);
        expect(record.layers.find((l) => l.method === 'addDistCollective' && l.params.op === 1)!.outputs[0].dims).toEqual([4, 2]);
        replayed.push(recordToPlan(record, plan.inputs));
      }
      expect(() => executePlan(replayed[0], x, graphs[0])).toThrow(CollectivePlanError);
      const got = executeRankPlans(replayed.map((plan, r) => ({ plan, source: graphs[r], inputs: x })));
      got.forEach((o, r) => close(want[r], o, `${tag} rank ${r}`));
    }
  });

  it('the tiny-redrafter step graph at --tp 2: each rank\'s 11.1 and 10.16 records equal their plans, and both replayed together equal the simulator on the rank graphs', async () => {
    const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
    const graphs = [0, 1].map((rank) => def.build({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64, tp: { rank, size: 2 } } as never));
    const inputs = graphs.map((g) => stepInputs(g));
    const want = runRanks(graphs.map((graph, r) => ({ graph, inputs: inputs[r] }))).outputs;
    for (const tag of ['v10.16', 'v11.1'] as const) {
      const b = B(tag);
      const replayed: TrtPlan[] = [];
      for (const g of graphs) {
        expect(validateTrt(g, TRT_RULES, { trtVersion: V(b) })).toEqual([]);
        const plan = nativePlan(g, lowerToPlan(g, { trtVersion: V(b) }));
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, expectFor(b));
        expect(record.layers.filter((l) => l.method === 'addDistCollective').length).toBe(g.layers.filter((l) => l.kind === 'collective').length);
        replayed.push(recordToPlan(record, plan.inputs));
      }
      const got = executeRankPlans(replayed.map((plan, r) => ({ plan, source: graphs[r], inputs: inputs[r] })));
      got.forEach((o, r) => close(want[r], o, `tp rank ${r} on ${tag}`, 1e-4));
    }
    expect(new Set(validateTrt(graphs[0], TRT_RULES, { trtVersion: { major: 10, minor: 9 } }).map((v) => v.rule))).toEqual(new Set(['collective.version']));
  }, 600_000);

  it('build --tp 2 --target plan: exit 4 naming addDistCollective\'s 10.16 for --trt-version 10.9, rank plans with the collectives for 10.16', async () => {
    if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tp-plan-'));
    try {
      const old = await runCli(['build', '--model', 'tiny-redrafter', '--tp', '2', '--target', 'plan', '--trt-version', '10.9', '--out', path.join(dir, 'a')], {});
      expect(old.code, old.stderr).toBe(4);
      expect(old.stderr).toMatch(/\[collective\.version\]: IDistCollectiveLayer \(all_reduce\) needs TensorRT 10\.16 or newer \(addDistCollective\); this graph is validated for TensorRT 10\.9/);
      expect(fs.existsSync(path.join(dir, 'a', 'rank0.plan.json'))).toBe(false);
      const ok = await runCli(['build', '--model', 'tiny-redrafter', '--tp', '2', '--target', 'plan', '--trt-version', '10.16', '--out', path.join(dir, 'b')], {});
      expect(ok.code, ok.stderr).toBe(0);
      for (const r of [0, 1]) {
        const plan = JSON.parse(fs.readFileSync(path.join(dir, 'b', `rank${r}.plan.json`), 'utf8')) as TrtPlan;
        expect(plan.trtVersion).toBe('10.16');
        const coll = plan.layers.filter((l) => l.method === 'addDistCollective');
        expect(coll.length).toBeGreaterThan(0);
        for (const l of coll) expect(l.params.groups).toEqual([0, 1]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 400_000);

  it('older headers: the validator refuses naming 10.16 (exit 4); the bridge refuses a hand-made plan naming the version', async () => {
    const g = rankGraph(0);
    for (const v of [{ major: 10, minor: 9 }, { major: 10, minor: 0 }]) {
      const vs = validateTrt(g, TRT_RULES, { trtVersion: v });
      expect(vs.map((x) => x.rule)).toEqual(['collective.version', 'collective.version', 'collective.version']);
      expect(vs[0].message).toMatch(/IDistCollectiveLayer \(all_reduce\) needs TensorRT 10\.16 or newer \(addDistCollective\)/);
      expect(vs[0].fix).toMatch(/--trt-version 10\.16 for a plan .*; or build without --tp/);
      expect(vs[0].site).toMatch(/trt-double-fused\.test\.ts:\d+:\d+/);
    }
    // No version: the graph is validated for its minimum, 10.16 (addDistCollective), which its plan states.
    expect(validateTrt(g, TRT_RULES)).toEqual([]);
    expect(lowerToPlan(g).minTrtVersion).toBe('10.16');
    const plan = nativePlan(g, lowerToPlan(g, { trtVersion: { major: 10, minor: 16 } }));
    expect(await buildError(addonOf(B('v10.9.0')), plan)).toMatch(/layer 'all_reduce\S*' \(addDistCollective, at test\/trt-double-fused\.test\.ts:\d+:\d+\): addDistCollective needs TensorRT 10\.16 or newer; these headers are 10\.9/);
    // The double's own checks: a rooted collective whose root is not in the group.
    const bad = { ...plan, layers: plan.layers.map((l) => (l.method === 'addDistCollective' && l.params.op === 'kBROADCAST' ? { ...l, params: { ...l.params, root: 5 } } : l)) };
    expect(await buildError(addonOf(B('v11.1')), bad)).toMatch(/TensorRT rejected addDistCollective: .*root 5 is not a rank of the group/);
  });
});
