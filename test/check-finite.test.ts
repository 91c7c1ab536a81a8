/**
 * `generate` (checked by default; `--check-finite`) names the call and the output holding the
 * first NaN/Inf (exit 4), where an unchecked run (`--no-check-finite`) prints tokens computed from garbage. The model: the golden Llama
 * with its projections scaled ×1000, so float16 attention scores overflow.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { checkFinite } from '../builders/generate/finite.js';
import { redrafterGenerate } from '../builders/generate/loop.js';
import { ModelError } from '../dsl/errors.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { GOLDEN } from './golden-root.js';
import { generationShape, randomPair } from './precision-util.js';

const ROOT = path.resolve(__dirname, '..');
const LLM = path.join(GOLDEN, 'models/llama_1_0');
const DRAFTER = path.join(GOLDEN, 'models/llama_drafter_1_0');

/** The golden checkpoint with every projection weight multiplied by `k`. */
function scaledModel(k: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-finite-'));
  const buf = Buffer.from(fs.readFileSync(path.join(LLM, 'model.safetensors')));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__' || !/_proj\.weight$/.test(name)) continue;
    expect(e.dtype).toBe('F32');
    for (let o = 8 + n + e.data_offsets[0]; o < 8 + n + e.data_offsets[1]; o += 4) buf.writeFloatLE(buf.readFloatLE(o) * k, o);
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors'), buf);
  fs.copyFileSync(path.join(LLM, 'config.json'), path.join(dir, 'config.json'));
  return dir;
}

const redraft = (args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'redraft.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });

describe('generate --check-finite', () => {
  it('fails with the call and the output named, exit 4, where an unchecked run prints tokens', () => {
    const dir = scaledModel(1000);
    try {
      const args = ['generate', '--model', dir, '--drafter', DRAFTER, '--dtype', 'float16', '--prompt-ids', '5,6,7', '--max-length', '10', '--quiet'];
      const unchecked = redraft([...args, '--no-check-finite']);
      expect(unchecked.status, unchecked.stderr).toBe(0);
      // Checked by default, and with the flag.
      expect(redraft(args).status).toBe(4);
      const r = redraft([...args, '--check-finite']);
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/the context call of redrafter_step: output '\w+' \(float(16|32) \[[\d, ]+\]\) holds a non-finite value at \[[\d, ]+\]/);
      expect(r.stderr).toMatch(/fix: the model overflows in float16: try --dtype bfloat16/);
      expect(r.stdout).toBe('');
      // The same model in bfloat16 (float32's range) passes the check.
      const bf = redraft([...args.map((a) => (a === 'float16' ? 'bfloat16' : a)), '--check-finite']);
      expect(bf.status, bf.stderr).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes finite runs through unchanged and counts calls', async () => {
    const { llm, drafter } = randomPair(3);
    const def = redrafterModel(llm, drafter, { name: 'ok' });
    const o = { dtype: 'float16' as const, beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 32 };
    const s = generationShape(def, 2, 3, 9, 'float16');
    const prompt = [[3n, 4n, 5n]];
    const plain = await redrafterGenerate(def.stepGraph(o), async (g, i) => runGraph(g, i), prompt, s);
    const checked = await redrafterGenerate(def.stepGraph(o), checkFinite(async (g, i) => runGraph(g, i)), prompt, s);
    expect(checked.outputIds).toEqual(plain.outputIds);
    let calls = 0;
    const bad = checkFinite(async () => ({ x: { dtype: 'float32', shape: [1, 2], data: Float32Array.of(calls++ < 2 ? 1 : NaN, 0) } }));
    const g = def.stepGraph(o);
    await bad(g, {});
    await bad(g, {});
    await expect(bad(g, {})).rejects.toThrow(ModelError);
    await expect(checkFinite(async () => ({ y: { dtype: 'float32', shape: [2], data: Float32Array.of(0, Infinity) } }))(g, {})).rejects.toThrow(/the context call of redrafter_step: output 'y' \(float32 \[2\]\) holds a non-finite value at \[1\]/);
    // In-place outputs (the caches) stay on the device: the check never reads them.
    const resident = { dtype: 'float32', shape: [1], get data(): Float32Array { throw new Error('read a device-resident cache'); } } as const;
    const kept = await checkFinite(async () => ({ k_cache_0_out: resident, next_log_probs: { dtype: 'float32', shape: [1], data: Float32Array.of(0) } }))(g, {});
    expect(kept.k_cache_0_out).toBe(resident);
  });
});
