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
    expect(g.stderr).toMatch(/--drafter \S+llama_drafter_1_2 (--dtype float32 )?--tp 4/);
    // inspect takes any build directory: a --tp build's ranks, from the model and settings it records.
    const ins = redraft(['inspect', '--engine', all, '--format', 'json', '--json']);
    expect(ins.code, ins.stderr).toBe(0);
    const rep = JSON.parse(ins.stdout);
    expect(rep.engine.ranks.map((x: { file: string }) => x.file)).toEqual(['rank0.onnx', 'rank1.onnx', 'rank2.onnx', 'rank3.onnx']);
    const sim = JSON.parse(redraft(['inspect', ...MODEL, '--tp', '4', '--format', 'json', '--json']).stdout);
    expect(rep.ranks).toEqual(sim.ranks);
    const alone = JSON.parse(redraft(['inspect', '--engine', one, '--format', 'json', '--json']).stdout);
    expect(alone.ranks.map((x: { rank: number }) => x.rank)).toEqual([2]);
    expect(redraft(['inspect', '--engine', all, '--tp', '4']).stderr).toMatch(/--tp cannot be combined with --engine[\s\S]*--rank R alone picks one/);
    // --format dot on a --tp build draws one rank: the fix it names (--rank R) works with --engine.
    expect(redraft(['inspect', '--engine', all, '--format', 'dot']).stderr).toMatch(/pass --rank R \(0\.\.3\)/);
    const dot = redraft(['inspect', '--engine', all, '--format', 'dot', '--rank', '1']);
    expect(dot.code, dot.stderr).toBe(0);
    expect(dot.stdout).toBe(redraft(['inspect', ...MODEL, '--tp', '4', '--rank', '1', '--format', 'dot']).stdout);
    const notBuilt = redraft(['inspect', '--engine', one, '--format', 'dot', '--rank', '1']);
    expect([notBuilt.code, notBuilt.stderr]).toEqual([2, expect.stringMatching(/--rank 1 is not a rank built in .*\(built: 2 of --tp 4\)/)]);
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

  it('per-rank CI jobs compose: a --rank build keeps the other ranks of its build in --out and merges config.json; another build there is refused (exit 2) unless --force', () => {
    const TINY = ['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--tp', '2'];
    const dir = tmp();
    expect(redraft([...TINY, '--rank', '1', '--out', dir]).code).toBe(0);
    const r0 = redraft([...TINY, '--rank', '0', '--out', dir]);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r0.stdout).toMatch(/kept rank 1 of this build \(ranks 0, 1 of 2 now in /);
    expect(files(dir)).toEqual(['config.json', 'rank0.onnx', 'rank1.onnx']);
    // The merged directory is what one all-ranks build writes, config.json included, byte for byte.
    const whole = tmp();
    expect(redraft([...TINY, '--out', whole]).code).toBe(0);
    for (const f of files(whole)) expect(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(whole, f))), f).toBe(true);
    expect(json(path.join(dir, 'config.json')).tensorParallel.built).toEqual([0, 1]);
    expect(JSON.parse(redraft([...TINY, '--rank', '0', '--out', dir, '--json']).stdout).status).toBe('up-to-date');
    // Another build (other flags, other tp size) is refused, nothing touched.
    const before = fs.readFileSync(path.join(dir, 'config.json'));
    const other = redraft([...TINY, '--rank', '0', '--dtype', 'float16', '--out', dir]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/cannot take rank 0 of this --tp 2 build: it holds ranks 0, 1 of another build/);
    expect(other.stderr).toMatch(/fix: pass --force to replace/);
    const tp4 = redraft(['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--tp', '4', '--rank', '3', '--out', dir]);
    expect(tp4.code).toBe(2);
    expect(tp4.stderr).toMatch(/it holds a --tp 2 build \(ranks 0, 1\), not --tp 4/);
    expect(files(dir)).toEqual(['config.json', 'rank0.onnx', 'rank1.onnx']);
    expect(fs.readFileSync(path.join(dir, 'config.json')).equals(before)).toBe(true);
    // --force replaces it with the one rank.
    expect(redraft([...TINY, '--rank', '0', '--dtype', 'float16', '--out', dir, '--force']).code).toBe(0);
    expect(files(dir)).toEqual(['config.json', 'rank0.onnx']);
    expect(json(path.join(dir, 'config.json')).tensorParallel.built).toEqual([0]);
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
    expect(r.code).toBe(2); // a usage conflict: no install makes --backend onnx run collectives
    expect(r.stderr).toMatch(/--backend onnx cannot be combined with --tp 2: ONNX Runtime's CPU build cannot run the rank graphs' collectives[\s\S]*the flags conflict/);
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
    // --seq sizes capacity (cache + prompt slot + W·L) as inspect does; the profile bounds --batch and --seq.
    const seq = JSON.parse(redraft(['inspect', ...MODEL, '--tp', '2', '--seq', '100', '--format', 'json', '--json']).stdout);
    expect(seq.dims).toMatchObject({ past: 100, capacity: 100 + 32 + 16 });
    expect(seq.ranks[0].kvReadBytes).toBeGreaterThan(JSON.parse(redraft(['inspect', ...MODEL, '--tp', '2', '--seq', '10', '--format', 'json', '--json']).stdout).ranks[0].kvReadBytes);
    for (const [args, message] of [[['--batch', '9'], /--batch 9 is outside the range of dim 'batch' \[1, 4\]/], [['--seq', '1000'], /--seq 1000 needs a cache of capacity 1048/], [['--format', 'dot'], /--format dot draws one graph; --tp 2 has 2 rank graphs[\s\S]*--rank R/]] as const) {
      const bad = redraft(['inspect', ...MODEL, '--tp', '2', ...args]);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
    expect(redraft(['inspect', ...MODEL, '--tp', '2', '--rank', '1', '--format', 'dot']).stdout).toMatch(/^digraph "redrafter_step"/);
    // The table says what the bytes are: the sum over a graph call's collectives of each op.
    const table = redraft(['inspect', ...MODEL, '--tp', '2', '--batch', '2']).stdout;
    expect(table).toMatch(/all_reduce: 4 calls, 36\.0 KiB in all/);
    const full = JSON.parse(redraft(['inspect', ...MODEL, '--format', 'json', '--json']).stdout).parameters.bytes;
    expect(s.ranks[0].weightBytes).toBeLessThan(full);
    const out = tmp();
    const e = redraft(['export', ...MODEL, '--tp', '2', '--format', 'graph', '--out', out]);
    expect(e.code, e.stderr).toBe(0);
    expect(files(out)).toEqual(['config.json', 'rank0.graph', 'rank1.graph']);
    // --out m.onnx with --tp: refused (a directory named m.onnx is not what was asked), nothing written.
    const asFile = redraft(['export', ...MODEL, '--tp', '2', '--out', path.join(out, 'ex2', 'm.onnx')]);
    expect([asFile.code, asFile.stderr]).toEqual([2, expect.stringMatching(/--out '.*m\.onnx' names a file, but export --tp writes a directory[\s\S]*fix: pass a directory, e\.g\. --out .*ex2\/m\n/)]);
    expect(fs.existsSync(path.join(out, 'ex2'))).toBe(false);
  });
});
