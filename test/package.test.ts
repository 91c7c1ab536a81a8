/**
 * The package as a dependent project meets it: `npm pack`, install the tarball into a fresh
 * project (npm init's defaults: CommonJS), then use the `redraft` bin and the typed API from
 * there exactly as the README says. Dependencies come from npm's cache when it has them
 * (--prefer-offline); install scripts are skipped (the native addon is optional, and ONNX
 * Runtime's script only downloads CUDA providers).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let work = '';
let proj = '';
let tarball = '';
let packed: string[] = [];

function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false', ...env }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'index.js')) || !fs.existsSync(path.join(ROOT, '.build', 'index.d.ts'))) execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-pkg-'));
  // --ignore-scripts: `prepare` (tsc) would rewrite .build under the other test files running now.
  const p = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
  expect(p.code, p.stderr).toBe(0);
  const info = JSON.parse(p.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(work, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  proj = path.join(work, 'proj');
  fs.mkdirSync(proj);
  expect(sh('npm', ['init', '-y'], proj).code).toBe(0);
  const i = sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], proj);
  expect(i.code, i.stderr).toBe(0);
}, 600_000);

describe('the packed tarball', () => {
  it('is named so that it can be published, keeps the redraft bin, ships compiled code and types only', () => {
    expect(pkg.name).toBe('redraft-trt');
    expect(pkg.bin).toEqual({ redraft: 'bin/redraft.js' });
    for (const f of ['package.json', 'README.md', 'bin/redraft.js', '.build/index.js', '.build/index.d.ts', '.build/bin/cli.js', '.build/builders/index.d.ts', '.build/dsl/index.d.ts', '.build/ops/index.d.ts', '.build/models/index.d.ts', 'native/CMakeLists.txt', 'native/build.js'])
      expect(packed, f).toContain(f);
    expect(packed.filter((f) => /^(test|\.build\/test)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.startsWith('native/build/'))).toEqual([]);
  });
  it('installs into a fresh project: npx redraft builds the built-in model', () => {
    expect(JSON.parse(fs.readFileSync(path.join(proj, 'package.json'), 'utf8')).dependencies).toHaveProperty('redraft-trt');
    const v = sh('npx', ['--no-install', 'redraft', '--version'], proj);
    expect(v.stdout.trim(), v.stderr).toBe(pkg.version);
    const r = sh('npx', ['--no-install', 'redraft', 'build', '--model', 'tiny-redrafter', '--target', 'onnx', '--out', 'engine'], proj);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(proj, 'engine')).sort()).toEqual(['config.json', 'model.onnx']);
  });
  it("a model module in the project imports 'redraft-trt/...' and its shape error names its own line", () => {
    fs.writeFileSync(
      path.join(proj, 'bad.ts'),
      `import { buildNetwork } from 'redraft-trt/dsl';
import { defineModel } from 'redraft-trt/models';
import { matmul } from 'redraft-trt/ops';
export default defineModel({
  name: 'bad',
  build: () => buildNetwork('bad', (net) => {
    net.markOutput(matmul(net.input('a', 'float32', [2, 3]), net.input('b', 'float32', [4, 5])), 'y');
  }),
});
`,
    );
    const r = sh('npx', ['--no-install', 'redraft', 'build', '--model', 'bad.ts', '--target', 'onnx', '--out', 'bad-out'], proj);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/matmul: contracted dims differ[^\n]*\n {2}at bad\.ts:7:20\n/);
    expect(r.stderr).not.toMatch(/node_modules/);
  });
});

/** The README's API section, run from the dependent project. */
const API_ESM = `import {
  redrafterModel, tinyLlama, tinyDrafter, redrafterGenerate, autoregressiveGenerate, onnxEnv, interpEnv, backendEnv,
  exportOnnx, OnnxSession, runOnnx, runGraph, runConformance, goldenFns, loadWeights, writeSafetensors, summarize, lowerToPlan, doctor,
} from 'redraft-trt';
import { buildNetwork } from 'redraft-trt/dsl';
import { add } from 'redraft-trt/ops';
import * as fs from 'node:fs';

const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
const opts = { dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 32 };
const c = def.llmConfig;
const shape = { beamWidth: 2, beamLength: 3, maxLength: 10, padTokenId: c.padTokenId, eosTokenIds: [], numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, kvDtype: 'float32' };
const prompt = [[5n, 6n, 7n]];
const onnx = onnxEnv();
const spec = await redrafterGenerate(def.stepGraph(opts), onnx.run, prompt, shape);
const greedy = await autoregressiveGenerate(def.llmGraph(opts), interpEnv().run, prompt, shape);

const g = buildNetwork('add', (net) => {
  const x = net.input('x', 'float32', [2]);
  net.markOutput(add(x, x), 'y');
});
const x = { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) };
const viaOrt = await runOnnx(exportOnnx(g).model, { x });
const session = await OnnxSession.create(exportOnnx(g).model);
const again = await session.run({ x });
await session.release();
const viaInterp = runGraph(g, { x });
writeSafetensors('w.safetensors', [{ name: 'w', dtype: 'float32', shape: [2], data: new Float32Array([3, 4]) }]);
const w = loadWeights('w.safetensors').get('w');
const env = await backendEnv('interp');
fs.mkdirSync('golden', { recursive: true });
let conformance = 'no goldens';
try { await runConformance('golden', { fns: goldenFns, env, backend: 'interp' }); } catch (e) { conformance = e.name; }
console.log(JSON.stringify({
  same: spec.outputIds[0].join() === greedy[0].join(),
  ids: spec.outputIds[0].map(Number),
  ort: [...viaOrt.y.data], session: [...again.y.data], interp: [...viaInterp.y.data], w: [...w.data],
  layers: summarize(g).layers, plan: lowerToPlan(g).layers.length > 0, doctor: typeof doctor().addon, conformance,
}));
`;

describe('the programmatic API from a dependent project', () => {
  it('ESM: generation, export, run, conformance and weights work as documented', () => {
    fs.writeFileSync(path.join(proj, 'api.mjs'), API_ESM);
    const r = sh(process.execPath, ['api.mjs'], proj);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(o).toMatchObject({ same: true, ort: [2, 4], session: [2, 4], interp: [2, 4], w: [3, 4], layers: 1, plan: true, doctor: 'boolean', conformance: 'UsageError' });
    expect(o.ids.length).toBe(10);
  });
  it('CommonJS: require() gets the same API', () => {
    fs.writeFileSync(path.join(proj, 'api.cjs'), `const r = require('redraft-trt'); const dsl = require('redraft-trt/dsl'); const b = require('redraft-trt/builders');
console.log(JSON.stringify({ gen: typeof r.redrafterGenerate, exp: typeof r.exportOnnx, sess: typeof r.OnnxSession, same: r.runGraph === b.runGraph, err: typeof dsl.DslError }));`);
    const r = sh(process.execPath, ['api.cjs'], proj);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ gen: 'function', exp: 'function', sess: 'function', same: true, err: 'function' });
  });
  it('TypeScript: the entry points are typed (.d.ts), and a wrong call is a type error', () => {
    fs.writeFileSync(
      path.join(proj, 'typed.ts'),
      `import { exportOnnx, OnnxSession, redrafterGenerate, runConformance, loadWeights, type GenerationShape, type OnnxExport, type Graph } from 'redraft-trt';
import { buildNetwork, type Tensor } from 'redraft-trt/dsl';
import { runGraph } from 'redraft-trt/builders';
import { get_unpacker } from 'redraft-trt/models';
import { matmul } from 'redraft-trt/ops';
const g: Graph = buildNetwork('t', (net) => { const x: Tensor = net.input('x', 'float32', [2, 2]); net.markOutput(matmul(x, x), 'y'); });
const e: OnnxExport = exportOnnx(g, { opset: 17 });
const s: Promise<OnnxSession> = OnnxSession.create(e.model);
const r: ReturnType<typeof runGraph> = runGraph(g, {});
const shape: Partial<GenerationShape> = { beamWidth: 4 };
void [s, r, shape, redrafterGenerate, runConformance, loadWeights, get_unpacker];
// @ts-expect-error the graph is not a number
exportOnnx(42);
`,
    );
    fs.writeFileSync(path.join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['typed.ts'] }));
    const r = sh(process.execPath, [TSC, '-p', 'tsconfig.json'], proj);
    expect(r.stdout + r.stderr, 'tsc').toBe('');
    expect(r.code).toBe(0);
  });
});
