/**
 * The CLI as users and CI meet it: exit codes, messages that name the problem and the fix,
 * exactly one JSON document with --json, and no output file after a failure.
 */
import { spawnSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
import { GOLDEN } from './golden-root.js';
const FIX = path.join(ROOT, 'test', 'fixtures');

function redraft(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-cli-'));
const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('usage errors (exit 2)', () => {
  it('unknown flag', () => {
    const r = redraft(['build', '--model', 'tiny-redrafter', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });
  it('beam width above 50 names the flag and why', () => {
    const out = tmp();
    const r = redraft(['build', '--model', 'tiny-redrafter', '--beam-width', '60', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--beam-width must be an integer in \[1, 50\], got "60"/);
    expect(r.stderr).toMatch(/top 50/);
    expect(files(out)).toEqual([]);
  });
  it('beam length below 2', () => {
    const r = redraft(['build', '--model', 'tiny-redrafter', '--beam-length', '1', '--out', tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--beam-length must be an integer in \[2, 64\]/);
  });
  it('missing --model, unknown model, bad build.json key', () => {
    expect(redraft(['build']).stderr).toMatch(/--model is required/);
    const r = redraft(['build', '--model', 'no-such-model', '--out', tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/neither a built-in model/);
    const cfg = path.join(tmp(), 'build.json');
    fs.writeFileSync(cfg, JSON.stringify({ beamWidht: 4 }));
    const r2 = redraft(['build', '--model', 'tiny-redrafter', '--config', cfg, '--out', tmp()]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/unknown key 'beamWidht'/);
  });
  it('an output path that is not writable', () => {
    const f = path.join(tmp(), 'file');
    fs.writeFileSync(f, 'x');
    const r = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', path.join(f, 'sub')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not writable/);
  });
  it('an output path below /proc fails at once instead of spinning in mkdir -p', () => {
    const r = redraft(['export', '--model', path.join(FIX, 'small-model.ts'), '--format', 'graph', '--out', '/proc/redraft-no/such/model.graph']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'\/proc\/redraft-no\/such' is not writable/);
  });
});

describe('bad models and weights (exit 4)', () => {
  it('a model directory whose config lacks a field', () => {
    const dir = tmp();
    const cfg = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'models/llama_1_0/config.json'), 'utf8'));
    delete cfg.num_hidden_layers;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    fs.copyFileSync(path.join(GOLDEN, 'models/llama_1_0/model.safetensors'), path.join(dir, 'model.safetensors'));
    const out = tmp();
    const r = redraft(['build', '--model', dir, '--drafter', path.join(GOLDEN, 'models/llama_drafter_1_0'), '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/config\.json: missing required field "num_hidden_layers"/);
    expect(files(out)).toEqual([]);
  });
  it('a drafter that does not match its base model', () => {
    const out = tmp();
    const r = redraft(['build', '--model', path.join(GOLDEN, 'models/llama_1_0'), '--drafter', path.join(GOLDEN, 'models/drafter_1_0'), '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/vocab_size differs: .*llama_1_0\/config\.json has 32, .*drafter_1_0\/config\.json has 7/);
    expect(files(out)).toEqual([]);
  });
  it('truncated weights', () => {
    const dir = tmp();
    fs.copyFileSync(path.join(GOLDEN, 'models/llama_1_0/config.json'), path.join(dir, 'config.json'));
    const buf = fs.readFileSync(path.join(GOLDEN, 'models/llama_1_0/model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), buf.subarray(0, buf.length - 100));
    const out = tmp();
    const r = redraft(['build', '--model', dir, '--drafter', path.join(GOLDEN, 'models/llama_drafter_1_0'), '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/model\.safetensors.*truncated|belong to no tensor|run past the end/);
    expect(files(out)).toEqual([]);
  });
  it('a model module that throws, exports nothing, or has a shape error (with its line)', () => {
    const a = redraft(['build', '--model', path.join(FIX, 'throws-model.ts'), '--target', 'onnx', '--out', tmp()]);
    expect(a.code).toBe(4);
    expect(a.stderr).toMatch(/threw while loading: boom while loading the model/);
    const b = redraft(['build', '--model', path.join(FIX, 'empty-model.ts'), '--target', 'onnx', '--out', tmp()]);
    expect(b.code).toBe(4);
    expect(b.stderr).toMatch(/exports no model definition \(exports: notAModel\)/);
    const out = tmp();
    const c = redraft(['build', '--model', path.join(FIX, 'shape-error-model.ts'), '--target', 'onnx', '--out', out]);
    expect(c.code).toBe(4);
    expect(c.stderr).toMatch(/matmul: contracted dims differ/);
    expect(c.stderr).toMatch(/shape-error-model\.ts:12:\d+/);
    expect(files(out)).toEqual([]);
  });
});

describe('a model module in its own project', () => {
  const source = `import { buildNetwork } from 'redraft-trt/dsl';
import { defineModel } from 'redraft-trt/models';
import { linear, silu, add, log_softmax } from 'redraft-trt/ops';
export default defineModel({
  name: 'my-drafter',
  build(opts) {
    return buildNetwork('my-drafter', (net) => {
      const x = net.input('x', 'float32', ['batch', 8], { batch: { min: 1, opt: 1, max: opts.maxBatch } });
      const w = net.constant(new Float32Array(64), 'float32', [8, 8], 'w');
      net.markOutput(log_softmax(add(x, silu(linear(x, w)))), 'log_probs');
    });
  },
});
`;
  it('imports redraft by package name when the project depends on it (the README example)', () => {
    const proj = tmp();
    fs.writeFileSync(path.join(proj, 'my-drafter.ts'), source);
    fs.mkdirSync(path.join(proj, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(proj, 'node_modules', 'redraft-trt'));
    const out = path.join(proj, 'out');
    const r = redraft(['build', '--model', path.join(proj, 'my-drafter.ts'), '--target', 'onnx', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(files(out)).toEqual(['config.json', 'model.onnx']);
  });
  it('says how to install redraft when the import does not resolve', () => {
    const proj = tmp();
    fs.writeFileSync(path.join(proj, 'my-drafter.ts'), source);
    const out = path.join(proj, 'out');
    const r = redraft(['build', '--model', path.join(proj, 'my-drafter.ts'), '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/imports 'redraft-trt\/dsl', which does not resolve from/);
    expect(r.stderr).toMatch(/fix: install redraft in the model's project/);
    expect(files(out)).toEqual([]);
  });
});

describe('missing TensorRT (exit 3)', () => {
  it('fails before any work, names libnvinfer, writes nothing', () => {
    const out = tmp();
    const r = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'trt', '--out', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/libnvinfer|TensorRT/);
    expect(r.stderr).toMatch(/fix:/);
    expect(files(out)).toEqual([]);
  });
});

describe('builds', () => {
  it('onnx build writes model + config atomically, is reproducible, and skips when up to date', () => {
    const out = tmp();
    const a = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', out, '--json']);
    expect(a.code).toBe(0);
    const doc = JSON.parse(a.stdout);
    expect(doc.status).toBe('built');
    expect(files(out)).toEqual(['config.json', 'model.onnx']);
    const bytes = fs.readFileSync(path.join(out, 'model.onnx'));
    const b = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', out]);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/up to date/);
    const out2 = tmp();
    redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', out2]);
    expect(fs.readFileSync(path.join(out2, 'model.onnx')).equals(bytes)).toBe(true);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.contentHash).toBe(doc.contentHash);
    expect(cfg.io.inputs[0]).toMatchObject({ name: 'x', dtype: 'float32', shape: ['batch', 4] });
  });
  it('plan build (dry run) lists every TensorRT call', () => {
    const out = tmp();
    const r = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--dry-run', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(fs.readFileSync(path.join(out, 'plan.json'), 'utf8'));
    expect(Array.isArray(plan.layers)).toBe(true);
    expect(plan.layers.length).toBeGreaterThan(0);
  });
  it('the example custom drafter builds to ONNX', () => {
    const out = tmp();
    const r = redraft(['build', '--model', 'models/examples/custom-drafter.ts', '--target', 'onnx', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(files(out)).toContain('model.onnx');
  });
  it('SIGTERM during a build exits 143, removes temporaries and keeps the earlier build', async () => {
    const out = tmp();
    expect(redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', out]).code).toBe(0);
    const before = fs.readFileSync(path.join(out, 'model.onnx'));
    const child = spawn(process.execPath, [CLI, 'build', '--model', 'tiny-redrafter', '--target', 'onnx', '--out', out, '--force'], { cwd: ROOT });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    await new Promise((r) => setTimeout(r, 400));
    child.kill('SIGTERM');
    const code = await exited;
    expect([143, 0]).toContain(code); // 0 only if the build won the race
    expect(files(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    if (code === 143) expect(fs.readFileSync(path.join(out, 'model.onnx')).equals(before)).toBe(true);
  }, 60_000);
});

describe('machine-readable output', () => {
  it('doctor --json prints one object with tensorrtHeaders', () => {
    const r = redraft(['doctor', '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(typeof d.tensorrtHeaders).toBe('boolean');
  });
  it('conformance exits 5 on failures and prints N passed, M failed last', () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'tree_attention'));
    const c = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'tree_attention/dedup_prefix_0.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'tree_attention/ok.json'), JSON.stringify(c));
    c.outputs.prefix_tree.data[0] = 7;
    fs.writeFileSync(path.join(dir, 'tree_attention/bad.json'), JSON.stringify(c));
    const r = redraft(['conformance', dir]);
    expect(r.code).toBe(5);
    expect(r.stdout.trim().split('\n').pop()).toBe('1 passed, 1 failed');
    expect(r.stdout).toMatch(/FAIL .*bad\.json: output 'prefix_tree' index \[0, 0, 0\]: want 7, got 0/);
    const j = redraft(['conformance', dir, '--json']);
    expect(j.code).toBe(5);
    const doc = JSON.parse(j.stdout); // exactly one document, even though the run failed
    expect([doc.ok, doc.passed, doc.failed, doc.dir]).toEqual([false, 1, 1, dir]);
    // One case file: the document names it `case`, not `dir`.
    const one = JSON.parse(redraft(['conformance', path.join(dir, 'tree_attention/ok.json'), '--json']).stdout);
    expect([one.ok, one.case, one.dir]).toEqual([true, path.join(dir, 'tree_attention/ok.json'), undefined]);
  });
  it('conformance: an unreadable case file is exit 2 naming the file and what is wrong, not a failure', () => {
    const dir = tmp();
    const c = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'tree_attention/dedup_prefix_0.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify(c));
    fs.writeFileSync(path.join(dir, 'torn.json'), '{"fn": "tree_attention"');
    const torn = redraft(['conformance', dir]);
    expect([torn.code, torn.stderr]).toEqual([2, expect.stringMatching(/case file '.*torn\.json' is not readable JSON[\s\S]*fix: /)]);
    fs.rmSync(path.join(dir, 'torn.json'));
    fs.writeFileSync(path.join(dir, 'empty.json'), JSON.stringify({ ...c, outputs: {} }));
    const empty = redraft(['conformance', path.join(dir, 'empty.json'), '--json']);
    expect(empty.code).toBe(2);
    expect(JSON.parse(empty.stdout).error).toMatchObject({ kind: 'UsageError', message: expect.stringMatching(/case file '.*empty\.json' declares no outputs/) });
  });
  it('with --json every failure is still one JSON document on stdout', () => {
    const usage = redraft(['build', '--model', 'tiny-redrafter', '--bogus', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({ ok: false, exitCode: 2, error: { kind: 'UsageError', message: "unknown option '--bogus'" } });
    const model = redraft(['build', '--model', path.join(FIX, 'shape-error-model.ts'), '--target', 'onnx', '--out', tmp(), '--json']);
    expect(model.code).toBe(4);
    const doc = JSON.parse(model.stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 4, error: { kind: 'DslError' } });
    expect(doc.error.message).toMatch(/matmul: contracted dims differ[\s\S]*shape-error-model\.ts:12:\d+/);
  });
});

describe('inspect, run, generate, export', () => {
  it('inspect prints a table, JSON with estimates, and Graphviz', () => {
    const t = redraft(['inspect', '--model', 'tiny-redrafter']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/layers by kind:/);
    expect(t.stdout).toMatch(/k_cache_0\s+float32/);
    const j = redraft(['inspect', '--model', 'tiny-redrafter', '--format', 'json', '--batch', '2']);
    const s = JSON.parse(j.stdout);
    expect(s.parameters.byDtype.float32.count).toBeGreaterThan(10000);
    expect(s.estimate.flops).toBeGreaterThan(0);
    const d = redraft(['inspect', '--model', path.join(FIX, 'small-model.ts'), '--format', 'dot']);
    expect(d.stdout).toMatch(/^digraph "small"/);
  });
  it('export --format graph, then run it on JSON inputs and write safetensors', () => {
    const dir = tmp();
    const g = path.join(dir, 'small.graph');
    expect(redraft(['export', '--model', path.join(FIX, 'small-model.ts'), '--format', 'graph', '--out', g]).code).toBe(0);
    const inputs = path.join(dir, 'in.json');
    fs.writeFileSync(inputs, JSON.stringify({ x: { dtype: 'float32', shape: [1, 4], data: [1, 0, 0, 0] } }));
    const r = redraft(['run', '--graph', g, '--inputs', inputs, '--out', path.join(dir, 'out.safetensors'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.outputs.y.shape).toEqual([1, 4]);
    expect(fs.existsSync(path.join(dir, 'out.safetensors'))).toBe(true);
    // Without --json: the summary is the text result only without --out; with --out one line says where.
    const plain = redraft(['run', '--graph', g, '--inputs', inputs]);
    expect(plain.stdout).toMatch(/^y: float32\[1, 4\] \[/);
    const toFile = redraft(['run', '--graph', g, '--inputs', inputs, '--out', path.join(dir, 'out.json'), '-q']);
    expect([toFile.code, toFile.stdout.trim()]).toEqual([0, `1 outputs written to ${path.join(dir, 'out.json')}`]);
    const onnx = redraft(['run', '--graph', g, '--inputs', inputs, '--backend', 'onnx', '--json']);
    expect(JSON.parse(onnx.stdout).outputs.y.head.map((v: number) => v.toFixed(5))).toEqual(doc.outputs.y.head.map((v: number) => v.toFixed(5)));
  });
  it('generate on the golden distilled models prints tokens and mean accepted tokens per step', () => {
    const m = path.join(GOLDEN, 'models');
    const r = redraft(['generate', '--model', path.join(m, 'distilled_llama_1'), '--drafter', path.join(m, 'distilled_drafter_1'), '--prompt-ids', '5,18,5,3', '--max-length', '40', '--beam-width', '4', '--beam-length', '5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const golden = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'generate/distilled_greedy_0.json'), 'utf8'));
    expect(doc.tokens[0]).toEqual(golden.outputs.output_ids.data);
    expect(doc.steps).toBe(golden.outputs.lengths_per_step.data.length);
    expect(doc.meanAcceptedPerStep).toBeGreaterThan(0.5);
    const text = redraft(['generate', '--model', path.join(m, 'distilled_llama_1'), '--drafter', path.join(m, 'distilled_drafter_1'), '--prompt-ids', '5,18,5,3', '--max-length', '20']);
    expect(text.stdout).toMatch(/mean accepted tokens per step/);
  });
  it('generate rejects token ids outside the vocabulary, empty items and non-decimal ids', () => {
    const r = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', '5,999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--prompt-ids row 0: "999" is not a token id in \[0, 64\)/);
    for (const [ids, msg] of [['5,,6', /row 0: "" is not a token id/], ['5;;6', /row 1 is empty/], ['1e1', /row 0: "1e1"/], ['0x5', /row 0: "0x5"/]] as const) {
      const x = redraft(['generate', '--model', 'tiny-redrafter', '--prompt-ids', ids]);
      expect(x.code, ids).toBe(2);
      expect(x.stderr).toMatch(msg);
    }
  });
  it('generate stops on SIGTERM between steps (exit 143)', async () => {
    const child = spawn(process.execPath, [CLI, 'generate', '--model', 'tiny-redrafter', '--prompt-ids', '5,6,7', '--max-seq', '4096', '--max-length', '4000', '-q'], { cwd: ROOT });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
  });
});

describe('outputs that are not what they seem', () => {
  it('build refuses an --out holding a config.json it did not write (a model directory)', () => {
    const dir = tmp();
    fs.copyFileSync(path.join(GOLDEN, 'models/llama_1_0/config.json'), path.join(dir, 'config.json'));
    const before = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    const r = redraft(['build', '--model', 'tiny-redrafter', '--target', 'plan', '--out', dir, '--force']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds a config\.json that is not a redraft build record/);
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe(before);
    expect(files(dir)).toEqual(['config.json']);
  });
  it('export --out naming a directory or nothing is a usage error, before any work', () => {
    const dir = tmp();
    const a = redraft(['export', '--model', 'tiny-redrafter', '--out', dir]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--out '.*' is a directory; it must name a file/);
    const b = redraft(['export', '--model', 'tiny-redrafter', '--out', '']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--out must name a file, got ""/);
    expect(files(dir)).toEqual([]);
  });
  it('a failed build removes the --out directory it created, and stale temporaries of killed runs go', () => {
    const parent = tmp();
    const out = path.join(parent, 'new', 'engine');
    const r = redraft(['build', '--model', path.join(FIX, 'shape-error-model.ts'), '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(4);
    expect(files(parent)).toEqual([]);
    const dir = tmp();
    fs.writeFileSync(path.join(dir, '.model.onnx.tmp-999999-abc123'), 'left by a SIGKILLed build');
    const ok = redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', dir]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(files(dir)).toEqual(['config.json', 'model.onnx']);
  });
  it('a build into an --out another live redraft holds is refused; a dead holder\'s lock is taken over', () => {
    const out = tmp();
    fs.writeFileSync(path.join(out, '.redraft.lock'), String(process.pid)); // this test process: alive
    const busy = redraft(['build', '--model', 'tiny-redrafter', '--target', 'plan', '--out', out]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(new RegExp(`another redraft process \\(pid ${process.pid}\\) is writing into`));
    expect(files(out)).toEqual(['.redraft.lock']);
    fs.writeFileSync(path.join(out, '.redraft.lock'), '999999'); // left by a build killed outright
    const r = redraft(['build', '--model', 'tiny-redrafter', '--target', 'plan', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(files(out)).toEqual(['config.json', 'plan.json']); // lock released at exit
    expect(redraft(['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--out', out, '-q']).code).toBe(0);
    expect(files(out)).toEqual(['config.json', 'model.onnx']); // the plan build's files went with its record
  });
  it('stdout closed early (| head) ends quietly', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" inspect --model tiny-redrafter --format dot 2>/tmp/redraft-epipe.err | head -n1`], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^digraph/);
    expect(fs.readFileSync('/tmp/redraft-epipe.err', 'utf8')).not.toMatch(/EPIPE|Error/);
    expect(r.status).toBe(0);
  });
  it('no command, or help for an unknown one, is a usage error (one JSON document with --json)', () => {
    const a = redraft([]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/no command given/);
    const b = redraft(['--json']);
    expect(JSON.parse(b.stdout)).toMatchObject({ ok: false, exitCode: 2 });
    expect(redraft(['help', 'bogus']).code).toBe(2);
    expect(redraft(['help', 'build']).code).toBe(0);
  });
  it('run checks its inputs element by element and its --out before running', () => {
    const dir = tmp();
    const graph = path.join(dir, 'm.graph');
    expect(redraft(['export', '--model', path.join(FIX, 'small-model.ts'), '--format', 'graph', '--out', graph]).code).toBe(0);
    const inputs = path.join(dir, 'in.json');
    fs.writeFileSync(inputs, JSON.stringify({ x: { dtype: 'float32', shape: [1, 4], data: [1, 'abc', 3, 4] } }));
    const r = redraft(['run', '--graph', graph, '--inputs', inputs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"x"\.data\[1\] is "abc"; float32 wants a number/);
    const bad = redraft(['run', '--graph', graph, '--inputs', inputs, '--out', path.join(dir, 'o.txt')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must end in \.safetensors or \.json/);
    const broken = path.join(dir, 'in.safetensors');
    fs.writeFileSync(broken, Buffer.alloc(4));
    const s = redraft(['run', '--graph', graph, '--inputs', broken]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/inputs: .*in\.safetensors/);
  });
  it('build.json: inherited keys and strings for numbers are refused', () => {
    for (const cfg of ['{"toString": 5}', '{"__proto__": {"beamWidth": 9}}', '{"beamWidth": "4"}']) {
      const f = path.join(tmp(), 'build.json');
      fs.writeFileSync(f, cfg);
      const r = redraft(['build', '--model', 'tiny-redrafter', '--config', f, '--target', 'plan', '--out', tmp()]);
      expect(r.code, cfg).toBe(2);
      expect(r.stderr).toMatch(/unknown key|must be an integer/);
    }
  });
  it('a base model config of another family, with rope scaling, or with a pad id outside the vocabulary is refused', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'models/llama_1_0/config.json'), 'utf8'));
    for (const [patch, msg] of [[{ model_type: 'gpt2' }, /model_type "gpt2" is not a Llama-family model/], [{ rope_scaling: { type: 'yarn', factor: 2 } }, /"rope_scaling" type "yarn" is not supported/], [{ pad_token_id: 999 }, /"pad_token_id" 999 is outside the vocabulary/]] as const) {
      const dir = tmp();
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, ...patch }));
      fs.copyFileSync(path.join(GOLDEN, 'models/llama_1_0/model.safetensors'), path.join(dir, 'model.safetensors'));
      const r = redraft(['build', '--model', dir, '--drafter', path.join(GOLDEN, 'models/llama_drafter_1_0'), '--target', 'plan', '--out', tmp()]);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(msg);
    }
  });
  it('a model whose build() returns no graph is exit 4, and unused checkpoint weights are named', () => {
    const a = redraft(['build', '--model', path.join(FIX, 'not-a-graph-model.ts'), '--target', 'onnx', '--out', tmp()]);
    expect(a.code).toBe(4);
    expect(a.stderr).toMatch(/build\(\) returned number 42, not a graph/);
    const dir = tmp();
    const cfg = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'models/llama_1_0/config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 1 }));
    fs.copyFileSync(path.join(GOLDEN, 'models/llama_1_0/model.safetensors'), path.join(dir, 'model.safetensors'));
    const b = redraft(['build', '--model', dir, '--drafter', path.join(GOLDEN, 'models/llama_drafter_1_0'), '--target', 'plan', '--out', tmp()]);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/warning 9 base model weight\(s\) in .* are not used by the model: model\.layers\.1\./);
  });
  it('inspect --seq sets the history length and --batch stays within the built range', () => {
    const a = JSON.parse(redraft(['inspect', '--model', 'tiny-redrafter', '--seq', '20', '--format', 'json']).stdout);
    const b = JSON.parse(redraft(['inspect', '--model', 'tiny-redrafter', '--seq', '200', '--format', 'json']).stdout);
    expect(a.estimate.dims.past).toBe(20);
    expect(b.estimate.flops).toBeGreaterThan(a.estimate.flops);
    const c = redraft(['inspect', '--model', 'tiny-redrafter', '--batch', '99']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--batch 99 is outside the range of dim 'batch' \[1, 4\]/);
  });
  it('inspect --seq must fit the capacity the call needs (cache + prompt slot + W·L), not --seq alone; --batch 0 is not a rebuild', () => {
    // The default build: capacity at most 256 + 16 = 272; the prompt slot is its opt, 32.
    const fits = JSON.parse(redraft(['inspect', '--model', 'tiny-redrafter', '--seq', '224', '--format', 'json']).stdout);
    expect(fits.cost.dims.capacity).toBe(272);
    for (const seq of ['225', '257', '1000']) {
      const r = redraft(['inspect', '--model', 'tiny-redrafter', '--seq', seq]);
      expect(r.code, seq).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--seq ${seq} needs a cache of capacity ${Number(seq) + 48} \\(${seq} cached \\+ 32 prompt slot \\+ 16 draft slots \\(W·L\\)\\), beyond the 'capacity' range \\[1, 272\\]`));
      expect(r.stderr).toMatch(/pass --seq 224 or less/);
      expect(r.stdout).toBe('');
    }
    const zero = redraft(['inspect', '--model', 'tiny-redrafter', '--batch', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--batch must be a positive integer/);
    expect(zero.stderr).not.toMatch(/larger --max-batch/);
  });
});
