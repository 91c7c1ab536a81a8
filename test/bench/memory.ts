/**
 * Peak memory of `redraft generate --backend onnx` on a checkpoint large enough for weights to
 * dominate: a bfloat16 Llama-shaped base model and drafter written to a temporary directory
 * (`mb` MB of weights in all), then each mode — speculative and --autoregressive — run in its
 * own Node process (the CLI's main() in-process, so its peak RSS is exactly the command's),
 * side by side in the same run. The goal is a peak of at most 2× the weight bytes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { f32ToBf16 } from '../../dsl/dtype.js';
import { writeSafetensors, type TensorToWrite } from '../../builders/weights/safetensors.js';
import { drafterShapes, llamaShapes } from './scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function randomBf16(count: number, seed: number, scale: number): Uint16Array {
  const out = new Uint16Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = f32ToBf16(((s / 2 ** 32) - 0.5) * 2 * scale);
  }
  return out;
}

function writeModel(dir: string, config: Record<string, unknown>, shapes: Map<string, number[]>, seed: number): number {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const tensors: TensorToWrite[] = [];
  let bytes = 0;
  let k = 0;
  for (const [name, shape] of shapes) {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = name.includes('norm') ? new Uint16Array(count).fill(f32ToBf16(1)) : randomBf16(count, seed + k++, 0.05);
    if (name === 'lm_head.weight') data.fill(0, 0, shape[1]); // the pad id is never generated
    tensors.push({ name, dtype: 'bfloat16', shape, data });
    bytes += data.byteLength;
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return bytes;
}

/** Base model + drafter of about `mb` MB of bfloat16 weights (vocab 32000, hidden 1024 at full size). */
export function writeMemoryModels(root: string, quick: boolean): { llm: string; drafter: string; weightBytes: number } {
  const H = quick ? 512 : 1024;
  const V = quick ? 16000 : 32000;
  const llmCfg = {
    model_type: 'llama', vocab_size: V, hidden_size: H, intermediate_size: Math.round((H * 11) / 4), num_hidden_layers: 4,
    num_attention_heads: H / 64, num_key_value_heads: H / 64, rms_norm_eps: 1e-5, rope_theta: 10000, pad_token_id: 0,
    max_position_embeddings: 4096, torch_dtype: 'bfloat16',
  };
  const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: V, hidden_size: H, exit_dim: 2 * H, num_draft_layers: 2, num_lookback_tokens: 1, rnn: true };
  const llm = path.join(root, 'llm');
  const drafter = path.join(root, 'drafter');
  const a = writeModel(llm, llmCfg, llamaShapes(llmCfg as never), 11);
  const b = writeModel(drafter, drCfg, drafterShapes(drCfg), 12);
  return { llm, drafter, weightBytes: a + b };
}

export async function memoryScenario(opts: { quick: boolean }): Promise<Record<string, unknown>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-bench-mem-'));
  try {
    const m = writeMemoryModels(root, opts.quick);
    const common = ['generate', '--model', m.llm, '--drafter', m.drafter, '--dtype', 'bfloat16', '--backend', 'onnx', '--prompt-ids', '5,18,5,3', '--max-length', opts.quick ? '12' : '16', '--beam-width', '4', '--beam-length', '5', '--json', '-q'];
    const out: Record<string, unknown> = { scenario: 'memory', weightBytes: m.weightBytes, weightMB: m.weightBytes / 2 ** 20 };
    // Both modes as generate runs them, then both again with ONNX Runtime's defaults (no
    // low-memory mode) for the price in time and the memory it saves.
    const runs = [['speculative', [], '1'], ['autoregressive', ['--autoregressive'], '1'], ['speculativeOrtDefaults', [], '0'], ['autoregressiveOrtDefaults', ['--autoregressive'], '0']] as const;
    for (const [mode, extra, low] of runs) {
      const r = measureRss([...common, ...extra], { REDRAFT_ONNX_LOW_MEMORY: low });
      out[mode] = { peakRssMB: r.peakRssBytes / 2 ** 20, ratioToWeights: r.peakRssBytes / m.weightBytes, seconds: r.seconds, tokens: r.tokens };
    }
    out.goal = 'peak RSS <= 2x weight bytes in both modes';
    return out;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Runs the CLI's main() in a fresh Node process; its peak RSS, time and tokens. */
function measureRss(args: string[], env: Record<string, string> = {}): { peakRssBytes: number; seconds: number; tokens: unknown } {
  const cli = pathToFileURL(path.resolve(here, '../../bin/cli.js')).href;
  const script = `const { main } = await import(${JSON.stringify(cli)});
const t0 = performance.now();
const code = await main(['node', 'redraft', ...${JSON.stringify(args)}]);
process.stderr.write('\\nBENCH ' + JSON.stringify({ code, maxRSS: process.resourceUsage().maxRSS * 1024, seconds: (performance.now() - t0) / 1000 }) + '\\n');
process.exitCode = code;`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1', ...env } });
  const line = (r.stderr ?? '').split('\n').find((l) => l.startsWith('BENCH '));
  if (!line || r.status !== 0) throw new Error(`generate failed (exit ${r.status}): ${(r.stderr ?? '').split('\n').filter(Boolean).slice(-3).join(' | ')}`);
  const rep = JSON.parse(line.slice(6)) as { maxRSS: number; seconds: number };
  const doc = JSON.parse(r.stdout) as { tokens?: unknown };
  return { peakRssBytes: rep.maxRSS, seconds: rep.seconds, tokens: doc.tokens };
}
