/**
 * Help says what the CLI really does: every default and range (from the rules the build config
 * is checked with), required flags marked, examples at the top level; contradicting flags are a
 * usage error; a TensorRT build fails before reading the model; ONNX Runtime's own log stays
 * off unless --verbose; numeric dims are JSON numbers.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILD_CONFIG_RULES, DEFAULT_BUILD_CONFIG } from '../builders/build-config.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const FIX = path.join(ROOT, 'test', 'fixtures');

function redraft(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '200', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-help-'));
/** Help text with commander's wrapping undone, so a description reads as one line. */
const help = (args: string[]) => redraft([...args, '--help']).stdout.replace(/\n {10,}/g, ' ');

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('help', () => {
  it('the top level has examples and the exit codes', () => {
    const h = help([]);
    expect(h).toMatch(/Examples:\n {2}redraft build --model tiny-redrafter --out engine/);
    expect(h).toMatch(/redraft generate --model tiny-redrafter/);
    expect(h).toMatch(/Exit codes: 0 ok.*2 usage.*3 missing backend.*4 bad model/);
  });
  it('build shows every default and the real ranges', () => {
    const h = help(['build']);
    const D = DEFAULT_BUILD_CONFIG;
    for (const [flag, key] of [['--beam-width', 'beamWidth'], ['--beam-length', 'beamLength'], ['--max-batch', 'maxBatch'], ['--max-seq', 'maxSeq'], ['--workspace', 'workspaceMiB'], ['--opt-level', 'optimizationLevel']] as const) {
      const r = BUILD_CONFIG_RULES[key];
      if (r.kind !== 'int') throw new Error('int rule expected');
      expect(h, flag).toMatch(new RegExp(`${flag} <[^>]+> .*\\(${r.min}\\.\\.${r.max}, default ${D[key]}[;)]`));
    }
    expect(h).toMatch(/--beam-length <n> .*\(2\.\.64, default/);
    expect(h).toMatch(new RegExp(`--dtype <dtype> .*default ${D.dtype}`));
    expect(h).toMatch(/--target <target> .*default auto/);
    expect(h).toMatch(/--out <dir> .*default: "engine"/);
    expect(h).toMatch(/--model <model> +\(required\)/);
  });
  it('required flags read as required', () => {
    expect(help(['export'])).toMatch(/--out <file> +\(required\)/);
    expect(help(['generate'])).toMatch(/--prompt-ids <ids> +comma-separated[^]*one of --prompt-ids, --prompt, --prompt-file is required/);
    expect(help(['run'])).toMatch(/--inputs <file> +\(required\)/);
    expect(help(['generate'])).toMatch(/--max-length <n> [^]*\(default: max_new_tokens or max_length of generation_config.json, else 64, capped at the build's --max-seq\)/);
  });
});

describe('contradicting flags (exit 2)', () => {
  it('--dry-run with --target onnx', () => {
    const out = tmp();
    const r = redraft(['build', '--model', 'tiny-redrafter', '--dry-run', '--target', 'onnx', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dry-run builds a TensorRT plan, but --target onnx asks for an ONNX model/);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(redraft(['build', '--model', 'tiny-redrafter', '--dry-run', '--target', 'trt', '--out', out]).code).toBe(2);
  });
  it('TensorRT-only flags with a non-TensorRT target', () => {
    const r = redraft(['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--opt-level', '5', '--out', tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--opt-level is for TensorRT engine builds, not --target onnx/);
  });
  it('inspect --graph with --model', () => {
    const r = redraft(['inspect', '--graph', 'x.graph', '--model', 'tiny-redrafter']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--graph and --model/);
  });
});

describe('--target trt without TensorRT', () => {
  it('fails (exit 3) before the model directory is read', () => {
    const probe = redraft(['doctor', '--json']);
    const d = JSON.parse(probe.stdout) as { addon: boolean; tensorrtHeaders: boolean; library: { found: boolean } };
    if (d.addon && d.tensorrtHeaders && d.library.found) return; // TensorRT is usable here: nothing to check
    // A model directory whose config.json is not even JSON: reading it would be exit 4.
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'config.json'), '{ not json');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), 'garbage');
    const r = redraft(['build', '--model', dir, '--drafter', dir, '--target', 'trt', '--out', tmp()]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).not.toMatch(/checking base model weights|building graph/);
  });
});

describe('ONNX Runtime log', () => {
  // A graph that fails inside ONNX Runtime at run time (a reshape to an impossible shape).
  const script = `
const root = ${JSON.stringify(ROOT)};
const { buildNetwork } = await import(root + '/.build/dsl/index.js');
const { view } = await import(root + '/.build/ops/index.js');
const { exportOnnx, runOnnx } = await import(root + '/.build/index.js');
const g = buildNetwork('bad_reshape', (net) => {
  const x = net.input('x', 'float32', ['b', 6], { b: { min: 1, opt: 4, max: 8 } });
  net.markOutput(view(x, net.input('d', 'int64', [2])), 'y');
});
try {
  await runOnnx(exportOnnx(g).model, { x: { dtype: 'float32', shape: [4, 6], data: new Float32Array(24) }, d: { dtype: 'int64', shape: [2], data: new BigInt64Array([5n, 7n]) } });
} catch (e) { console.log('caught: ' + e.message.split('\\n')[0]); }
`;
  const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  it('is silent by default; the error still reaches the caller', () => {
    const r = run({ REDRAFT_VERBOSE: '' });
    expect(r.stdout).toMatch(/caught: ONNX Runtime failed/);
    expect(r.stderr).not.toMatch(/onnxruntime/);
  });
  it('REDRAFT_VERBOSE (the CLI\'s --verbose) shows it', () => {
    const r = run({ REDRAFT_VERBOSE: '1' });
    expect(r.stderr).toMatch(/\[E:onnxruntime/);
  });
});

describe('numeric dims are numbers', () => {
  it('in inspect --format json and config.json', () => {
    const s = JSON.parse(redraft(['inspect', '--model', path.join(FIX, 'small-model.ts'), '--format', 'json']).stdout);
    expect(s.inputs[0].shape).toEqual(['batch', 4]);
    const out = tmp();
    expect(redraft(['build', '--model', path.join(FIX, 'small-model.ts'), '--target', 'onnx', '--out', out]).code).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.io.inputs[0].shape).toEqual(['batch', 4]);
    for (const io of [...cfg.io.inputs, ...cfg.io.outputs]) for (const d of io.shape) expect(typeof d === 'number' || !/^\d+$/.test(d)).toBe(true);
  });
});
