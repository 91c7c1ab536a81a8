/**
 * --tp through the CLI: per-rank build outputs (rank<R>.*) plus config.json with the mapping,
 * each rank byte-identical when built alone with --rank, plans that carry the collectives,
 * simulated generation equal to tp=1, inspect's per-rank bytes, and the refusals.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { onnx } from '../builders/onnx/proto.js';
import { compareTensor } from '../builders/conformance/compare.js';
import { readTensors, writeTensors } from '../builders/tensor-io.js';
import { loadAnyModel } from '../builders/conformance/env.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { stepInputs } from './trt-double-util.js';
import { GOLDEN } from './golden-root.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
function redraft(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tp-'));
const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
// 6 heads, 3 kv heads, vocabulary 40: uneven at tp=4.
const MODEL = ['--model', path.join(GOLDEN, 'models/llama_1_2'), '--drafter', path.join(GOLDEN, 'models/llama_drafter_1_2')];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('build --tp', { timeout: 120_000 }, () => {
  it('writes rank<R>.onnx per rank and config.json with the mapping; --rank R alone gives the same bytes', () => {
    const all = tmp();
    const r = redraft(['build', ...MODEL, '--target', 'onnx', '--tp', '4', '--out', all, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(files(all)).toEqual(['config.json', 'rank0.onnx', 'rank1.onnx', 'rank2.onnx', 'rank3.onnx']);
    expect(r.stderr).toMatch(/--tp 4: num_attention_heads 6 is not a multiple of --tp 4/);
    const cfg = json(path.join(all, 'config.json'));
    expect(cfg.files).toEqual(['rank0.onnx', 'rank1.onnx', 'rank2.onnx', 'rank3.onnx']);
    const tp = cfg.tensorParallel;
    expect(tp.size).toBe(4);
    expect(tp.built).toEqual([0, 1, 2, 3]);
    expect(tp.launch.communicator).toMatch(/NCCL/);
    // Ranks 2 and 3 share kv head 2; every rank's caches are its kv heads of the 3.
    expect(tp.ranks.map((x: { sliced: Record<string, { start: number; end: number }> }) => [x.sliced.k_cache_0.start, x.sliced.k_cache_0.end])).toEqual([[0, 1], [1, 2], [2, 3], [2, 3]]);
    expect(tp.ranks[0].io.inputs.find((i: { name: string }) => i.name === 'k_cache_1').shape[1]).toBe(1);
    expect(tp.ranks.every((x: { collectives: { calls: number } }) => x.collectives.calls === 2 * 2 + 1)).toBe(true);
    // The collectives are com.redraft nodes.
    const m = onnx.ModelProto.decode(fs.readFileSync(path.join(all, 'rank1.onnx')));
    expect(m.graph!.node!.filter((n) => n.domain === 'com.redraft').map((n) => n.opType)).toEqual(['AllReduce', 'AllReduce', 'AllReduce', 'AllReduce', 'AllGather']);
    const one = tmp();
    const r1 = redraft(['build', ...MODEL, '--target', 'onnx', '--tp', '4', '--rank', '2', '--out', one]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(files(one)).toEqual(['config.json', 'rank2.onnx']);
    expect(fs.readFileSync(path.join(one, 'rank2.onnx')).equals(fs.readFileSync(path.join(all, 'rank2.onnx')))).toBe(true);
    expect(json(path.join(one, 'config.json')).tensorParallel.ranks[2].contentHash).toBe(tp.ranks[2].contentHash);
    // A --tp build directory is not one engine: --engine says how its ranks run.
    const g = redraft(['generate', '--engine', all, '--prompt-ids', '3,7', '--max-length', '12']);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/is a --tp 4 build \(rank<R>\.\* files, one per rank\): its ranks run one process per GPU/);
    expect(g.stderr).toMatch(/--drafter \S+llama_drafter_1_2 --tp 4/);
    // Unchanged inputs: up to date.
    expect(redraft(['build', ...MODEL, '--target', 'onnx', '--tp', '4', '--out', all, '--json']).stdout).toMatch(/"status": "up-to-date"/);
  });

  it('plans for TensorRT 10.16 carry addDistCollective per rank; older versions are refused naming the version', () => {
    const out = tmp();
    const r = redraft(['build', '--model', 'tiny-redrafter', '--dry-run', '--trt-version', '10.16', '--tp', '2', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(files(out)).toEqual(['config.json', 'rank0.plan.json', 'rank1.plan.json']);
    for (const f of ['rank0.plan.json', 'rank1.plan.json']) expect(fs.readFileSync(path.join(out, f), 'utf8')).toMatch(/DistCollective/);
    const alone = tmp();
    expect(redraft(['build', '--model', 'tiny-redrafter', '--dry-run', '--trt-version', '10.16', '--tp', '2', '--rank', '1', '--out', alone]).code).toBe(0);
    expect(fs.readFileSync(path.join(alone, 'rank1.plan.json')).equals(fs.readFileSync(path.join(out, 'rank1.plan.json')))).toBe(true);
    const old = tmp();
    const r2 = redraft(['build', '--model', 'tiny-redrafter', '--dry-run', '--trt-version', '10.9', '--tp', '2', '--out', old]);
    expect(r2.code).toBe(4);
    expect(r2.stderr).toMatch(/needs TensorRT 10\.16 or newer \(addDistCollective\)/);
    expect(files(old)).toEqual([]);
  });

  it('refuses bad --tp / --rank', () => {
    expect(redraft(['build', '--model', 'tiny-redrafter', '--rank', '1', '--out', tmp()]).stderr).toMatch(/--rank needs --tp N/);
    const r = redraft(['build', '--model', 'tiny-redrafter', '--tp', '2', '--rank', '2', '--out', tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--rank 2 is outside --tp 2 \(ranks 0\.\.1\)/);
    expect(redraft(['build', '--model', 'tiny-redrafter', '--tp', '0', '--out', tmp()]).stderr).toMatch(/--tp must be an integer >= 1, got "0"/);
  });
});

describe('generate, inspect and export --tp', { timeout: 180_000 }, () => {
  it('simulated tp=2 and tp=4 generate tp=1\'s tokens; ONNX Runtime is refused with the reason', () => {
    const gen = (extra: string[]) => {
      const r = redraft(['generate', ...MODEL, '--prompt-ids', '3,7,11;5', '--max-length', '20', '--json', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).tokens;
    };
    const one = gen([]);
    expect(gen(['--tp', '2'])).toEqual(one);
    expect(gen(['--tp', '4'])).toEqual(one);
    expect(gen(['--tp', '4', '--autoregressive'])).toEqual(gen(['--autoregressive']));
    const r = redraft(['generate', ...MODEL, '--prompt-ids', '3,7', '--max-length', '12', '--tp', '2', '--backend', 'onnx']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ONNX Runtime's CPU build cannot run the rank graphs' collectives/);
  });

  it('run --tp 2 cuts one-device step inputs into rank slices and returns tp=1\'s outputs', () => {
    const def = redrafterModel(loadAnyModel(MODEL[1]), loadAnyModel(MODEL[3]), { name: 'm' });
    const dir = tmp();
    const ins = path.join(dir, 'in.safetensors');
    writeTensors(ins, stepInputs(def.build({ dtype: 'float32', beamWidth: 4, beamLength: 4, maxBatch: 4, maxSeq: 256 })));
    const run = (extra: string[], out: string) => {
      const r = redraft(['run', ...MODEL, '--inputs', ins, '--out', out, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return readTensors(out);
    };
    const a = run([], path.join(dir, 'one.safetensors'));
    const b = run(['--tp', '2'], path.join(dir, 'two.safetensors'));
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [k, t] of Object.entries(a)) expect(compareTensor(k, t, b[k], { atol: 1e-5, rtol: 1e-5 }) ?? 'ok', k).toBe('ok');
  });

  it('inspect reports each rank\'s weight bytes and collective bytes per call; export writes rank<R>.graph', () => {
    const r = redraft(['inspect', ...MODEL, '--tp', '2', '--batch', '2', '--format', 'json', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ranks).toHaveLength(2);
    // batch 2, prompt 32 + W·L 16 draft tokens: all_reduce of [2, 48, 24] float32 = 9216 B, 2 per layer.
    expect(s.dims).toMatchObject({ batch: 2, prompt: 32 });
    expect(s.ranks[0].collectives.byOp.all_reduce).toEqual({ calls: 4, bytes: 4 * 2 * 48 * 24 * 4 });
    // all_gather of this rank's 20 of 40 vocabulary logits, on the 1 + 16 rows acceptance reads (not all 48).
    expect(s.ranks[0].collectives.byOp.all_gather).toEqual({ calls: 1, bytes: 2 * 17 * 20 * 4 });
    const full = JSON.parse(redraft(['inspect', ...MODEL, '--format', 'json', '--json']).stdout).parameters.bytes;
    expect(s.ranks[0].weightBytes).toBeLessThan(full);
    const out = tmp();
    const e = redraft(['export', ...MODEL, '--tp', '2', '--format', 'graph', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    expect(files(out)).toEqual(['config.json', 'rank0.graph', 'rank1.graph']);
  });
});
