/**
 * Benchmark scenarios. Each runs in its own process (so peak RSS is its own) and prints one
 * JSON object: medians of repeated timings, with the baseline of every ratio measured in the
 * same process, side by side.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { DType } from '../../dsl/dtype.js';
import { hostTensor } from '../../dsl/host.js';
import type { HostTensor } from '../../dsl/host.js';
import { buildNetwork } from '../../dsl/network.js';
import { mulberry32 } from '../../dsl/random.js';
import { serializeGraph } from '../../dsl/serialize.js';
import { runGraph } from '../../builders/interp/index.js';
import { exportOnnx } from '../../builders/onnx/export.js';
import { onnxFiles } from '../../builders/onnx/write.js';
import { sessionForGraph, runGraphOnnx } from '../../builders/onnx/env.js';
import { writeFilesAtomic } from '../../builders/atomic.js';
import type { LoadedModel, WeightSource, WeightTensor } from '../../models/env.js';
import { llamaWeights, llama_forward } from '../../models/llama/model.js';
import { llamaConfigFromHf } from '../../models/llama/config.js';
import { drafterConfigFromHf, drafterWeights } from '../../models/redrafter/drafter.js';
import { beam_search_candidates } from '../../models/redrafter/beam_search.js';
import { greedy_choose_from_candidates, greedy_prepare_next_input } from '../../models/redrafter/accept.js';
import { pack, unpack } from '../../models/redrafter/tree_attention.js';
import { argmax } from '../../ops/index.js';
import { warp_logits } from '../../models/redrafter/logits.js';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}
async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}
const rssMB = () => process.resourceUsage().maxRSS / 1024;

/** Weights that are never materialized: every tensor is a view of one shared zero buffer. */
export function lazyWeights(name: string, shapes: Map<string, number[]>, dtype: DType): WeightSource {
  const size = dtype === 'float32' ? 4 : 2;
  const largest = Math.max(...[...shapes.values()].map((s) => s.reduce((a, b) => a * b, 1)));
  const buf = new ArrayBuffer(largest * size); // zero pages, untouched unless read
  return {
    path: name,
    names: () => [...shapes.keys()],
    has: (n) => shapes.has(n),
    get(n) {
      const shape = shapes.get(n)!;
      const count = shape.reduce((a, b) => a * b, 1);
      const data = dtype === 'float32' ? new Float32Array(buf, 0, count) : new Uint16Array(buf, 0, count);
      return { dtype, shape, data } as WeightTensor;
    },
  };
}

export function llamaShapes(c: Record<string, number>): Map<string, number[]> {
  const H = c.hidden_size;
  const hd = H / c.num_attention_heads;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocab_size, H]], ['model.norm.weight', [H]], ['lm_head.weight', [c.vocab_size, H]]]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    m.set(`${p}.self_attn.q_proj.weight`, [c.num_attention_heads * hd, H]);
    m.set(`${p}.self_attn.k_proj.weight`, [c.num_key_value_heads * hd, H]);
    m.set(`${p}.self_attn.v_proj.weight`, [c.num_key_value_heads * hd, H]);
    m.set(`${p}.self_attn.o_proj.weight`, [H, c.num_attention_heads * hd]);
    m.set(`${p}.mlp.gate_proj.weight`, [c.intermediate_size, H]);
    m.set(`${p}.mlp.up_proj.weight`, [c.intermediate_size, H]);
    m.set(`${p}.mlp.down_proj.weight`, [H, c.intermediate_size]);
    m.set(`${p}.input_layernorm.weight`, [H]);
    m.set(`${p}.post_attention_layernorm.weight`, [H]);
  }
  return m;
}
export function drafterShapes(c: Record<string, number | boolean | string>): Map<string, number[]> {
  const H = c.hidden_size as number;
  const E = c.exit_dim as number;
  const m = new Map<string, number[]>();
  if (E !== 2 * H) {
    m.set('input_proj.weight', [E, 2 * H]);
    m.set('input_proj.bias', [E]);
  }
  for (let i = 0; i < (c.num_draft_layers as number); i++) {
    m.set(`lm_head.${i}.linear.weight`, [E, E]);
    m.set(`lm_head.${i}.linear.bias`, [E]);
  }
  m.set(`lm_head.${c.num_draft_layers}.weight`, [c.vocab_size as number, E]);
  m.set('rnn_u.weight', [H, H]);
  m.set('rnn_u.bias', [H]);
  m.set('rnn_w.weight', [H, H]);
  return m;
}

export const LLAMA_7B = { vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, rms_norm_eps: 1e-5, rope_theta: 10000 };
export const DRAFTER_7B = { model_type: 'recurrent_drafting_drafter', vocab_size: 32000, hidden_size: 4096, exit_dim: 8192, num_draft_layers: 2, num_lookback_tokens: 1, rnn: true };

/** Random-valued weights (seeded), materialized: for execution benchmarks. */
export function randomModel(name: string, shapes: Map<string, number[]>, config: Record<string, unknown>, seed: number, scale = 0.05): LoadedModel {
  const uniform = mulberry32(seed);
  const next = () => (uniform() - 0.5) * 2 * scale;
  const tensors = new Map<string, WeightTensor>();
  for (const [n, s] of shapes) {
    const count = s.reduce((x, y) => x * y, 1);
    const data = n.includes('norm') ? new Float32Array(count).fill(1) : Float32Array.from({ length: count }, next);
    // Row 0 of the LLM head is zero so the pad id (0) is never generated, as in the golden models.
    if (n === 'lm_head.weight') data.fill(0, 0, s[1]);
    tensors.set(n, { dtype: 'float32', shape: s, data });
  }
  return {
    dir: name,
    config,
    weights: { path: name, names: () => [...tensors.keys()], has: (n) => tensors.has(n), get: (n) => tensors.get(n)! },
  };
}

export interface ScenarioResult {
  scenario: string;
  [k: string]: unknown;
}

/** Writes a safetensors file of `n` float16 tensors [rows, 4096] without holding them in memory. */
function writeBigCheckpoint(file: string, n: number, rows: number): void {
  const per = rows * 4096 * 2;
  const header: string[] = [];
  for (let i = 0; i < n; i++) header.push(`"w${String(i).padStart(4, '0')}":{"dtype":"F16","shape":[${rows},4096],"data_offsets":[${i * per},${(i + 1) * per}]}`);
  let json = `{${header.join(',')}}`;
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, len);
  fs.writeSync(fd, json);
  const chunk = new Uint16Array(per / 2);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < chunk.length; j++) chunk[j] = (i * 7919 + j * 31) & 0x3bff; // finite half values
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
}

/**
 * 2. Weights throughput: export of a checkpoint with `gb` GiB of float16 weights to ONNX with
 * external data (weights stream from the checkpoint, one tensor at a time), vs. copying a file
 * of the same size with `cp`.
 */
export async function exportScenario(opts: { gb: number; reps: number }): Promise<ScenarioResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-bench-'));
  try {
    const rows = 8192; // 64 MiB per tensor
    const n = Math.max(1, Math.round((opts.gb * 2 ** 30) / (rows * 4096 * 2)));
    const ckpt = path.join(dir, 'model.safetensors');
    writeBigCheckpoint(ckpt, n, rows);
    const { loadWeights } = await import('../../builders/weights/index.js');
    const ws = loadWeights(ckpt, { lazyAbove: 0 });
    const graph = buildNetwork('export-bench', (net) => {
      const x = net.input('x', 'float16', ['batch', 4096]);
      for (const name of ws.names()) {
        const l = ws.lazy!(name);
        net.lazyConstant(l.dtype, l.shape, l.read, name);
      }
      net.markOutput(x, 'y');
    });
    const total = n * rows * 4096 * 2;
    const exportMs: number[] = [];
    const copyMs: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      const [, t] = time(() => writeFilesAtomic(path.join(dir, `onnx${r}`), onnxFiles('model.onnx', exportOnnx(graph, { externalDataPath: 'model.onnx.data' }))));
      exportMs.push(t);
      const [, c] = time(() => execFileSync('cp', [ckpt, path.join(dir, `copy${r}`)]));
      copyMs.push(c);
      fs.rmSync(path.join(dir, `onnx${r}`), { recursive: true });
      fs.rmSync(path.join(dir, `copy${r}`));
    }
    ws.close();
    const exportBps = total / (median(exportMs) / 1000);
    const copyBps = total / (median(copyMs) / 1000);
    return { scenario: 'export', weightBytes: total, exportMs: median(exportMs), copyMs: median(copyMs), exportMBps: exportBps / 2 ** 20, copyMBps: copyBps / 2 ** 20, ratio: exportBps / copyBps, peakRssMB: rssMB(), goal: 'ratio >= 0.7, RSS < 1 GB' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** 3. One draft step (beam search) and one verify-accept step: interpreter vs. ONNX Runtime. */
export async function stepScenario(opts: { hidden: number; vocab: number; layers: number; batch: number; reps: number; W: number; L: number }): Promise<ScenarioResult> {
  const H = opts.hidden;
  const llmCfg = { vocab_size: opts.vocab, hidden_size: H, intermediate_size: 2 * H, num_hidden_layers: opts.layers, num_attention_heads: H / 64, num_key_value_heads: H / 64, rms_norm_eps: 1e-5, rope_theta: 10000 };
  const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: opts.vocab, hidden_size: H, exit_dim: 2 * H, num_draft_layers: 1, num_lookback_tokens: 1, rnn: true };
  const llm = randomModel('llm', llamaShapes(llmCfg), llmCfg, 1);
  const dr = randomModel('drafter', drafterShapes(drCfg), drCfg, 2);
  const B = opts.batch;
  const { W, L } = opts;
  const P = 32;
  const draft = buildNetwork('draft', (net) => {
    const dw = drafterWeights(net, drafterConfigFromHf(drCfg), dr.weights);
    const emb = net.constant(llm.weights.get('model.embed_tokens.weight').data, 'float32', [opts.vocab, H]);
    const r = beam_search_candidates(dw, net.input('state', 'float32', ['batch', H]), net.input('token', 'int64', ['batch']), emb, W, L);
    net.markOutput(r.beams, 'beams');
    net.markOutput(r.log_probs, 'log_probs');
  });
  const cfg = llamaConfigFromHf(llmCfg);
  const verify = buildNetwork('verify', (net) => {
    const beams = net.input('beams', 'int64', ['batch', W, L]);
    const padding = net.input('padding_mask', 'int64', ['batch', P]);
    const past = net.input('past_kv', 'float32', [cfg.numLayers, 2, 'batch', cfg.numKvHeads, P, cfg.headDim]);
    const positions = net.input('positions', 'int64', ['batch', W * L]);
    const p = pack(beams, padding);
    const out = llama_forward(cfg, llamaWeights(net, cfg, llm.weights), { input_ids: p.packed_beams, attention_mask: p.causal_mask, position_ids: positions, past_kv: past });
    const logits = unpack(warp_logits(out.logits), p.unpacker);
    const hidden = unpack(out.hidden_states, p.unpacker);
    const by_llm = argmax(logits, -1, false, 'int64');
    const [n, seq] = greedy_choose_from_candidates(beams, by_llm);
    const [state, next] = greedy_prepare_next_input(by_llm, hidden, seq, n);
    net.markOutput(n, 'n_tokens');
    net.markOutput(state, 'state');
    net.markOutput(next, 'next');
  });
  const rnd = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const draftIn: Record<string, HostTensor> = { state: hostTensor('float32', [B, H], rnd(B * H)), token: hostTensor('int64', [B], Array(B).fill(3)) };
  const verifyIn: Record<string, HostTensor> = {
    beams: hostTensor('int64', [B, W, L], Array.from({ length: B * W * L }, (_, i) => (i * 13) % opts.vocab)),
    padding_mask: hostTensor('int64', [B, P], Array(B * P).fill(1)),
    past_kv: hostTensor('float32', [cfg.numLayers, 2, B, cfg.numKvHeads, P, cfg.headDim], rnd(cfg.numLayers * 2 * B * cfg.numKvHeads * P * cfg.headDim)),
    positions: hostTensor('int64', [B, W * L], Array.from({ length: B * W * L }, (_, i) => P + (i % L))),
  };
  const measure = async (run: () => Promise<unknown>) => {
    await run(); // warm-up
    const ts: number[] = [];
    for (let r = 0; r < opts.reps; r++) ts.push((await timeAsync(run))[1]);
    return median(ts);
  };
  const draftSess = await sessionForGraph(draft);
  const verifySess = await sessionForGraph(verify);
  const interpDraft = await measure(async () => runGraph(draft, draftIn));
  const ortDraft = await measure(() => runGraphOnnx(draftSess, draft, draftIn));
  const interpVerify = await measure(async () => runGraph(verify, verifyIn));
  const ortVerify = await measure(() => runGraphOnnx(verifySess, verify, verifyIn));
  return {
    scenario: 'step',
    config: { hidden: H, vocab: opts.vocab, layers: opts.layers, batch: B, beamWidth: W, beamLength: L },
    draftMs: { interp: interpDraft, onnx: ortDraft, ratio: interpDraft / ortDraft },
    verifyMs: { interp: interpVerify, onnx: ortVerify, ratio: interpVerify / ortVerify },
    peakRssMB: rssMB(),
  };
}

export { serializeGraph };
