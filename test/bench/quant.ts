/**
 * Quantization measurements for the README's quantization section:
 *
 *   npx tsx test/bench/quant.ts [--json]
 *
 * 1. Weight bytes of the step graph per scheme vs float16, on a 4-layer Llama-shaped random
 *    model (hidden 512, vocab 8000; int4 groups of 128).
 * 2. Greedy token agreement with the unquantized model and the largest logit error, on the
 *    golden distilled Llama (trained; hidden 16, so int4 groups of 8): 32 greedy tokens from
 *    each golden distilled prompt, and the logits of the unquantized greedy sequence.
 * 3. ReDrafter tokens per step with the quantized base vs the unquantized one, on the golden
 *    distilled pair (the golden cases' prompts and beam shapes).
 * 4. ONNX Runtime time of one draft–verify step per scheme on the model of 1 (float32 compute,
 *    past 256, W = L = 4; median of 7).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGraph } from '../../builders/interp/index.js';
import { loadModelDir } from '../../builders/model-dir.js';
import { findCases, loadCase } from '../../builders/conformance/load.js';
import { autoregressiveGenerate, redrafterGenerate } from '../../builders/generate/loop.js';
import { runGraphOnnx, sessionForGraph } from '../../builders/onnx/env.js';
import { dtypeBytes } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import { hostTensor, toNumbers } from '../../dsl/host.js';
import { buildNetwork } from '../../dsl/network.js';
import { llamaConfigFromHf } from '../../models/llama/config.js';
import type { QuantScheme } from '../../models/llama/linear.js';
import { llama_forward, llamaWeights } from '../../models/llama/model.js';
import { redrafterModel } from '../../models/redrafter/engine.js';
import type { LoadedModel } from '../../models/env.js';
import { drafterShapes, llamaShapes, median, randomModel } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOLDEN = [process.env.REDRAFT_GOLDEN, path.resolve(ROOT, '../shared/golden'), path.resolve(ROOT, 'shared/golden')].find((p) => p && fs.existsSync(path.join(p, 'README.md')))!;
const json = process.argv.includes('--json');

const schemesFor = (group: number): [string, QuantScheme | undefined][] => [
  ['none', undefined],
  ['int8-wo', { kind: 'int8-wo' }],
  [`int4-wo:${group}`, { kind: 'int4-wo', group }],
  ['fp8', { kind: 'fp8' }],
];

const H = 512;
const V = 8000;
const llmCfg = { vocab_size: V, hidden_size: H, intermediate_size: 2 * H, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000, pad_token_id: 0 };
const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: V, hidden_size: H, exit_dim: 2 * H, num_draft_layers: 1, num_lookback_tokens: 1, rnn: true };

function weightBytes(g: ReturnType<ReturnType<typeof redrafterModel>['stepGraph']>): { total: number; projections: number } {
  let total = 0;
  let projections = 0;
  for (const l of g.layers) {
    if (l.kind !== 'constant') continue;
    const b = dtypeBytes(l.weights.dtype, l.weights.shape.reduce((a, c) => a * c, 1));
    total += b;
    if (/\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\./.test(l.weights.name ?? '')) projections += b;
  }
  return { total, projections };
}

/** Logits of one causal forward over `ids` (B = 1), float32, on the interpreter. */
function logits(m: LoadedModel, ids: number[], quantize?: QuantScheme, dtype: 'float32' | 'bfloat16' = 'float32'): number[] {
  const cfg = llamaConfigFromHf(m.config);
  const T = ids.length;
  const g = buildNetwork('fwd', (net) => {
    const w = llamaWeights(net, cfg, m.weights, dtype, quantize);
    const input_ids = net.constant(ids.map(BigInt), 'int64', [1, T]);
    const attention_mask = net.constant(Array.from({ length: T * T }, (_, j) => Math.floor(j / T) >= j % T), 'bool', [1, T, T]);
    const position_ids = net.constant(ids.map((_, j) => BigInt(j)), 'int64', [1, T]);
    net.markOutput(llama_forward(cfg, w, { input_ids, attention_mask, position_ids }).logits, 'logits');
  });
  return toNumbers(runGraph(g, {}).logits!);
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = {};
  const log = (s: string) => (json ? undefined : console.log(s));

  // 1 + 4: the random 4-layer model.
  const def = redrafterModel(randomModel('llm', llamaShapes(llmCfg), llmCfg, 11), randomModel('drafter', drafterShapes(drCfg), drCfg, 12), { name: 'bench' });
  const c = def.llmConfig;
  const [W, L, PAST] = [4, 4, 256];
  const bytes: Record<string, unknown>[] = [];
  const f16 = weightBytes(def.stepGraph({ dtype: 'float16', beamWidth: W, beamLength: L, maxBatch: 1, maxSeq: 1024 }));
  for (const [name, q] of schemesFor(128)) {
    const b = weightBytes(def.stepGraph({ dtype: 'float16', beamWidth: W, beamLength: L, maxBatch: 1, maxSeq: 1024, quantize: q }));
    bytes.push({ scheme: name, totalBytes: b.total, projectionBytes: b.projections, totalVsFloat16: +(b.total / f16.total).toFixed(3), projectionsVsFloat16: +(b.projections / f16.projections).toFixed(3) });
  }
  out.weightBytes = bytes;
  log('weight bytes (float16 build, hidden 512, 4 layers, vocab 8000):');
  for (const r of bytes) log(`  ${String(r.scheme).padEnd(12)} total ${r.totalBytes} (${r.totalVsFloat16}x)  projections ${r.projectionBytes} (${r.projectionsVsFloat16}x)`);

  const i64 = (shape: number[], v: number[]) => hostTensor('int64', shape, v);
  const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const inputs: Record<string, HostTensor> = {
    is_context: { dtype: 'bool', shape: [1], data: new Uint8Array(1) },
    input_ids: i64([1, 1], [0]),
    prompt_lengths: i64([1], [0]),
    beams: i64([1, W, L], Array.from({ length: W * L }, (_, i) => 1 + ((i * 31) % (V - 1)))),
    cache_lengths: i64([1], [PAST]),
    ...Object.fromEntries(
      Array.from({ length: c.numLayers }, (_, l) => ['k', 'v'].map((kv) => [`${kv}_cache_${l}`, { dtype: 'float32', shape: [1, c.numKvHeads, PAST + 1 + W * L, c.headDim], data: rnd(c.numKvHeads * (PAST + 1 + W * L) * c.headDim) } as HostTensor])).flat(),
    ),
  };
  const times: Record<string, unknown>[] = [];
  for (const [name, q] of schemesFor(128)) {
    const step = def.stepGraph({ dtype: 'float32', beamWidth: W, beamLength: L, maxBatch: 1, maxSeq: 1024, quantize: q });
    const s = await sessionForGraph(step, { intraOpThreads: 1 });
    try {
      await runGraphOnnx(s, step, inputs);
      const ms: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t = performance.now();
        await runGraphOnnx(s, step, inputs);
        ms.push(performance.now() - t);
      }
      times.push({ scheme: name, stepMs: +median(ms).toFixed(1) });
    } finally {
      await s.release();
    }
  }
  out.ortStepMs = times;
  log(`ONNX Runtime step (float32 compute, past ${PAST}, W=${W} L=${L}, 1 thread, median of 7):`);
  for (const r of times) log(`  ${String(r.scheme).padEnd(12)} ${r.stepMs} ms`);

  // 2b: the same measures on the hidden-512 model (random weights; one 16-token prompt), int4 in groups of 128.
  const big = randomModel('llm', llamaShapes(llmCfg), llmCfg, 11);
  const bigIds = Array.from({ length: 16 }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const bigF = logits(big, bigIds);
  const argmaxRows = (l: number[]) => Array.from({ length: bigIds.length }, (_, t) => {
    let best = 0;
    for (let v = 1; v < V; v++) if (l[t * V + v]! > l[t * V + best]!) best = v;
    return best;
  });
  const topF = argmaxRows(bigF);
  const bigAcc: Record<string, unknown>[] = [];
  for (const [name, q] of schemesFor(128)) {
    if (!q) continue;
    const lq = logits(big, bigIds, q);
    const err = lq.reduce((m, v, i) => Math.max(m, Math.abs(v - bigF[i]!)), 0);
    const top = argmaxRows(lq);
    bigAcc.push({ scheme: name, top1Agreement: +(top.filter((t, i) => t === topF[i]).length / top.length).toFixed(3), maxLogitError: +err.toFixed(4), maxAbsLogit: +bigF.reduce((m, v) => Math.max(m, Math.abs(v)), 0).toFixed(3) });
  }
  out.accuracyHidden512 = bigAcc;
  log('logits vs the unquantized model (hidden-512 random model, 16 positions):');
  for (const r of bigAcc) log(`  ${String(r.scheme).padEnd(12)} top-1 agreement ${r.top1Agreement}, max logit error ${r.maxLogitError} (max |logit| ${r.maxAbsLogit})`);

  // 2 + 3: the golden distilled pair.
  const cases = findCases(path.join(GOLDEN, 'generate')).map(loadCase).filter((k) => k.name.startsWith('distilled'));
  const llm = loadModelDir(path.resolve(GOLDEN, cases[0]!.models!.llm!), 'llama');
  const drafter = loadModelDir(path.resolve(GOLDEN, cases[0]!.models!.drafter!), 'drafter');
  const pair = redrafterModel(llm, drafter, { name: 'distilled' });
  const prompts = cases.flatMap((k) => {
    const t = k.inputs.input_ids!;
    return Array.from({ length: t.shape[0]! }, (_, b) => Array.from((t.data as BigInt64Array).subarray(b * t.shape[1]!, (b + 1) * t.shape[1]!)).filter((v) => v !== 0n));
  });
  const run = async (g: Parameters<typeof runGraph>[0], i: Record<string, HostTensor>) => runGraph(g, i);
  const N = 32;
  const gen = async (q?: QuantScheme, dtype: 'float32' | 'bfloat16' = 'float32') => {
    const o = { dtype, beamWidth: 1, beamLength: 2, maxBatch: 1, maxSeq: 64 + N, quantize: q };
    const s = { beamWidth: 1, beamLength: 2, maxLength: 0, eosTokenIds: [], numLayers: pair.llmConfig.numLayers, numKvHeads: pair.llmConfig.numKvHeads, headDim: pair.llmConfig.headDim, kvDtype: dtype };
    const rows: bigint[][] = [];
    for (const p of prompts) rows.push(...(await autoregressiveGenerate(pair.llmGraph(o), run, [p], { ...s, maxLength: p.length + N })));
    return rows;
  };
  const base = await gen();
  const acc: Record<string, unknown>[] = [];
  // bfloat16 (unquantized) as a yardstick: its rounding is of int8's size (8 significant bits).
  const rowsFor: [string, QuantScheme | undefined, 'float32' | 'bfloat16'][] = [['bfloat16 (no quantization)', undefined, 'bfloat16'], ...schemesFor(8).filter(([, q]) => q).map(([n, q]) => [n, q, 'float32'] as [string, QuantScheme | undefined, 'float32'])];
  for (const [name, q, dtype] of rowsFor) {
    const rows = await gen(q, dtype);
    let agree = 0;
    let total = 0;
    let firstDiff = 0;
    let maxErr = 0;
    let range = 0;
    rows.forEach((r, b) => {
      const p = prompts[b]!.length;
      let diverged = false;
      for (let i = p; i < r.length; i++) {
        total++;
        if (r[i] === base[b]![i]) agree++;
        else if (!diverged) {
          diverged = true;
          firstDiff += i - p;
        }
      }
      if (!diverged) firstDiff += r.length - p;
      const ids = base[b]!.map(Number);
      const lf = logits(llm, ids);
      const lq = logits(llm, ids, q, dtype);
      lf.forEach((v, i) => {
        maxErr = Math.max(maxErr, Math.abs(v - lq[i]!));
        range = Math.max(range, Math.abs(v));
      });
    });
    acc.push({ scheme: name, tokenAgreement: +(agree / total).toFixed(3), meanTokensBeforeFirstDifference: +(firstDiff / rows.length).toFixed(1), maxLogitError: +maxErr.toFixed(4), maxAbsLogit: +range.toFixed(2) });
  }
  out.accuracy = acc;
  log(`greedy agreement with the unquantized model (golden distilled llama, ${prompts.length} prompts x ${N} tokens; int4 groups of 8):`);
  for (const r of acc) log(`  ${String(r.scheme).padEnd(12)} agreement ${r.tokenAgreement}, tokens before the first difference ${r.meanTokensBeforeFirstDifference}, max logit error ${r.maxLogitError} (max |logit| ${r.maxAbsLogit})`);

  const tps: Record<string, unknown>[] = [];
  for (const [name, q] of schemesFor(8)) {
    let tokens = 0;
    let steps = 0;
    let lossless = true;
    for (const k of cases) {
      const Wk = Number(k.attrs.beam_width);
      const Lk = Number(k.attrs.beam_length);
      const maxLength = Number(k.attrs.max_length);
      const t = k.inputs.input_ids!;
      const rows = Array.from({ length: t.shape[0]! }, (_, b) => Array.from((t.data as BigInt64Array).subarray(b * t.shape[1]!, (b + 1) * t.shape[1]!)).filter((v) => v !== 0n));
      const o = { dtype: 'float32' as const, beamWidth: Wk, beamLength: Lk, maxBatch: rows.length, maxSeq: maxLength + Wk * Lk + 1, quantize: q };
      const s = { beamWidth: Wk, beamLength: Lk, maxLength, eosTokenIds: [], numLayers: pair.llmConfig.numLayers, numKvHeads: pair.llmConfig.numKvHeads, headDim: pair.llmConfig.headDim, kvDtype: 'float32' as const };
      const r = await redrafterGenerate(pair.stepGraph(o), run, rows, s);
      const ar = await autoregressiveGenerate(pair.llmGraph(o), run, rows, s);
      lossless &&= r.sequences.every((row, b) => row.join(' ') === ar[b]!.join(' '));
      for (const step of r.acceptedPerStep) for (const a of step) {
        tokens += a + 1;
        steps++;
      }
    }
    tps.push({ scheme: name, tokensPerStep: +(tokens / steps).toFixed(3), speculativeEqualsAutoregressive: lossless });
  }
  out.redrafterTokensPerStep = tps;
  log('ReDrafter tokens per step (golden distilled pair, the golden cases\' prompts and beams):');
  for (const r of tps) log(`  ${String(r.scheme).padEnd(12)} ${r.tokensPerStep} tokens/step, speculative == autoregressive: ${r.speculativeEqualsAutoregressive}`);
  if (json) console.log(JSON.stringify(out, null, 1));
}

void main();
