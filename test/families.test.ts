/**
 * Model families from Hugging Face checkpoints: Llama 3.x (llama3 rope scaling), Llama with
 * linear and dynamic NTK scaling, Qwen2 (q/k/v biases, tied embeddings), Qwen3 (per-head q/k
 * RMSNorm, head_dim from config, bfloat16 weights) and Mistral (sliding window), each with an
 * Apple-layout ReDrafter drafter. Expected logits and greedy tokens come from the independent
 * float64 PyTorch reference in test/fixtures/families/make.py (committed: CI needs no torch).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkPair, validateConfig } from '../builders/config.js';
import { autoregressiveGenerate, finishedRows, redrafterGenerate, type GenerationShape } from '../builders/generate/loop.js';
import { runGraph } from '../builders/interp/index.js';
import { loadModelDir } from '../builders/model-dir.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { buildNetwork } from '../dsl/network.js';
import { layerWindowsFromHf, llamaConfigFromHf } from '../models/llama/config.js';
import { drafterConfigFromHf, drafterWeights } from '../models/redrafter/drafter.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { redrafterModel } from '../models/redrafter/engine.js';

const DIR = path.join(__dirname, 'fixtures', 'families');
const FAMILIES = ['llama3', 'llama-linear', 'llama-dynamic', 'qwen2', 'qwen3', 'mistral', 'qwen2-sliding'];
const interp = async (g: Parameters<typeof runGraph>[0], i: Parameters<typeof runGraph>[1]) => runGraph(g, i);

interface Expected { prompts: number[][]; max_new_tokens: number; logits: number[][][]; greedy: number[][] }

function load(name: string) {
  const llm = loadModelDir(path.join(DIR, name), 'llama');
  const drafter = loadModelDir(path.join(DIR, `${name}-drafter`), 'drafter');
  checkPair(llm.config, name, drafter.config, `${name}-drafter`);
  const expected = JSON.parse(fs.readFileSync(path.join(DIR, name, 'expected.json'), 'utf8')) as Expected;
  return { llm, drafter, def: redrafterModel(llm, drafter, { name }), cfg: llamaConfigFromHf(llm.config), expected };
}

/** The reference's left-padded batch (the logits test feeds llama_forward directly). */
const leftPad = (rows: number[][], pad: number) => {
  const n = Math.max(...rows.map((r) => r.length));
  return rows.map((r) => [...Array(n - r.length).fill(BigInt(pad)), ...r.map(BigInt)]);
};

describe.each(FAMILIES)('%s', (name) => {
  const { llm, def, cfg, expected } = load(name);
  it('config: the family, its features and a pad id outside every prompt', () => {
    expect(cfg.family).toBe(llm.config.model_type);
    if (name === 'qwen2') expect([cfg.qkvBias, cfg.oBias, cfg.tieWordEmbeddings]).toEqual([true, false, true]);
    if (name === 'qwen3') expect([cfg.qkNorm, cfg.headDim * cfg.numHeads === cfg.hiddenSize]).toEqual([true, false]);
    if (name === 'mistral') expect(cfg.layerWindows).toEqual([4, 4]);
    else if (name === 'qwen2-sliding') expect(cfg.layerWindows).toEqual([null, 3]); // from layer max_window_layers on
    else expect(cfg.layerWindows.every((w) => w === null)).toBe(true);
    // No pad_token_id in these configs: the last id is the pad, and id 0 is an ordinary prompt token.
    expect([cfg.padTokenIdChosen, cfg.padTokenId]).toEqual([true, cfg.vocabSize - 1]);
    expect(expected.prompts[0]).toContain(0);
  });

  it('logits match the PyTorch reference (batch, left-padded)', async () => {
    const prompt = leftPad(expected.prompts, cfg.padTokenId);
    const B = prompt.length;
    const T = prompt[0].length;
    const pads = expected.prompts.map((p) => T - p.length);
    const g = buildNetwork('logits', (net) => {
      const ids = net.input('input_ids', 'int64', [B, T]);
      const mask = net.input('attention_mask', 'bool', [B, T, T]);
      const pos = net.input('position_ids', 'int64', [B, T]);
      const w = llamaWeights(net, cfg, llm.weights, 'float32');
      net.markOutput(llama_forward(cfg, w, { input_ids: ids, attention_mask: mask, position_ids: pos, key_positions: pos }).logits, 'logits');
    });
    const mask = new Uint8Array(B * T * T);
    for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = pads[b]; j <= i; j++) mask[(b * T + i) * T + j] = 1;
    const positions = BigInt64Array.from(prompt.flatMap((r, b) => r.map((_, i) => BigInt(i - pads[b]))));
    const out = await runGraph(g, {
      input_ids: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from(prompt.flat()) },
      attention_mask: { dtype: 'bool', shape: [B, T, T], data: mask },
      position_ids: { dtype: 'int64', shape: [B, T], data: positions },
    });
    const got = out.logits.data as Float32Array;
    const V = cfg.vocabSize;
    let worst = 0;
    expected.logits.forEach((rows, b) =>
      rows.forEach((want, t) => want.forEach((v, k) => (worst = Math.max(worst, Math.abs(got[(b * T + pads[b] + t) * V + k] - v))))),
    );
    expect(worst).toBeLessThan(2e-4);
  });

  const shape = (maxLength: number): GenerationShape => ({
    beamWidth: 2, beamLength: 3, maxLength, eosTokenIds: cfg.eosTokenIds,
    numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, kvDtype: 'float32',
  });
  const opts = (B: number) => ({ dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: B, maxSeq: 40 });

  it('greedy tokens match the reference: autoregressive and ReDrafter, row by row', async () => {
    for (const [b, p] of expected.prompts.entries()) {
      const prompt = [p.map(BigInt)];
      const s = shape(p.length + expected.max_new_tokens);
      const ar = await autoregressiveGenerate(def.llmGraph(opts(1)), interp, prompt, s);
      expect(ar[0].map(Number)).toEqual(expected.greedy[b]);
      const rd = await redrafterGenerate(def.stepGraph(opts(1)), interp, prompt, s);
      expect(rd.sequences[0].map(Number)).toEqual(expected.greedy[b]);
    }
  });

  it('a batch of ragged rows on the interpreter and ONNX Runtime', async () => {
    const prompt = expected.prompts.map((r) => r.map(BigInt));
    const s = shape(Math.max(...prompt.map((r) => r.length)) + expected.max_new_tokens);
    const step = def.stepGraph(opts(prompt.length));
    const a = await redrafterGenerate(step, interp, prompt, s);
    const o = await redrafterGenerate(step, onnxEnv().run, prompt, s);
    expect(o.sequences).toEqual(a.sequences);
    finishedRows(a.sequences, prompt, cfg.eosTokenIds).forEach((row, b) => {
      const want = expected.greedy[b];
      const n = Math.min(row.length, want.length);
      expect(n).toBeGreaterThan(expected.prompts[b].length);
      expect(row.slice(0, n).map(Number)).toEqual(want.slice(0, n));
    });
  });
});

describe('the CLI builds and generates each family', () => {
  const ROOT = path.resolve(__dirname, '..');
  const redraft = (args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'redraft.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  });
  it.each(FAMILIES)('%s: build --target onnx and plan, export, generate on ONNX Runtime equals the reference', (name) => {
    const model = ['--model', path.join(DIR, name), '--drafter', path.join(DIR, `${name}-drafter`)];
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-family-'));
    for (const target of ['onnx', 'plan']) {
      const b = redraft(['build', ...model, '--target', target, '--out', path.join(out, target), '-q']);
      expect(b.status, b.stderr).toBe(0);
    }
    expect(fs.existsSync(path.join(out, 'onnx', 'model.onnx'))).toBe(true);
    const e = redraft(['export', ...model, '--format', 'onnx', '--out', path.join(out, 'export.onnx'), '-q']);
    expect(e.status, e.stderr).toBe(0);
    const { expected } = load(name);
    const p = expected.prompts[0];
    const g = redraft(['generate', ...model, '--prompt-ids', p.join(','), '--max-length', String(p.length + expected.max_new_tokens), '--backend', 'onnx', '--json']);
    expect(g.status, g.stderr).toBe(0);
    expect((JSON.parse(g.stdout) as { tokens: number[][] }).tokens[0]).toEqual(expected.greedy[0]);
  });
});

describe('config.json of each family', () => {
  const base = JSON.parse(fs.readFileSync(path.join(DIR, 'llama3', 'config.json'), 'utf8')) as Record<string, unknown>;
  const check = (patch: Record<string, unknown>) => () => validateConfig({ ...base, ...patch }, 'llama', 'config.json');
  it('rope scaling: llama3, linear, dynamic and default load; other types are refused naming the type', () => {
    for (const rope_scaling of [{ rope_type: 'linear', factor: 2 }, { type: 'dynamic', factor: 2 }, { rope_type: 'default' }, null]) expect(check({ rope_scaling })).not.toThrow();
    expect(check({ rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } })).toThrow(/"rope_scaling" type "yarn" is not supported \(supported: default, linear, dynamic, llama3\)/);
    expect(check({ rope_scaling: { type: 'longrope', factor: 4 } })).toThrow(/type "longrope"/);
    expect(check({ rope_scaling: { rope_type: 'llama3', factor: 8 } })).toThrow(/needs "low_freq_factor"/);
    expect(check({ rope_scaling: { type: 'linear' } })).toThrow(/needs "factor"/);
    // transformers v5 writes rope_parameters (rope_theta inside)
    const v5 = llamaConfigFromHf({ ...base, rope_scaling: undefined, rope_theta: undefined, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 5000 } });
    expect([v5.rope, v5.ropeTheta]).toEqual([{ type: 'linear', factor: 2 }, 5000]);
  });
  it('families, biases and windows', () => {
    expect(check({ model_type: 'gemma' })).toThrow(/model_type "gemma" is not a Llama-family model \(supported: llama, qwen2, qwen3, mistral\)/);
    expect(check({ attention_bias: true, mlp_bias: true })).not.toThrow();
    expect(llamaConfigFromHf({ ...base, attention_bias: true })).toMatchObject({ qkvBias: true, oBias: true });
    expect(check({ model_type: 'mistral', sliding_window: 0 })).toThrow(/"sliding_window" must be a positive integer or null/);
    expect(check({ model_type: 'qwen2', use_sliding_window: true, sliding_window: null })).toThrow(/"use_sliding_window" is true but "sliding_window" is null/);
    expect(check({ model_type: 'qwen3', layer_types: ['full_attention'] })).toThrow(/"layer_types" must list/);
    expect(layerWindowsFromHf({ sliding_window: 8, layer_types: ['sliding_attention', 'full_attention'] }, 'qwen3', 2)).toEqual([8, null]);
    expect(layerWindowsFromHf({ sliding_window: null }, 'mistral', 2)).toEqual([null, null]); // Mistral v0.2+: full attention
    expect(layerWindowsFromHf({ sliding_window: 32768, use_sliding_window: false, max_window_layers: 1 }, 'qwen2', 2)).toEqual([null, null]);
  });
  it('pad_token_id: given, or the last id when absent (id 0 stays an ordinary token)', () => {
    expect(llamaConfigFromHf({ ...base, pad_token_id: 7 })).toMatchObject({ padTokenId: 7, padTokenIdChosen: false });
    expect(llamaConfigFromHf({ ...base, pad_token_id: null })).toMatchObject({ padTokenId: 31, padTokenIdChosen: true });
  });
});

describe("Apple's drafter checkpoints", () => {
  const raw = JSON.parse(fs.readFileSync(path.join(DIR, 'qwen2-drafter', 'config.json'), 'utf8')) as Record<string, unknown>;
  it('load with DrafterConfig as save_pretrained writes it (num_lookback_tokens -1, architectures, torch_dtype)', () => {
    expect(raw).toMatchObject({ num_lookback_tokens: -1, architectures: ['Drafter'] });
    expect(() => validateConfig(raw, 'drafter', 'config.json')).not.toThrow();
  });
  it('without "rnn" the weights decide; emb_norm is refused', () => {
    const { rnn: _, ...noRnn } = raw;
    const drafter = loadModelDir(path.join(DIR, 'qwen2-drafter'), 'drafter');
    let rnn: unknown;
    buildNetwork('d', (net) => {
      rnn = drafterWeights(net, drafterConfigFromHf(noRnn), drafter.weights).rnn;
      net.markOutput(net.constant([0], 'float32', [1]), 'x');
    });
    expect(rnn).toBeDefined();
    expect(() => validateConfig({ ...raw, emb_norm: true }, 'drafter', 'config.json')).toThrow(/"emb_norm" is true/);
  });
});

describe('no token id is special', () => {
  it('a generated token equal to pad_token_id is an ordinary token (autoregressive and ReDrafter equal the reference)', async () => {
    // llama-dynamic's second prompt lacks id 0, and the reference generates 0 after it: make 0 the pad id.
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-pad-'));
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(DIR, 'llama-dynamic', f), path.join(d, f));
    const raw = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...raw, pad_token_id: 0 }));
    const { expected } = load('llama-dynamic');
    const [p, want] = [expected.prompts[1], expected.greedy[1]];
    expect(p).not.toContain(0);
    expect(want.slice(p.length)).toContain(0);
    const llm = loadModelDir(d, 'llama');
    const def = redrafterModel(llm, loadModelDir(path.join(DIR, 'llama-dynamic-drafter'), 'drafter'), { name: 'pad0' });
    const cfg = def.llmConfig;
    expect(cfg.padTokenId).toBe(0);
    const s: GenerationShape = { beamWidth: 2, beamLength: 3, maxLength: want.length, eosTokenIds: [], numLayers: cfg.numLayers, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim, kvDtype: 'float32' };
    const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 40 };
    expect((await autoregressiveGenerate(def.llmGraph(o), interp, [p.map(BigInt)], s))[0]!.map(Number)).toEqual(want);
    expect((await redrafterGenerate(def.stepGraph(o), interp, [p.map(BigInt)], s)).sequences[0]!.map(Number)).toEqual(want);
    // In a batch with a longer row that holds the pad id (0) itself, the row still generates the reference's tokens.
    const batch = [[0n, 0n, 3n, 4n, 5n, 6n, 7n, 8n], p.map(BigInt)];
    const rd = await redrafterGenerate(def.stepGraph(o), interp, batch, s);
    const row = rd.sequences[1]!.map(Number);
    expect(row).toEqual(want);
  });
});
