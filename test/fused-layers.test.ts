/**
 * The fused IR layers (attention, rotary_embedding, kv_cache_update, rms_norm) against their
 * decompositions (builders/fused.ts), property-tested with fast-check on small random shapes:
 * on the interpreter (layer kernel vs decomposed graph), on ONNX Runtime in both export forms
 * (opset 23/24 ops and the decomposition), and on the TensorRT plan executor for 11.1 (native
 * add* calls, attention prepared for IAttention) and 10.9 (primitives). Covers GQA, masks with
 * fully masked rows, every causal kind, interleaved / half-split rotary with rotary dim < head
 * dim and position ids, cache updates at every index including out-of-bounds (ignored).
 * FUSED_PROP_RUNS=n runs n cases per layer (default 25); FUSED_PROP_SEED=s replays a seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decomposeFused, prepareNativeAttention } from '../builders/fused.js';
import { runGraph } from '../builders/interp/index.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import { lowerToPlan, nativeFusedKinds, parseTrtVersion } from '../builders/trt/plan.js';
import { exportOnnx } from '../builders/onnx/export.js';
import { onnx } from '../builders/onnx/proto.js';
import type { DType } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import type { CausalKind, Graph } from '../dsl/ir.js';
import { FUSED_KINDS } from '../dsl/ir.js';
import { Network } from '../dsl/network.js';
import { attention, kv_cache_update, rms_norm, rotary_embedding } from '../ops/index.js';
import { expectClose, hostTensor, ort, rng, toNumbers, type Tol } from './onnx-util.js';

const RUNS = Number(process.env.FUSED_PROP_RUNS ?? 25);
const SEED = process.env.FUSED_PROP_SEED ? Number(process.env.FUSED_PROP_SEED) : undefined;
const FLOATS: DType[] = ['float32', 'float16', 'bfloat16'];
const V11 = parseTrtVersion('11.1')!;
const V109 = parseTrtVersion('10.9')!;
const V1014 = parseTrtVersion('10.14')!;

interface Case {
  graph: Graph;
  inputs: Record<string, HostTensor>;
  dtype: DType;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
function rand(dtype: DType, shape: number[], seed: number, scale = 2): HostTensor {
  const r = rng(seed);
  return hostTensor(dtype, shape, Array.from({ length: numel(shape) }, () => (r() * 2 - 1) * scale));
}
/** Tolerance against the interpreter's layer kernel: the decomposition rounds at the same points; ORT computes half types in float32 inside its fused ops. */
const tolOf = (dtype: DType, loose = false): Tol =>
  dtype === 'float32' ? { atol: loose ? 1e-4 : 1e-5, rtol: 1e-4 } : dtype === 'float16' ? { atol: loose ? 3e-2 : 4e-3, rtol: 1e-2 } : { atol: loose ? 2e-1 : 3e-2, rtol: 5e-2 };

function same(got: Record<string, HostTensor>, want: Record<string, HostTensor>, what: string, tol: Tol): void {
  for (const k of Object.keys(want)) expectClose(got[k], want[k], `${what}:${k}`, tol);
}

async function checkAll(c: Case): Promise<void> {
  const want = runGraph(c.graph, c.inputs);
  const dec = decomposeFused(c.graph, FUSED_KINDS);
  expect(dec.layers.some((l) => (FUSED_KINDS as readonly string[]).includes(l.kind))).toBe(false);
  same(runGraph(dec, c.inputs), want, 'interp decomposed', tolOf(c.dtype));
  same(await ort(c.graph, c.inputs, { fusedLayers: 'onnx' }), want, 'onnx ops', tolOf(c.dtype, true));
  same(await ort(c.graph, c.inputs, { fusedLayers: 'decompose' }), want, 'onnx decomposed', tolOf(c.dtype, true));
  same(executePlan(lowerToPlan(c.graph, { trtVersion: V11 }), c.inputs, c.graph), want, 'plan 11.1', tolOf(c.dtype, true));
  same(executePlan(lowerToPlan(c.graph, { trtVersion: V1014 }), c.inputs, c.graph), want, 'plan 10.14', tolOf(c.dtype, true));
  same(executePlan(lowerToPlan(c.graph, { trtVersion: V109 }), c.inputs, c.graph), want, 'plan 10.9', tolOf(c.dtype));
}

function prop(name: string, arb: fc.Arbitrary<Case>): void {
  it(name, async () => {
    await fc.assert(fc.asyncProperty(arb, checkAll), { numRuns: RUNS, seed: SEED, endOnFailure: true });
  }, 300_000);
}

const attnCase = fc
  .record({
    dtype: fc.constantFrom(...FLOATS),
    B: fc.integer({ min: 1, max: 2 }),
    hkv: fc.integer({ min: 1, max: 2 }),
    group: fc.integer({ min: 1, max: 3 }),
    sq: fc.integer({ min: 1, max: 4 }),
    skv: fc.integer({ min: 1, max: 5 }),
    D: fc.constantFrom(2, 4, 8),
    mask: fc.constantFrom('none', 'full', 'broadcast', 'rows_off'),
    causal: fc.constantFrom<CausalKind>('none', 'upper_left', 'lower_right'),
    scale: fc.constantFrom(undefined, 0.3, 1),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((p): Case => {
    const hq = p.hkv * p.group;
    const net = new Network('attention');
    const q = net.input('q', p.dtype, [p.B, hq, p.sq, p.D]);
    const k = net.input('k', p.dtype, [p.B, p.hkv, p.skv, p.D]);
    const v = net.input('v', p.dtype, [p.B, p.hkv, p.skv, p.D]);
    const inputs: Record<string, HostTensor> = { q: rand(p.dtype, [p.B, hq, p.sq, p.D], p.seed), k: rand(p.dtype, [p.B, p.hkv, p.skv, p.D], p.seed + 1), v: rand(p.dtype, [p.B, p.hkv, p.skv, p.D], p.seed + 2) };
    let mask;
    if (p.mask !== 'none') {
      const ms = p.mask === 'broadcast' ? [p.B, 1, p.sq, p.skv] : [1, hq, p.sq, p.skv];
      mask = net.input('mask', 'bool', ms);
      const r = rng(p.seed + 3);
      const bits = Array.from({ length: numel(ms) }, () => +(r() < 0.6));
      // Fully masked rows: the last query row of every (batch, head) in 'rows_off', random elsewhere.
      if (p.mask === 'rows_off') for (let o = 0; o < numel(ms) / (p.sq * p.skv); o++) for (let j = 0; j < p.skv; j++) bits[(o * p.sq + p.sq - 1) * p.skv + j] = 0;
      inputs.mask = hostTensor('bool', ms, bits);
    }
    net.markOutput(attention(q, k, v, { mask, causal: p.causal, scale: p.scale }), 'out');
    return { graph: net.toGraph(), inputs, dtype: p.dtype };
  });

const ropeCase = fc
  .record({
    dtype: fc.constantFrom(...FLOATS),
    B: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: 3 }),
    S: fc.integer({ min: 1, max: 4 }),
    D: fc.constantFrom(2, 4, 6, 8),
    rdiv: fc.constantFrom(0, 1, 2),
    interleaved: fc.boolean(),
    positions: fc.boolean(),
    maxPos: fc.integer({ min: 1, max: 6 }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((p): Case => {
    // rotary dim: 0 (all of D), or an even number below D.
    const R = p.rdiv === 0 ? 0 : Math.max(2, Math.floor(p.D / (2 * p.rdiv)) * 2 - (p.rdiv === 1 && p.D > 2 ? 2 : 0));
    const half = (R === 0 ? p.D : R) / 2;
    const net = new Network('rotary');
    const x = net.input('x', p.dtype, [p.B, p.H, p.S, p.D]);
    const cs = p.positions ? [p.maxPos, half] : [p.B, p.S, half];
    const cos = net.input('cos', p.dtype, cs);
    const sin = net.input('sin', p.dtype, cs);
    const inputs: Record<string, HostTensor> = { x: rand(p.dtype, [p.B, p.H, p.S, p.D], p.seed), cos: rand(p.dtype, cs, p.seed + 1, 1), sin: rand(p.dtype, cs, p.seed + 2, 1) };
    let position_ids;
    if (p.positions) {
      position_ids = net.input('pos', 'int64', [p.B, p.S]);
      const r = rng(p.seed + 3);
      inputs.pos = hostTensor('int64', [p.B, p.S], Array.from({ length: p.B * p.S }, () => Math.floor(r() * p.maxPos)));
    }
    net.markOutput(rotary_embedding(x, cos, sin, { position_ids, interleaved: p.interleaved, rotary_dim: R }), 'out');
    return { graph: net.toGraph(), inputs, dtype: p.dtype };
  });

const kvCase = fc
  .record({
    dtype: fc.constantFrom(...FLOATS),
    idx: fc.constantFrom<DType>('int32', 'int64'),
    B: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 1, max: 2 }),
    M: fc.integer({ min: 1, max: 6 }),
    S: fc.integer({ min: 1, max: 4 }),
    D: fc.integer({ min: 1, max: 3 }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((p): Case => {
    const net = new Network('kv');
    const cache = net.input('cache', p.dtype, [p.B, p.H, p.M, p.D]);
    const upd = net.input('update', p.dtype, [p.B, p.H, p.S, p.D]);
    const w = net.input('w', p.idx, [p.B]);
    const r = rng(p.seed + 3);
    // Indices from -2 to M + 1: in bounds, past the end (w + S > M) and negative rows are ignored.
    const ws = Array.from({ length: p.B }, () => Math.floor(r() * (p.M + 4)) - 2);
    net.markOutput(kv_cache_update(cache, upd, w), 'out');
    return { graph: net.toGraph(), inputs: { cache: rand(p.dtype, [p.B, p.H, p.M, p.D], p.seed), update: rand(p.dtype, [p.B, p.H, p.S, p.D], p.seed + 1), w: hostTensor(p.idx, [p.B], ws) }, dtype: p.dtype };
  });

const rmsCase = fc
  .record({
    dtype: fc.constantFrom(...FLOATS),
    lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
    n: fc.integer({ min: 1, max: 8 }),
    weight: fc.boolean(),
    eps: fc.constantFrom(1e-6, 1e-5, 0.1),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((p): Case => {
    const shape = [...p.lead, p.n];
    const net = new Network('rms');
    const x = net.input('x', p.dtype, shape);
    const inputs: Record<string, HostTensor> = { x: rand(p.dtype, shape, p.seed) };
    let w;
    if (p.weight) {
      w = net.input('w', p.dtype, [p.n]);
      inputs.w = rand(p.dtype, [p.n], p.seed + 1);
    }
    net.markOutput(rms_norm(x, p.n, w, p.eps), 'out');
    return { graph: net.toGraph(), inputs, dtype: p.dtype };
  });

describe('fused layers vs their decompositions (interpreter, ONNX Runtime both forms, TensorRT plan 11.1 / 10.14 / 10.9)', () => {
  prop('attention: GQA, masks with fully masked rows, causal kinds, scales', attnCase);
  prop('rotary_embedding: interleaved or halves, rotary dim < head dim, position ids', ropeCase);
  prop('kv_cache_update: every write index, out-of-bounds rows ignored', kvCase);
  prop('rms_norm: with and without weight', rmsCase);
});

describe('fused layers: fixed semantics', () => {
  it('a fully masked attention row is the mean of v (uniform weights), in every dtype and form', async () => {
    for (const dtype of FLOATS) {
      const net = new Network('masked');
      const q = net.input('q', dtype, [1, 1, 2, 2]);
      const k = net.input('k', dtype, [1, 1, 3, 2]);
      const v = net.input('v', dtype, [1, 1, 3, 2]);
      const m = net.input('m', 'bool', [1, 1, 2, 3]);
      net.markOutput(attention(q, k, v, { mask: m }), 'out');
      const g = net.toGraph();
      const inputs = { q: hostTensor(dtype, [1, 1, 2, 2], [1, 2, 3, 4]), k: hostTensor(dtype, [1, 1, 3, 2], [1, 0, 0, 1, 1, 1]), v: hostTensor(dtype, [1, 1, 3, 2], [3, 6, 9, 12, 0, 3]), m: hostTensor('bool', [1, 1, 2, 3], [0, 0, 0, 1, 0, 1]) };
      const out = runGraph(g, inputs).out;
      expect(toNumbers(out).slice(0, 2)).toEqual([4, 7]);
      await checkAll({ graph: g, inputs, dtype });
    }
  });

  it('kv_cache_update writes in bounds and ignores a row that does not fit', () => {
    const net = new Network('kv');
    const cache = net.input('cache', 'float32', [3, 1, 4, 1]);
    const upd = net.input('u', 'float32', [3, 1, 2, 1]);
    const w = net.input('w', 'int64', [3]);
    net.markOutput(kv_cache_update(cache, upd, w), 'out');
    const out = runGraph(net.toGraph(), { cache: hostTensor('float32', [3, 1, 4, 1], Array(12).fill(0)), u: hostTensor('float32', [3, 1, 2, 1], [1, 2, 3, 4, 5, 6]), w: hostTensor('int64', [3], [2, 3, -1]) }).out;
    expect(Array.from(out.data as Float32Array)).toEqual([0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('native kinds per TensorRT version; rms_norm never (addNormalizationV2 has no RMS mode)', () => {
    expect(nativeFusedKinds(parseTrtVersion('10.9'))).toEqual([]);
    expect(nativeFusedKinds(parseTrtVersion('10.14'))).toEqual(['attention']);
    expect(nativeFusedKinds(parseTrtVersion('10.16'))).toEqual(['attention', 'rotary_embedding', 'kv_cache_update']);
    expect(nativeFusedKinds(parseTrtVersion('11.1'))).toEqual(['attention', 'rotary_embedding', 'kv_cache_update']);
    expect(nativeFusedKinds(undefined)).toEqual([]);
  });

  it('the ONNX forms: standard ops at opset 23/24, or none of them', () => {
    const net = new Network('all');
    const x = net.input('x', 'float32', [1, 2, 3, 4]);
    const cs = net.input('c', 'float32', [1, 3, 2]);
    const r = rotary_embedding(rms_norm(x, 4), cs, cs);
    const a = attention(r, r, r);
    net.markOutput(kv_cache_update(net.input('cache', 'float32', [1, 2, 5, 4]), a, net.input('w', 'int64', [1])), 'out');
    const g = net.toGraph();
    const ops = (form: 'onnx' | 'decompose') => {
      const m = onnx.ModelProto.decode(exportOnnx(g, { fusedLayers: form }).model);
      return { ops: new Set(m.graph!.node!.map((n) => n.opType)), opset: Number(m.opsetImport![0].version) };
    };
    const native = ops('onnx');
    for (const op of ['Attention', 'RotaryEmbedding', 'RMSNormalization', 'TensorScatter']) expect(native.ops.has(op), op).toBe(true);
    expect(native.opset).toBe(24);
    const dec = ops('decompose');
    for (const op of ['Attention', 'RotaryEmbedding', 'RMSNormalization', 'TensorScatter']) expect(dec.ops.has(op), op).toBe(false);
    expect(dec.opset).toBe(17);
  });

  it('prepared attention (IAttention form) has scale 1 and no causal kind next to a mask', () => {
    const net = new Network('prep');
    const q = net.input('q', 'float32', [1, 2, 3, 4]);
    const m = net.input('m', 'bool', [1, 1, 3, 3]);
    net.markOutput(attention(q, q, q, { mask: m, causal: 'lower_right', scale: 0.5 }), 'out');
    const p = prepareNativeAttention(net.toGraph(), { causalKinds: true, foldScale: true });
    const l = p.layers.find((x) => x.kind === 'attention')!;
    expect(l).toMatchObject({ scale: 1, causal: 'none' });
    expect(l.inputs.length).toBe(4);
  });
});
