/**
 * Build outputs as inputs: `generate`, `run`, `inspect` and `bench --engine DIR` on ONNX and plan builds
 * give what `--model` gives; the build's limits hold on every backend (exit 2 naming the limit);
 * what --engine cannot do is refused with the fix; `doctor --smoke` runs its ONNX half here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-engine-'));
const ONNX = path.join(tmp, 'onnx');
const PLAN = path.join(tmp, 'plan');
const HALF = path.join(tmp, 'half');

function redraft(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}
const PROMPT = ['--prompt-ids', '5,6,7,8;9,10', '--max-length', '18'];
/** tiny-redrafter's per-layer caches (2 layers, 2 kv heads, head dim 8), zeroed, as a JSON inputs file holds them. */
const emptyCaches = (B: number, capacity: number) =>
  Object.fromEntries(['k_cache_0', 'v_cache_0', 'k_cache_1', 'v_cache_1'].map((n) => [n, { dtype: 'float32', shape: [B, 2, capacity, 8], data: Array(B * 2 * capacity * 8).fill(0) }]));

beforeAll(() => {
  for (const [dir, extra] of [[ONNX, ['--target', 'onnx']], [PLAN, ['--target', 'plan']], [HALF, ['--target', 'onnx', '--dtype', 'float16', '--max-batch', '2', '--max-seq', '32']]] as const) {
    const r = redraft(['build', '--model', 'tiny-redrafter', '--out', dir, ...extra, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('--engine DIR', () => {
  it('generate gives the tokens of --model on every backend of an ONNX and a plan build', () => {
    const want = redraft(['generate', '--model', 'tiny-redrafter', ...PROMPT, '--json']);
    expect(want.code, want.stderr).toBe(0);
    const tokens = want.json().tokens;
    for (const [dir, backends] of [[ONNX, [undefined, 'onnx', 'interp', 'plan']], [PLAN, [undefined, 'plan', 'interp']]] as const)
      for (const b of backends) {
        const r = redraft(['generate', '--engine', dir, ...PROMPT, '--json', ...(b ? ['--backend', b] : [])]);
        expect(r.code, `${dir} ${b}: ${r.stderr}`).toBe(0);
        expect(r.json().tokens, `${dir} --backend ${b ?? '(default)'}`).toEqual(tokens);
        expect(r.json().backend).toBe(b ?? (dir === ONNX ? 'onnx' : 'plan'));
      }
    // A Hugging Face-style base model and drafter: config.json records both directories.
    const llm = path.resolve(ROOT, '../shared/golden/models/llama_1_0');
    const drafter = path.resolve(ROOT, '../shared/golden/models/llama_drafter_1_0');
    const hf = path.join(tmp, 'hf');
    expect(redraft(['build', '--model', llm, '--drafter', drafter, '--target', 'onnx', '--out', hf, '--quiet']).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(hf, 'config.json'), 'utf8')).model).toMatchObject({ source: llm, drafter });
    const viaModel = redraft(['generate', '--model', llm, '--drafter', drafter, ...PROMPT, '--json']);
    const viaEngine = redraft(['generate', '--engine', hf, ...PROMPT, '--json']);
    expect(viaEngine.code, viaEngine.stderr).toBe(0);
    expect(viaEngine.json().tokens).toEqual(viaModel.json().tokens);
    // A float16 build keeps its dtype: the same tokens as --model --dtype float16.
    const half = redraft(['generate', '--model', 'tiny-redrafter', '--dtype', 'float16', '--max-batch', '2', '--max-seq', '32', ...PROMPT, '--json']);
    const fromDir = redraft(['generate', '--engine', HALF, ...PROMPT, '--json']);
    expect(fromDir.code, fromDir.stderr).toBe(0);
    expect(fromDir.json().tokens).toEqual(half.json().tokens);
  }, 120_000); // a dozen CLI processes: over the default 5 s on a loaded machine

  it('run --engine runs the step graph as --model does; bench reports its figures', () => {
    const inputs = path.join(tmp, 'inputs.json');
    fs.writeFileSync(inputs, JSON.stringify({
      is_context: { dtype: 'bool', shape: [1], data: [true] },
      input_ids: { dtype: 'int64', shape: [1, 3], data: [5, 6, 7] },
      prompt_lengths: { dtype: 'int64', shape: [1], data: [3] },
      beams: { dtype: 'int64', shape: [1, 4, 4], data: Array(16).fill(0) },
      cache_lengths: { dtype: 'int64', shape: [1], data: [0] },
      ...emptyCaches(1, 3 + 16),
    }));
    const a = redraft(['run', '--model', 'tiny-redrafter', '--inputs', inputs, '--out', path.join(tmp, 'a.json'), '--quiet']);
    const b = redraft(['run', '--engine', ONNX, '--inputs', inputs, '--out', path.join(tmp, 'b.json'), '--quiet']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const A = JSON.parse(fs.readFileSync(path.join(tmp, 'a.json'), 'utf8'));
    const B = JSON.parse(fs.readFileSync(path.join(tmp, 'b.json'), 'utf8'));
    expect(B.next_beams).toEqual(A.next_beams);
    const lp = (x: { data: (number | string)[] }) => x.data.map(Number);
    lp(B.next_log_probs).forEach((v, i) => expect(Math.abs(v - lp(A.next_log_probs)[i]!)).toBeLessThan(1e-3));

    // A --max-seq 32 build: capacity at most 48, which a 32-token prompt slot and 16 draft slots fill.
    const over = redraft(['inspect', '--engine', HALF, '--seq', '40']);
    expect(over.code, over.stderr).toBe(2);
    expect(over.stderr).toMatch(/--seq 40 needs a cache of capacity 88 [\s\S]*beyond the 'capacity' range \[1, 48\][\s\S]*only --seq 0 fits/);
    const ins = redraft(['inspect', '--engine', ONNX, '--format', 'json', '--quiet']);
    expect(ins.code, ins.stderr).toBe(0);
    const e = ins.json().engine as { target: string; files: { name: string; bytes: number }[] };
    expect(e.target).toBe('onnx');
    expect(e.files.find((f) => f.name === 'model.onnx')!.bytes).toBe(fs.statSync(path.join(ONNX, 'model.onnx')).size);

    const bench = redraft(['bench', '--engine', ONNX, ...PROMPT, '--runs', '2', '--json', '--quiet']);
    expect(bench.code, bench.stderr).toBe(0);
    const j = bench.json() as { tokensPerSecond: number; tokensPerStep: number; stepLatencyMs: { p50: number; p95: number; calls: number }; peakHostMemoryMB: number; runs: number };
    expect(j.runs).toBe(2);
    expect(j.tokensPerSecond).toBeGreaterThan(0);
    expect(j.tokensPerStep).toBeGreaterThanOrEqual(1);
    expect(j.stepLatencyMs.calls).toBeGreaterThan(2);
    expect(j.stepLatencyMs.p95).toBeGreaterThanOrEqual(j.stepLatencyMs.p50);
    expect(j.peakHostMemoryMB).toBeGreaterThan(10);
  });

  it("refuses requests beyond the build's limits on every backend, naming the limit (exit 2)", () => {
    for (const b of ['onnx', 'interp', 'plan']) {
      const seq = redraft(['generate', '--engine', HALF, '--prompt-ids', '5,6,7', '--max-length', '33', '--backend', b]);
      expect(seq.code, seq.stderr).toBe(2);
      expect(seq.stderr).toMatch(/--max-length 33 exceeds the build's --max-seq 32/);
      const rows = redraft(['generate', '--engine', HALF, '--prompt-ids', '5;6;7', '--max-length', '8', '--backend', b]);
      expect(rows.code, rows.stderr).toBe(2);
      expect(rows.stderr).toMatch(/3 prompt rows exceed the build's --max-batch 2/);
    }
    // Without --engine the build settings (flags or defaults) bound the request the same way.
    const dflt = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5,6,7', '--max-length', '300']);
    expect(dflt.code).toBe(2);
    expect(dflt.stderr).toMatch(/--max-length 300 exceeds the build's --max-seq 256/);
    const rows = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5;6;7;8;9', '--max-length', '8']);
    expect(rows.code).toBe(2);
    expect(rows.stderr).toMatch(/5 prompt rows exceed the build's --max-batch 4/);
    // The bound cited is the build's --max-seq, not max_position_embeddings (4096); the flag named is the one given.
    const far = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5', '--max-length', '5000']);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/--max-length 5000 exceeds the build's --max-seq 256/);
    expect(far.stderr).not.toMatch(/4096/);
    const newTokens = redraft(['generate', '--engine', HALF, '--prompt-ids', '5', '--max-new-tokens', '256']);
    expect(newTokens.code).toBe(2);
    expect(newTokens.stderr).toMatch(/--max-new-tokens 256 after the 1-token prompt makes 257 tokens, beyond the build's --max-seq 32[\s\S]*pass --max-new-tokens 31 or less/);
    expect(newTokens.stderr).not.toMatch(/--max-length/);
  });

  it('the default --max-length (64) is capped at the build\'s --max-seq; a run with no draft step says so', () => {
    for (const args of [['generate', '--engine', HALF], ['bench', '--engine', HALF, '--runs', '1'], ['generate', '--model', 'tiny-redrafter', '--max-seq', '16']]) {
      const r = redraft([...args, '--prompt-ids', '5', '--json', '--quiet']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      if (args[0] === 'generate') expect((r.json().tokens as number[][])[0]!.length).toBeLessThanOrEqual(args.includes('16') ? 16 : 32);
    }
    expect(redraft(['generate', '--model', 'tiny-redrafter', '--max-seq', '4', '--prompt-ids', '5,6,7,8']).stderr).toMatch(/the longest prompt \(4 tokens\) leaves no room to generate within the build's --max-seq 4/);
    // One prompt token and --max-length 2: the context call's token is the whole output, no step ran.
    const none = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5', '--max-length', '2']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/0 steps: the context call's token ended every row/);
    expect(none.stdout).not.toMatch(/1 tokens per step/);
    expect(redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5', '--max-length', '2', '--json']).json().meanTokensPerStep).toBeNull();
  }, 120_000);

  it('says what --engine cannot do, with the fix', () => {
    const cases: [string[], number, RegExp][] = [
      [['generate', '--engine', ONNX, '--dtype', 'float16', ...PROMPT], 2, /--dtype cannot be combined with --engine/],
      [['generate', '--engine', ONNX, '--model', 'tiny-redrafter', ...PROMPT], 2, /--model cannot be combined with --engine/],
      [['generate', '--engine', ONNX, '--autoregressive', ...PROMPT], 2, /--autoregressive runs the LLM-only graph/],
      [['generate', '--engine', ONNX, '--backend', 'trt', ...PROMPT], 3, /--backend trt: redraft's native TensorRT runtime is not available[\s\S]*fix: this directory holds an ONNX build; use --backend onnx/],
      [['generate', '--model', 'tiny-redrafter', '--backend', 'plan', ...PROMPT], 2, /--backend plan runs a build output/],
      [['generate', '--engine', path.join(tmp, 'nope'), ...PROMPT], 2, /does not exist/],
      [['generate', '--engine', path.resolve(ROOT, '../shared/golden/models/llama_1_0'), ...PROMPT], 2, /not a redraft build record[\s\S]*pass that directory as --model/],
      [['run', '--graph', path.join(ONNX, 'model.onnx'), '--inputs', 'x.json'], 2, /is an ONNX model, not a redraft graph file[\s\S]*--engine/],
      [['generate', '--model', ONNX, ...PROMPT], 2, /is a redraft build output, not a model directory[\s\S]*--engine/],
    ];
    for (const [args, code, message] of cases) {
      const r = redraft(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('a stale build (its recorded I/O differs from the model) is refused with the rebuild command', () => {
    const stale = path.join(tmp, 'stale');
    fs.cpSync(ONNX, stale, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(stale, 'config.json'), 'utf8'));
    cfg.io.outputs[0].shape[1] = 99;
    fs.writeFileSync(path.join(stale, 'config.json'), JSON.stringify(cfg));
    const r = redraft(['generate', '--engine', stale, ...PROMPT]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is stale[\s\S]*fix: rebuild it: redraft build --model tiny-redrafter --target onnx --dtype float32 --beam-width 4 --beam-length 4 --max-batch 4 --max-seq 256 --out .* --force/);
    // plan.json carries every weight's sha256: a plan build whose weights changed is refused too.
    const plan = path.join(tmp, 'plan-stale');
    fs.cpSync(PLAN, plan, { recursive: true });
    const p = JSON.parse(fs.readFileSync(path.join(plan, 'plan.json'), 'utf8'));
    p.weights[0].sha256 = '0'.repeat(64);
    fs.writeFileSync(path.join(plan, 'plan.json'), JSON.stringify(p));
    const rp = redraft(['generate', '--engine', plan, ...PROMPT]);
    expect(rp.code).toBe(2);
    expect(rp.stderr).toMatch(/plan\.json differs from the plan of builtin:tiny-redrafter/);
  });

  it('a damaged or changed build is refused on every backend, with the command that rebuilds exactly it', () => {
    const copy = (from: string, name: string) => {
      const d = path.join(tmp, name);
      fs.cpSync(from, d, { recursive: true });
      return d;
    };
    // The checkpoint changed in place since the build (same shapes): the content hash says so.
    const llmSrc = path.resolve(ROOT, '../shared/golden/models/llama_1_0');
    const llm = path.join(tmp, 'llm-edited');
    fs.cpSync(llmSrc, llm, { recursive: true });
    const drafter = path.resolve(ROOT, '../shared/golden/models/llama_drafter_1_0');
    const built = path.join(tmp, 'edited');
    expect(redraft(['build', '--model', llm, '--drafter', drafter, '--target', 'onnx', '--dtype', 'float16', '--beam-length', '3', '--out', built, '--quiet']).code).toBe(0);
    const st = path.join(llm, 'model.safetensors');
    const buf = fs.readFileSync(st);
    buf.writeFloatLE(-buf.readFloatLE(buf.length - 4), buf.length - 4); // the last weight element
    fs.writeFileSync(st, buf);
    for (const b of ['onnx', 'interp', 'plan']) {
      const r = redraft(['generate', '--engine', built, ...PROMPT, '--backend', b]);
      expect(r.code, `${b}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/is stale: the weights or config of .*llm-edited.* changed since the build/);
      expect(r.stderr).toContain(`fix: rebuild it: redraft build --model ${llm} --drafter ${drafter} --target onnx --dtype float16 --beam-width 4 --beam-length 3 --max-batch 4 --max-seq 256 --out ${built} --force`);
    }
    // Damaged files are exit 2 with the rebuild command, never an internal error.
    const plan = copy(PLAN, 'plan-cut');
    fs.truncateSync(path.join(plan, 'plan.json'), 1000);
    const onnx = copy(ONNX, 'onnx-cut');
    fs.truncateSync(path.join(onnx, 'model.onnx'), 1000);
    const src = copy(ONNX, 'bad-source');
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8'));
    cfg.model.source = 'builtin:nope';
    fs.writeFileSync(path.join(src, 'config.json'), JSON.stringify(cfg));
    const cases: [string, RegExp][] = [
      [plan, /plan\.json is not valid JSON[\s\S]*fix: rebuild it: redraft build --model tiny-redrafter --target plan/],
      [onnx, /ONNX Runtime cannot load .*model\.onnx[\s\S]*fix: rebuild it: redraft build --model tiny-redrafter --target onnx/],
      [src, /config\.json: "model\.source" is "builtin:nope", not a built-in model/],
    ];
    for (const [dir, message] of cases) {
      const r = redraft(['generate', '--engine', dir, ...PROMPT]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
    // run checks the profile on every backend too (ONNX Runtime alone would run 5 rows).
    const inputs = path.join(tmp, 'five.json');
    fs.writeFileSync(inputs, JSON.stringify({
      is_context: { dtype: 'bool', shape: [5], data: Array(5).fill(true) },
      input_ids: { dtype: 'int64', shape: [5, 2], data: Array(10).fill(5) },
      prompt_lengths: { dtype: 'int64', shape: [5], data: Array(5).fill(2) },
      beams: { dtype: 'int64', shape: [5, 4, 4], data: Array(80).fill(0) },
      cache_lengths: { dtype: 'int64', shape: [5], data: Array(5).fill(0) },
      ...emptyCaches(5, 2 + 16),
    }));
    const five = redraft(['run', '--engine', ONNX, '--inputs', inputs, '--backend', 'onnx']);
    expect(five.code, five.stderr).toBe(2);
    expect(five.stderr).toMatch(/dim 0 \('batch'\) is 5, outside the declared range \[1, 4\]/);
    // ... and the lengths and ids of the KV cache contract, before any backend runs (ONNX Runtime
    // would fail in a GatherND, or write next_cache_lengths 5 for a 3-wide input_ids without a word).
    const step = (over: Record<string, unknown>, capacity = 3 + 16) => ({
      is_context: { dtype: 'bool', shape: [1], data: [true] },
      input_ids: { dtype: 'int64', shape: [1, 3], data: [5, 6, 7] },
      prompt_lengths: { dtype: 'int64', shape: [1], data: [3] },
      beams: { dtype: 'int64', shape: [1, 4, 4], data: Array(16).fill(0) },
      cache_lengths: { dtype: 'int64', shape: [1], data: [0] },
      ...emptyCaches(1, capacity),
      ...over,
    });
    const bad: [Record<string, unknown>, number, RegExp][] = [
      [{ prompt_lengths: { dtype: 'int64', shape: [1], data: [5] } }, 19, /input 'prompt_lengths' row 0 is 5, outside \[0, 3\]/],
      [{ prompt_lengths: { dtype: 'int64', shape: [1], data: [-1] } }, 19, /input 'prompt_lengths' row 0 is -1/],
      [{ cache_lengths: { dtype: 'int64', shape: [1], data: [100] } }, 19, /input 'cache_lengths' row 0 is 100: a call writes 100 \+ 3 \(prompt width\) \+ 16 \(W·L\) = 119 slots, beyond the caches' capacity 19/],
      [{}, 4, /= 19 slots, beyond the caches' capacity 4/],
      [{ is_context: { dtype: 'bool', shape: [1], data: [false] }, prompt_lengths: { dtype: 'int64', shape: [1], data: [0] }, beams: { dtype: 'int64', shape: [1, 4, 4], data: Array(16).fill(99) } }, 19, /input 'beams' row 0 beam 0 slot 0 is 99, not a token id in \[0, 64\)/],
    ];
    for (const [over, capacity, message] of bad) {
      fs.writeFileSync(inputs, JSON.stringify(step(over, capacity)));
      for (const b of ['onnx', 'interp']) {
        const r = redraft(['run', '--engine', ONNX, '--inputs', inputs, '--backend', b]);
        expect(r.code, `${b}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe('');
      }
    }
  }, 180_000);

  it('doctor --smoke builds and generates with ONNX Runtime, compares with the interpreter, and says why TensorRT is skipped', () => {
    const r = redraft(['doctor', '--smoke', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json() as { smoke: { name: string; status: string; detail: string; seconds: number }[]; failed: number };
    expect(j.failed).toBe(0);
    const onnx = j.smoke.find((p) => p.name.startsWith('ONNX'))!;
    expect(onnx.status).toBe('pass');
    expect(onnx.detail).toMatch(/tokens equal the interpreter's/);
    const trt = j.smoke.find((p) => p.name.startsWith('TensorRT'))!;
    expect(['skipped', 'pass', 'fail']).toContain(trt.status);
    if (trt.status === 'skipped') expect(trt.detail.length).toBeGreaterThan(10);
  });
});
