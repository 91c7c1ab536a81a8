/**
 * Quantized models: --quantize (round-to-nearest int8 per channel, int4 per group, fp8 per
 * tensor) and pre-quantized checkpoints (test/fixtures/quant, written by make_checkpoints.py in
 * AutoAWQ's, auto-gptq's, compressed-tensors' and AutoFP8's published layouts, each with its
 * dequantized float32 reference). Oracles: the dequantized reference weights, the IR's own
 * quantize semantics, and the lossless invariant (speculative == autoregressive) per scheme.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { loadModelDir } from '../builders/model-dir.js';
import { writeSafetensors } from '../builders/weights/index.js';
import { buildContentHash } from '../builders/build-hash.js';
import { DEFAULT_BUILD_CONFIG, resolveBuildConfig } from '../builders/build-config.js';
import { autoregressiveGenerate, redrafterGenerate } from '../builders/generate/loop.js';
import { getNumber } from '../dsl/dtype.js';
import { ModelError, UsageError } from '../dsl/errors.js';
import { hostTensor, toNumbers, type HostTensor } from '../dsl/host.js';
import type { Graph } from '../dsl/ir.js';
import { buildNetwork, Network, type Tensor } from '../dsl/network.js';
import { serializeGraph } from '../dsl/serialize.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { isQuantized, parseQuantScheme, quantizeWeight, type Projection, type QuantScheme } from '../models/llama/linear.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { checkpointQuant, dequantizedReference, unpackInt4 } from '../models/llama/prequant.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { dequantize, quantize } from '../ops/quantize.js';
import { mulberry32 } from '../dsl/random.js';
import fc from 'fast-check';
import { GOLDEN } from './golden-root.js';
import { generationShape, runner } from './precision-util.js';

const FIX = path.join(__dirname, 'fixtures/quant');
const LLM = path.join(GOLDEN, 'models/distilled_llama_1');
const DRAFTER = path.join(GOLDEN, 'models/distilled_drafter_1');
const PROJ = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
const PROJ_NAME = { q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', o: 'self_attn.o_proj', gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' } as const;

/** Logits of llama_forward over one causal prompt (B = 1), float32 on the interpreter. */
function logitsOf(dir: string, quant?: QuantScheme, ids = [1, 5, 9, 3, 17, 4], lazy = false): number[] {
  const m = loadModelDir(dir, 'llama', lazy ? { lazyAbove: 0 } : {});
  const cfg = llamaConfigFromHf(m.config);
  const T = ids.length;
  const g = buildNetwork('fwd', (net) => {
    const w = llamaWeights(net, cfg, m.weights, 'float32', quant);
    const input_ids = net.constant(ids.map(BigInt), 'int64', [1, T]);
    const attention_mask = net.constant(Array.from({ length: T * T }, (_, j) => Math.floor(j / T) >= j % T), 'bool', [1, T, T]);
    const position_ids = net.constant(ids.map((_, j) => BigInt(j)), 'int64', [1, T]);
    net.markOutput(llama_forward(cfg, w, { input_ids, attention_mask, position_ids }).logits, 'logits');
  });
  return toNumbers(runGraph(g, {}).logits);
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** The effective [N, K] float weight of a projection: DQ(q, s), minus the folded zero points. */
function effectiveWeight(p: Projection, net: Network): number[] {
  const outs: Record<string, Tensor> = {};
  if (!isQuantized(p)) outs.w = p as Tensor;
  else {
    outs.w = p.weight;
    if (p.zero) outs.zs = p.zero.zs;
  }
  for (const [k, t] of Object.entries(outs)) net.markOutput(t, k);
  const r = runGraph(net.toGraph(), {});
  const w = toNumbers(r.w!);
  if (!isQuantized(p) || !p.zero) return w;
  const [N, K] = r.w!.shape as [number, number];
  const zs = toNumbers(r.zs!);
  const G = K / p.zero.group;
  return w.map((v, i) => v - zs[Math.floor(i / K) * G + Math.floor((i % K) / p.zero!.group)]!);
}

describe('pre-quantized checkpoints (published layouts)', () => {
  const dirs = ['awq', 'gptq-sym', 'gptq-asym', 'fp8-channel', 'fp8-tensor', 'autofp8'];
  it.each(dirs)('%s: every projection equals its dequantized reference', (d) => {
    const m = loadModelDir(path.join(FIX, d), 'llama');
    const ref = loadModelDir(path.join(FIX, d, 'reference'), 'llama');
    const cfg = llamaConfigFromHf(m.config);
    expect(cfg.quantization, d).toBeDefined();
    for (let l = 0; l < cfg.numLayers; l++)
      for (const p of PROJ) {
        const net = new Network('w');
        const w = llamaWeights(net, cfg, m.weights, 'float32').layers[l]![p];
        expect(isQuantized(w), `${d} ${p}`).toBe(true);
        const want = toNumbers(ref.weights.get(`model.layers.${l}.${PROJ_NAME[p]}.weight`) as HostTensor);
        const got = effectiveWeight(w, net);
        expect(maxDiff(got, want), `${d} layer ${l} ${p}`).toBeLessThanOrEqual(1e-6 * Math.max(...want.map(Math.abs)));
      }
  });
  it.each(['awq', 'gptq-sym', 'gptq-asym'])('%s: the unpacked integers reproduce the reference exactly', (d) => {
    const m = loadModelDir(path.join(FIX, d), 'llama');
    const ref = loadModelDir(path.join(FIX, d, 'reference'), 'llama');
    const cq = checkpointQuant(m.config)!;
    if (cq.method === 'fp8') throw new Error('not int4');
    const u = unpackInt4(m.weights, 'model.layers.1.mlp.down_proj', 16, 32, cq);
    expect(Array.from(dequantizedReference(u), Math.fround)).toEqual(toNumbers(ref.weights.get('model.layers.1.mlp.down_proj.weight') as HostTensor));
    if (d === 'gptq-sym') expect(u.z.every((z) => z === 8)).toBe(true);
    else expect(new Set(u.z).size).toBeGreaterThan(1);
  });
  it.each(['awq', 'gptq-sym', 'gptq-asym', 'fp8-tensor'])('%s: logits match the dequantized reference model', (d) => {
    const got = logitsOf(path.join(FIX, d));
    const want = logitsOf(path.join(FIX, d, 'reference'));
    expect(maxDiff(got, want)).toBeLessThan(1e-4);
  });
  it.each(['fp8-channel', 'autofp8'])('%s: static input scales quantize the activations (the graph holds Q/DQ at the checkpoint scale)', (d) => {
    const m = loadModelDir(path.join(FIX, d), 'llama');
    const cfg = llamaConfigFromHf(m.config);
    const net = new Network('w');
    const w = llamaWeights(net, cfg, m.weights, 'float32').layers[0]!.q;
    expect(isQuantized(w) && w.inputScale).toBeTruthy();
    const want = getNumber('float32', m.weights.get('model.layers.0.self_attn.q_proj.input_scale').data, 0);
    net.markOutput((w as { inputScale: Tensor }).inputScale, 's');
    expect(toNumbers(runGraph(net.toGraph(), {}).s)).toEqual([want]);
    // The activations are rounded to e4m3 at that (uncalibrated) scale: finite, and not the float reference.
    const got = logitsOf(path.join(FIX, d));
    expect(got.every(Number.isFinite)).toBe(true);
    expect(maxDiff(got, logitsOf(path.join(FIX, d, 'reference')))).toBeGreaterThan(0);
  });
  it.each(['awq', 'gptq-asym', 'fp8-channel'])('%s: a streamed checkpoint reads its packed weights lazily and gives the same logits', (d) => {
    const m = loadModelDir(path.join(FIX, d), 'llama', { lazyAbove: 0 });
    const net = new Network('w');
    llamaWeights(net, llamaConfigFromHf(m.config), m.weights, 'float32');
    const packed = net.toGraph().layers.filter((l) => l.kind === 'constant' && (l.weights.dtype === 'int4' || l.weights.dtype === 'float8e4m3'));
    expect(packed.length).toBe(14);
    expect(packed.every((l) => l.kind === 'constant' && l.weights.lazy)).toBe(true);
    expect(logitsOf(path.join(FIX, d), undefined, undefined, true)).toEqual(logitsOf(path.join(FIX, d)));
  });
  it('refuses other schemes naming the field and its value', () => {
    const q = (qc: unknown) => () => checkpointQuant({ quantization_config: qc });
    expect(q({ quant_method: 'gptq', bits: 4, group_size: 128, desc_act: true })).toThrow(/quantization_config\.desc_act is true: act-order/);
    expect(q({ quant_method: 'gptq', bits: 8, group_size: 128 })).toThrow(/quantization_config\.bits is 8/);
    expect(q({ quant_method: 'fp8', weight_block_size: [128, 128], activation_scheme: 'dynamic' })).toThrow(/weight_block_size is \[128,128\]: block-wise FP8 \(DeepSeek-style, weight_scale_inv\)/);
    expect(q({ quant_method: 'bitsandbytes', load_in_4bit: true })).toThrow(/quantization_config\.quant_method is "bitsandbytes"/);
    expect(q({ quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv' })).toThrow(/quantization_config\.version is "gemv"/);
    expect(q({ quant_method: 'compressed-tensors', format: 'pack-quantized', config_groups: {} })).toThrow(/quantization_config\.format is "pack-quantized"/);
    expect(q({ quant_method: 'compressed-tensors', format: 'float-quantized', config_groups: { g: { weights: { type: 'float', num_bits: 8, strategy: 'block' } } } })).toThrow(/config_groups\.g\.weights\.strategy is "block"/);
    expect(q({ quant_method: 'compressed-tensors', format: 'float-quantized', kv_cache_scheme: { num_bits: 8, type: 'float' }, config_groups: { g: { weights: { type: 'float', num_bits: 8, strategy: 'tensor' } } } })).toThrow(/quantization_config\.kv_cache_scheme is \{"num_bits":8,"type":"float"\}: a quantized KV cache/);
    expect(q({ quant_method: 'awq', bits: 4, group_size: 128 })).not.toThrow();
    expect(q({ quant_method: 'awq', bits: 4, group_size: 128 })).not.toThrow(ModelError);
  });
  it('refuses --quantize on a checkpoint that is already quantized', () => {
    expect(() => logitsOf(path.join(FIX, 'awq'), { kind: 'int8-wo' })).toThrow(/already quantized \(config\.json quantization_config: awq\)/);
  });
});

describe('--quantize (round to nearest while the weights stream in)', () => {
  const schemes: [string, QuantScheme][] = [['int8-wo', { kind: 'int8-wo' }], ['int4-wo:8', { kind: 'int4-wo', group: 8 }], ['fp8', { kind: 'fp8' }]];
  it('parses the flag and refuses bad values naming it', () => {
    expect(parseQuantScheme('int4-wo')).toEqual({ kind: 'int4-wo', group: 128 });
    expect(parseQuantScheme('int4-wo:32')).toEqual({ kind: 'int4-wo', group: 32 });
    expect(parseQuantScheme('none')).toBeUndefined();
    expect(() => parseQuantScheme('int3')).toThrow(UsageError);
    expect(() => resolveBuildConfig({ quantize: 'int4' })).toThrow(/--quantize must be one of int8-wo, int4-wo\[:GROUP\], fp8, got "int4"/);
    expect(() => logitsOf(LLM, { kind: 'int4-wo', group: 12 })).toThrow(/group size does not divide the input dim 16 of 'model\.layers\.0\.self_attn\.q_proj\.weight'/);
  });
  it.each(schemes)('%s: the stored codes are the IR quantize of the weight at the stored scales', (_n, scheme) => {
    const m = loadModelDir(LLM, 'llama');
    const w = m.weights.get('model.layers.0.mlp.down_proj.weight'); // [16, 32]
    const r = quantizeWeight((i) => getNumber(w.dtype, w.data, i), 16, 32, scheme, scheme.kind === 'fp8' ? 'float32' : 'float32');
    const net = new Network('q');
    const x = net.constant(w.data, 'float32', [16, 32]);
    const s = net.constant(r.scale, 'float32', r.scaleShape);
    net.markOutput(quantize(x, s, { dtype: r.qDtype as 'int8', axis: r.scaleShape.length ? r.axis : undefined }), 'q');
    expect(Array.from(runGraph(net.toGraph(), {}).q.data)).toEqual(Array.from(r.q));
  });
  it('random weights: codes are the IR quantize at the stored scales, within half a step of the weight', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(2, 4, 8), fc.constantFrom<'float32' | 'float16' | 'bfloat16'>('float32', 'float16', 'bfloat16'),
        fc.constantFrom<QuantScheme['kind']>('int8-wo', 'int4-wo', 'fp8'), fc.integer({ min: 1, max: 1e6 }),
        (N, nb, group, dtype, kind, seed) => {
          const K = nb * group;
          const r = mulberry32(seed);
          // Some rows all zero (the scale falls back to a small positive value), some large.
          const vals = Array.from({ length: N * K }, (_, i) => (Math.floor(i / K) === 0 && seed % 3 === 0 ? 0 : (r() * 2 - 1) * (seed % 5 === 0 ? 300 : 1)));
          const w = hostTensor(dtype, [N, K], vals);
          const scheme: QuantScheme = kind === 'int4-wo' ? { kind, group } : { kind } as QuantScheme;
          const sd = kind === 'fp8' ? 'float32' : dtype;
          const q = quantizeWeight((i) => getNumber(dtype, w.data, i), N, K, scheme, sd);
          const net = new Network('q');
          const s = net.constant(q.scale, sd, q.scaleShape);
          const axis = q.scaleShape.length ? q.axis : undefined;
          const qt = quantize(net.constant(w.data, dtype, [N, K]), s, { dtype: q.qDtype as 'int8', axis });
          net.markOutput(qt, 'q');
          net.markOutput(dequantize(qt, s, { dtype: sd, axis }), 'dq');
          const out = runGraph(net.toGraph(), {});
          expect(Array.from(out.q!.data)).toEqual(Array.from(q.q));
          const scales = toNumbers({ dtype: sd, shape: q.scaleShape, data: q.scale });
          expect(scales.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
          const dq = toNumbers(out.dq!);
          const wv = toNumbers(w);
          wv.forEach((v, i) => {
            const n = Math.floor(i / K);
            const sc = kind === 'fp8' ? scales[0]! : kind === 'int8-wo' ? scales[n]! : scales[n * nb + Math.floor((i % K) / group)]!;
            // int: |w − q·s| ≤ s/2 (the amax code is exact up to the scale's rounding); fp8: e4m3's relative step.
            const bound = kind === 'fp8' ? Math.abs(v) / 16 + sc * 2 ** -9 : sc / 2 + Math.abs(v) * 2 ** -7;
            expect(Math.abs(v - dq[i]!), `${kind} ${dtype} [${n}, ${i % K}]`).toBeLessThanOrEqual(bound * (1 + 1e-6) + 1e-30);
          });
        },
      ),
      { numRuns: 60 },
    );
  });
  it.each(schemes)('%s: logits equal the float model whose weights are the dequantized ones', (_n, scheme) => {
    // Reference: each projection's DQ weight, computed on the interpreter, in a float model.
    const m = loadModelDir(LLM, 'llama');
    const cfg = llamaConfigFromHf(m.config);
    const tensors = new Map<string, { dtype: 'float32'; shape: number[]; data: Float32Array }>();
    for (const n of m.weights.names()) {
      const t = m.weights.get(n);
      tensors.set(n, { dtype: 'float32', shape: t.shape, data: t.data as Float32Array });
    }
    for (let l = 0; l < cfg.numLayers; l++)
      for (const p of PROJ) {
        const net = new Network('w');
        const w = llamaWeights(net, cfg, m.weights, 'float32', scheme).layers[l]![p];
        const name = `model.layers.${l}.${PROJ_NAME[p]}.weight`;
        tensors.set(name, { ...tensors.get(name)!, data: Float32Array.from(effectiveWeight(w, net)) });
      }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-ref-'));
    try {
      fs.copyFileSync(path.join(LLM, 'config.json'), path.join(dir, 'config.json'));
      writeSafetensors(path.join(dir, 'model.safetensors'), [...tensors].map(([name, t]) => ({ name, ...t })));
      const got = logitsOf(LLM, scheme);
      const want = logitsOf(dir);
      expect(maxDiff(got, want)).toBeLessThan(1e-5);
      // And it is a quantization: not the float model's logits, but near them.
      const float = logitsOf(LLM);
      expect(maxDiff(got, float)).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('streamed (lazy) weights give the same graph and bytes as held ones', () => {
    const bytes = (lazy: boolean) => {
      const m = loadModelDir(LLM, 'llama', lazy ? { lazyAbove: 0 } : {});
      const cfg = llamaConfigFromHf(m.config);
      const g = buildNetwork('g', (net) => {
        const w = llamaWeights(net, cfg, m.weights, 'float16', { kind: 'int4-wo', group: 8 });
        for (const p of PROJ) {
          const q = w.layers[1]![p];
          if (isQuantized(q)) net.markOutput(q.weight, p);
        }
      });
      const consts = g.layers.filter((l) => l.kind === 'constant').map((l) => Buffer.from((l as { weights: { data: Uint8Array } }).weights.data.buffer, (l as { weights: { data: Uint8Array } }).weights.data.byteOffset, (l as { weights: { data: Uint8Array } }).weights.data.byteLength).toString('hex'));
      return { structure: Buffer.from(serializeGraph(g, { weights: 'reference' })).toString('hex'), consts, lazy: g.layers.some((l) => l.kind === 'constant' && l.weights.lazy) };
    };
    const [held, streamed] = [bytes(false), bytes(true)];
    expect(streamed.lazy).toBe(true);
    expect(held.lazy).toBe(false);
    expect(streamed.consts).toEqual(held.consts);
    expect(streamed.structure).toBe(held.structure);
  });
  it('the content hash covers the scheme (and "none" is the unquantized build)', () => {
    const m = loadModelDir(LLM, 'llama');
    const d = loadModelDir(DRAFTER, 'drafter');
    const def = redrafterModel(m, d, { name: 'h' });
    const hash = (q?: string) => {
      const cfg = resolveBuildConfig({ quantize: q, beamWidth: '2', beamLength: '3' });
      const g = def.build({ dtype: cfg.dtype, beamWidth: 2, beamLength: 3, maxBatch: cfg.maxBatch, maxSeq: 32, quantize: parseQuantScheme(cfg.quantize) });
      return buildContentHash(g, cfg, 'onnx', '0');
    };
    const hs = [hash(), hash('int8-wo'), hash('int4-wo:8'), hash('int4-wo:16'), hash('fp8')];
    expect(new Set(hs).size).toBe(hs.length);
    expect(hash('none')).toBe(hs[0]);
    expect(resolveBuildConfig({ quantize: 'none' }).quantize).toBeUndefined();
    expect(DEFAULT_BUILD_CONFIG.quantize).toBeUndefined();
  }, 60_000); // five graphs hashed with every weight: seconds on a loaded machine
});

describe('lossless with a quantized base (speculative == autoregressive, same quantized model)', () => {
  const schemes: (QuantScheme | undefined)[] = [undefined, { kind: 'int8-wo' }, { kind: 'int4-wo', group: 8 }, { kind: 'fp8' }, { kind: 'fp8', activations: fakeAmax() }];
  for (const backend of ['interp', 'onnx'] as const)
    it(`on ${backend}: every scheme (float32; int4 in float16, fp8 with activation scales in bfloat16), the golden distilled pair`, async () => {
      const run = runner(backend);
      const def = redrafterModel(loadModelDir(LLM, 'llama'), loadModelDir(DRAFTER, 'drafter'), { name: 'q' });
      const prompt = [[1n, 7n, 12n, 5n], [1n, 3n]];
      const [W, L, maxLength] = [3, 4, 24];
      type Dt = 'float32' | 'float16' | 'bfloat16';
      const runs: { quantize?: QuantScheme; quantizeDrafter: boolean; dtype: Dt }[] = [
        ...schemes.map((quantize) => ({ quantize, quantizeDrafter: false, dtype: 'float32' as Dt })),
        { quantize: { kind: 'int4-wo', group: 8 }, quantizeDrafter: true, dtype: 'float32' },
        { quantize: { kind: 'int4-wo', group: 8 }, quantizeDrafter: false, dtype: 'float16' },
        { quantize: { kind: 'fp8', activations: fakeAmax() }, quantizeDrafter: false, dtype: 'bfloat16' },
      ];
      for (const { quantize, quantizeDrafter, dtype } of runs) {
        const o = { dtype, beamWidth: W, beamLength: L, maxBatch: 2, maxSeq: maxLength + W * L + 1, quantize, quantizeDrafter };
        const s = generationShape(def, W, L, maxLength, dtype);
        const step: Graph = def.stepGraph(o);
        // 7 projections per base layer (2 layers; fp8 with activation scales: one more DQ each for x), plus the drafter's 2 blocks, head and RNN W/U when it is quantized too.
        if (quantize) expect(step.layers.filter((l) => l.kind === 'dequantize').length, JSON.stringify(quantize)).toBe(14 + (quantize.kind === 'fp8' && quantize.activations ? 14 : 0) + (quantizeDrafter ? 5 : 0));
        const rd = await redrafterGenerate(step, run, prompt, s);
        const ar = await autoregressiveGenerate(def.llmGraph(o), run, prompt, s);
        expect(rd.sequences.map((r) => r.join(' ')), `${backend} ${dtype} ${JSON.stringify(quantize)} drafter ${quantizeDrafter}`).toEqual(ar.map((r) => r.join(' ')));
      }
    }, 240_000);
});

/** Activation ranges for every projection of the distilled llama (a calibration's shape; values plausible). */
function fakeAmax(): Record<string, number> {
  const out: Record<string, number> = {};
  for (let l = 0; l < 2; l++) for (const p of PROJ) out[`model.layers.${l}.${PROJ_NAME[p]}.weight`] = 4;
  return out;
}

describe('--calibrate (fp8 activation ranges)', () => {
  it('measures max |x| at every projection input over the prompts', async () => {
    const { calibrateActivations, calibrationPrompts } = await import('../bin/calibrate.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-cal-'));
    try {
      const file = path.join(dir, 'p.txt');
      fs.writeFileSync(file, '1,7,12,5\n1 3 4 8 20 11\n');
      const m = loadModelDir(LLM, 'llama');
      const one = await calibrateActivations(m, { ...DEFAULT_BUILD_CONFIG, maxSeq: 16 }, file);
      expect(Object.keys(one).length).toBe(14);
      for (let l = 0; l < 2; l++) {
        const at = (p: keyof typeof PROJ_NAME) => one[`model.layers.${l}.${PROJ_NAME[p]}.weight`]!;
        // q, k and v read the same normed hidden state, gate and up too.
        expect(at('k')).toBe(at('q'));
        expect(at('v')).toBe(at('q'));
        expect(at('up')).toBe(at('gate'));
        for (const p of PROJ) expect(at(p)).toBeGreaterThan(0);
      }
      // More prompts can only widen a range.
      fs.writeFileSync(file, '1,7,12,5\n');
      const first = await calibrateActivations(m, { ...DEFAULT_BUILD_CONFIG, maxSeq: 16 }, file);
      for (const k of Object.keys(one)) expect(first[k]!).toBeLessThanOrEqual(one[k]!);
      fs.writeFileSync(file, '1,7,99\n');
      expect(() => calibrationPrompts(file, undefined, 32, 16)).toThrow(/line 1: token id 99 is not in \[0, 32\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the shared model flags', () => {
  it('--quantize, --calibrate and --quantize-drafter reach the build options, and misuse is a usage error', async () => {
    const { buildConfigFrom, buildOptionsFrom } = await import('../bin/model.js');
    const o = await buildOptionsFrom(buildConfigFrom({ quantize: 'int4-wo:64', quantizeDrafter: true }));
    expect(o.quantize).toEqual({ kind: 'int4-wo', group: 64 });
    expect(o.quantizeDrafter).toBe(true);
    expect((await buildOptionsFrom(buildConfigFrom({}))).quantize).toBeUndefined();
    await expect(buildOptionsFrom(buildConfigFrom({ quantizeDrafter: true }))).rejects.toThrow(/--quantize-drafter quantizes the drafter with the --quantize scheme/);
    await expect(buildOptionsFrom(buildConfigFrom({ quantize: 'int8-wo', calibrate: 'p.txt' }))).rejects.toThrow(/--calibrate measures activation scales for --quantize fp8/);
    await expect(buildOptionsFrom(buildConfigFrom({ quantize: 'fp8', calibrate: 'p.txt' }))).rejects.toThrow(UsageError);
    expect(buildConfigFrom({ quantize: 'fp8' }).quantize).toBe('fp8');
  });
});
