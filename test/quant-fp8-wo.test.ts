/**
 * fp8 weight-only (`--quantize fp8` without --calibrate), checked independently of
 * models/llama/linear.ts: each projection's constant codes are decoded here with our own e4m3
 * table (OCP FP8 E4M3FN: bias 7, subnormals m·2^-9, S.1111.111 NaN, max 448) and multiplied by
 * the per-tensor scale; the result must be the float weight to within e4m3's half step, and the
 * fp8 model's logits must be those of a float model holding exactly these dequantized weights.
 * (On tiny-redrafter fp8-wo's first greedy token after 5,6,7 differs from float's because the
 * float top-2 logit margin there is smaller than the logit change e4m3 rounding makes.)
 */
import { describe, expect, it } from 'vitest';
import { allocate, getNumber, setNumber, type DType } from '../dsl/dtype.js';
import { hostTensor, type HostTensor } from '../dsl/host.js';
import type { ConstantLayer, Graph, TensorId } from '../dsl/ir.js';
import { buildNetwork } from '../dsl/network.js';
import { runGraph } from '../builders/interp/index.js';
import { tinyLlama } from '../models/builtin/tiny.js';
import type { WeightTensor } from '../models/env.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import type { QuantScheme } from '../models/llama/linear.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { memoryWeights } from '../models/memory-weights.js';

/** E4M3FN bits → value, from the format's definition (not dsl/dtype.ts's). */
function e4m3(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> 3) & 0xf;
  const man = b & 7;
  if (exp === 15 && man === 7) return NaN;
  return sign * (exp === 0 ? (man / 8) * 2 ** -6 : (1 + man / 8) * 2 ** (exp - 7));
}

const llm = tinyLlama();
const cfg = llamaConfigFromHf(llm.config, 'tiny/config.json');
const IDS = [
  [5, 6, 7],
  [9, 10],
  [3, 14, 15, 9, 26],
];

function logitsGraph(ws: typeof llm.weights, quantize: QuantScheme | undefined, T: number, dtype: DType = 'float32'): Graph {
  return buildNetwork('llm', (net) => {
    const ids = net.input('ids', 'int64', [1, T]);
    const mask = net.input('mask', 'bool', [1, T, T]);
    const pos = net.input('pos', 'int64', [1, T]);
    net.markOutput(llama_forward(cfg, llamaWeights(net, cfg, ws, dtype, quantize), { input_ids: ids, attention_mask: mask, position_ids: pos }).logits, 'logits');
  });
}

function run(g: Graph, ids: number[]): number[] {
  const T = ids.length;
  const inputs: Record<string, HostTensor> = {
    ids: hostTensor('int64', [1, T], ids),
    mask: hostTensor('bool', [1, T, T], Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) ? 1 : 0))),
    pos: hostTensor('int64', [1, T], ids.map((_, i) => i)),
  };
  const l = runGraph(g, inputs).logits!;
  return Array.from({ length: l.data.length }, (_, i) => getNumber(l.dtype, l.data, i));
}

/** Each dequantize of two constants in `g`: the weight name (the codes' constant is `<name>.q`), codes and scale. */
function fp8Projections(g: Graph): { name: string; codes: Uint8Array; scale: number }[] {
  const byOutput = new Map<TensorId, ConstantLayer>();
  for (const l of g.layers) if (l.kind === 'constant') byOutput.set(l.outputs[0]!, l);
  const out: { name: string; codes: Uint8Array; scale: number }[] = [];
  for (const l of g.layers) {
    if (l.kind !== 'dequantize') continue;
    const q = byOutput.get(l.inputs[0]!);
    const s = byOutput.get(l.inputs[1]!);
    if (!q || !s) continue;
    expect(q.weights.dtype).toBe('float8e4m3');
    expect(s.weights.shape).toEqual([]); // one scale per tensor
    expect(q.weights.name).toMatch(/\.q$/);
    expect(s.weights.name).toBe(q.weights.name!.replace(/\.q$/, '.scale'));
    out.push({ name: q.weights.name!.replace(/\.q$/, ''), codes: q.weights.data as Uint8Array, scale: getNumber(s.weights.dtype, s.weights.data, 0) });
  }
  return out;
}

const float = (name: string) => llm.weights.get(name).data as Float32Array;

/** v rounded to `dtype` (the build dtype the weights are cast to before quantizing). */
function round(dtype: DType, v: number): number {
  const a = allocate(dtype, 1);
  setNumber(dtype, a, 0, v);
  return getNumber(dtype, a, 0);
}

describe.each(['float32', 'float16'] as const)('--quantize fp8 weight-only, %s (an independent decode of the constants)', (dtype) => {
  // float16: weights and scale are rounded to half first, and the dequantized weight once more.
  const extra = dtype === 'float16' ? 2 ** -9 : 0;
  const wo = logitsGraph(llm.weights, { kind: 'fp8' }, 3, dtype);
  const projections = fp8Projections(wo);

  it('every projection: codes × its own scale is the float weight within e4m3 half a step', () => {
    expect(projections.map((p) => p.name).sort()).toEqual(
      [...Array(cfg.numLayers).keys()].flatMap((l) => ['mlp.down_proj', 'mlp.gate_proj', 'mlp.up_proj', 'self_attn.k_proj', 'self_attn.o_proj', 'self_attn.q_proj', 'self_attn.v_proj'].map((p) => `model.layers.${l}.${p}.weight`)).sort(),
    );
    for (const { name, codes, scale } of projections) {
      const w = float(name);
      expect(codes.length).toBe(w.length);
      let amax = 0;
      for (const v of w) amax = Math.max(amax, Math.abs(round(dtype, v)));
      // The scale maps this tensor's own amax onto e4m3's largest finite value (amax / 448, not 448 / amax).
      expect(scale).toBe(round(dtype, amax / 448));
      let err2 = 0;
      let w2 = 0;
      for (let i = 0; i < w.length; i++) {
        const dq = round(dtype, e4m3(codes[i]!) * scale);
        const d = Math.abs(dq - w[i]!);
        // 3 mantissa bits: half a step is 2^-4 of the value's binade (≤ |w|·2^-4); subnormals: half of 2^-9·s.
        expect(d, `${name}[${i}]: ${w[i]} → ${dq}`).toBeLessThanOrEqual(Math.abs(w[i]!) * (2 ** -4 + extra) + 2 ** -10 * scale + 1e-7 * amax);
        err2 += d * d;
        w2 += w[i]! * w[i]!;
      }
      expect(Math.sqrt(err2 / w2), name).toBeLessThan(2 ** -4 + extra);
    }
  });

  it('the calibrated build dequantizes the same weight constants (only the activations differ)', () => {
    const acts = Object.fromEntries(projections.map((p) => [p.name, 3]));
    const cal = fp8Projections(logitsGraph(llm.weights, { kind: 'fp8', activations: acts }, 3, dtype));
    expect(cal.map((p) => [p.name, p.scale, Array.from(p.codes)])).toEqual(projections.map((p) => [p.name, p.scale, Array.from(p.codes)]));
  });

  it('logits are those of a float model holding the dequantized weights; to float tolerance', () => {
    const tensors = new Map<string, WeightTensor>();
    for (const name of llm.weights.names()) tensors.set(name, llm.weights.get(name));
    for (const { name, codes, scale } of projections) {
      const w = llm.weights.get(name);
      tensors.set(name, { dtype: 'float32', shape: w.shape, data: Float32Array.from(codes, (c) => e4m3(c) * scale) });
    }
    const dqWeights = memoryWeights('tiny-dequantized', tensors);
    const V = cfg.vocabSize;
    for (const ids of IDS) {
      const T = ids.length;
      const fp8 = run(T === 3 ? wo : logitsGraph(llm.weights, { kind: 'fp8' }, T, dtype), ids);
      const dq = run(logitsGraph(dqWeights, undefined, T, dtype), ids);
      let worst = 0;
      let range = 0;
      for (let i = 0; i < fp8.length; i++) {
        worst = Math.max(worst, Math.abs(fp8[i]! - dq[i]!));
        range = Math.max(range, Math.abs(dq[i]!));
      }
      expect(worst, `ids ${ids}`).toBeLessThanOrEqual((dtype === 'float16' ? 2 ** -9 : 1e-5) * Math.max(1, range));
    }
  });
});
