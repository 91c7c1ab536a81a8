/**
 * TensorRT's documented constraints (ops/trt.ts) and the plan validator
 * (builders/trt/validate.ts): each finding of issue 13 that the ops used to emit, what
 * TensorRT-only rules report (with the layer and the user's line) while the CPU backends keep
 * running the model, the lowerings rewritten to documented combinations (same values), the
 * tensor-volume limit at the profile maximum, and `redraft build --target plan|onnx`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNetwork } from '../dsl/network.js';
import type { Graph } from '../dsl/ir.js';
import type { DType } from '../dsl/dtype.js';
import { getNumber } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor } from '../dsl/host.js';
import { runGraph } from '../builders/interp/index.js';
import { lowerToPlan } from '../builders/trt/plan.js';
import { executePlan } from '../builders/trt/plan-exec.js';
import { assertTrtValid, TrtValidationError, validateTrt } from '../builders/trt/validate.js';
import { TRT_RULES } from '../ops/trt.js';
import { arange, cast, cumprod, cumsum, eq, matmul, neg, nonzero, slice, topk, where } from '../ops/index.js';
import { dequantize } from '../ops/quantize.js';
import { describeLowering } from '../builders/trt/validate.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { DEFAULT_BUILD_CONFIG } from '../builders/build-config.js';
import { DRAFTER_7B, LLAMA_7B, drafterShapes, lazyWeights, llamaShapes } from './bench/scenarios.js';

const HERE = /trt-constraints\.test\.ts:\d+:\d+/;
const violations = (g: Graph) => validateTrt(g, TRT_RULES);
const rules = (g: Graph) => violations(g).map((v) => v.rule);
const values = (t: HostTensor) => Array.from({ length: t.data.length }, (_, i) => getNumber(t.dtype, t.data, i));
/** Runs on the interpreter and through the TensorRT plan (replayed on the CPU); both must agree. */
function run(g: Graph, inputs: Record<string, HostTensor>): Record<string, HostTensor> {
  const a = runGraph(g, inputs);
  const b = executePlan(lowerToPlan(g), inputs, g);
  for (const k of Object.keys(a)) expect(values(b[k])).toEqual(values(a[k]));
  return a;
}
/** Layers of a kind and the dtypes of their first input. */
const inputDtypes = (g: Graph, kind: string) => g.layers.filter((l) => l.kind === kind).map((l) => g.tensors[l.inputs[0]].dtype);

describe('TensorRT-only rules are reported with the layer and the call site (CPU backends keep working)', () => {
  it('eq on bool: kEQUAL takes int32/int64/float16/float32/bfloat16', () => {
    const g = buildNetwork('eq-bool', (net) => {
      const a = net.input('a', 'bool', [3]);
      net.markOutput(eq(a, a), 'y');
    });
    const v = violations(g);
    expect(v.map((x) => x.rule)).toEqual(['elementwise.compare-dtype']);
    expect(v[0].layer).toBe('eq');
    expect(v[0].message).toMatch(/kEQUAL.*bool/);
    expect(v[0].site).toMatch(HERE);
    expect(values(runGraph(g, { a: hostTensor('bool', [3], [1, 0, 1]) }).y)).toEqual([1, 1, 1]);
    expect(rules(buildNetwork('eq-int', (net) => net.markOutput(eq(net.input('a', 'int64', [3]), 1), 'y')))).toEqual([]);
  });
  it('neg on int32/int64: kNEG takes floating-point inputs only', () => {
    for (const d of ['int32', 'int64'] as const) {
      const g = buildNetwork('neg', (net) => net.markOutput(neg(net.input('a', d, [2])), 'y'));
      expect(rules(g)).toEqual(['unary.float-dtype']);
      expect(violations(g)[0].site).toMatch(HERE);
      expect(values(runGraph(g, { a: hostTensor(d, [2], [3, -4]) }).y)).toEqual([-3, 4]);
    }
    expect(rules(buildNetwork('negf', (net) => net.markOutput(neg(net.input('a', 'float16', [2])), 'y')))).toEqual([]);
  });
  it('topk: the axis must be one of the last four dims, k <= 3840', () => {
    const g = buildNetwork('topk-axis', (net) => net.markOutput(topk(net.input('x', 'float32', [3, 1, 1, 1, 2]), 2, 0)[0], 'y'));
    const v = violations(g);
    expect(v.map((x) => x.rule)).toEqual(['topk.axis']);
    expect(v[0].message).toMatch(/axis 0 of a rank-5 input.*last four dims \(1\.\.4\)/);
    expect(v[0].site).toMatch(HERE);
    expect(rules(buildNetwork('topk-axis1', (net) => net.markOutput(topk(net.input('x', 'float32', [3, 2, 1, 1, 2]), 2, 1)[0], 'y')))).toEqual([]);
    // k above 3840 is TensorRT-only: the op builds, the interpreter runs it, the validator refuses it.
    const big = buildNetwork('topk-k', (net) => net.markOutput(topk(net.input('x', 'float32', [5000]), 4000)[1], 'y'));
    expect(rules(big)).toEqual(['topk.k']);
    const x = hostTensor('float32', [5000], Array.from({ length: 5000 }, (_, i) => i));
    expect(values(runGraph(big, { x }).y).slice(0, 3)).toEqual([4999, 4998, 4997]);
    expect(rules(buildNetwork('topk-3840', (net) => net.markOutput(topk(net.input('x', 'float32', [5000]), 3840)[0], 'y')))).toEqual([]);
  });
  it('topk, cumsum and where on int8', () => {
    const g = buildNetwork('int8', (net) => {
      const x = net.input('x', 'int8', [4]);
      const c = net.input('c', 'bool', [4]);
      net.markOutput(topk(x, 2)[0], 'top');
      net.markOutput(cumsum(x, 0), 'sum');
      net.markOutput(where(c, x, x), 'sel');
    });
    const v = violations(g);
    expect(v.map((x) => x.rule)).toEqual(['topk.dtype', 'cumulative.dtype', 'select.dtype']);
    for (const x of v) expect(x.site).toMatch(HERE);
    const out = runGraph(g, { x: hostTensor('int8', [4], [1, 5, -2, 3]), c: hostTensor('bool', [4], [1, 0, 1, 0]) });
    expect(values(out.top)).toEqual([5, 3]);
    expect(values(out.sum)).toEqual([1, 6, 4, 7]);
  });
  it('a rank-2 static linspace fill (TensorRT defines Beta = [b] for rank 1 only) and a float16 linspace', () => {
    const g = buildNetwork('fill2', (net) => {
      net.markOutput(net.addLayer({ kind: 'fill', inputs: [], dims: [2, 3], dtype: 'int32', alpha: 0, beta: 1 })[0], 'a');
      net.markOutput(net.addLayer({ kind: 'fill', inputs: [], dims: [3], dtype: 'float16', alpha: 0, beta: 1 })[0], 'b');
    });
    expect(rules(g)).toEqual(['fill.linspace-rank', 'fill.linspace-dtype']);
  });
  it('assertTrtValid throws exit 4 with every violation listed', () => {
    const g = buildNetwork('two', (net) => {
      const a = net.input('a', 'int32', [2]);
      net.markOutput(neg(a), 'n');
      net.markOutput(topk(net.input('x', 'int8', [4]), 1)[0], 't');
    });
    let err: unknown;
    try {
      assertTrtValid(g, TRT_RULES);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrtValidationError);
    expect((err as TrtValidationError).exitCode).toBe(4);
    expect((err as TrtValidationError).violations).toHaveLength(2);
    expect((err as Error).message).toMatch(/2 violations[\s\S]*neg \[unary\.float-dtype\][\s\S]*trt-constraints\.test\.ts[\s\S]*topk \[topk\.dtype\]/);
  });
});

describe('lowerings emit only documented combinations, with the same values', () => {
  it('arange in float16, bfloat16, bool and int8 fills in float32/int32, then casts', () => {
    for (const d of ['float16', 'bfloat16', 'bool', 'int8', 'int32', 'int64', 'float32'] as DType[]) {
      const g = buildNetwork(`arange_${d}`, (net) => {
        const n = net.input('n', 'int64', []);
        net.markOutput(arange(2, 6, d), 'a');
        net.markOutput(arange(0, n, d), 'b');
      });
      expect(rules(g), d).toEqual([]);
      for (const l of g.layers.filter((x) => x.kind === 'fill')) expect(['int32', 'int64', 'float32']).toContain((l as { dtype: DType }).dtype);
      const out = run(g, { n: hostTensor('int64', [], [3]) });
      const want = (xs: number[]) => (d === 'bool' ? xs.map((x) => (x ? 1 : 0)) : xs);
      expect(out.a.dtype).toBe(d);
      expect(values(out.a)).toEqual(want([2, 3, 4, 5]));
      expect(values(out.b)).toEqual(want([0, 1, 2]));
    }
  });
  it('nonzero on int64 (values beyond int32 too), int8 and bfloat16 converts its input first; the plan records int64 indices', () => {
    for (const d of ['int64', 'int8', 'bfloat16', 'float32', 'int32', 'bool'] as DType[]) {
      const g = buildNetwork(`nz_${d}`, (net) => net.markOutput(nonzero(net.input('x', d, [2, 3])), 'y'));
      expect(rules(g), d).toEqual([]);
      expect(inputDtypes(g, 'nonzero').every((t) => ['float32', 'float16', 'int32', 'bool'].includes(t))).toBe(true);
      const data = d === 'int64' ? [0n, 2n ** 32n, 0n, 0n, 0n, -1n] : [0, 1, 0, 0, 0, 1];
      const out = runGraph(g, { x: hostTensor(d, [2, 3], data as never) });
      expect(out.y.shape).toEqual([2, 2]);
      expect(values(out.y)).toEqual([0, 1, 1, 2]);
      const plan = lowerToPlan(g);
      expect(plan.layers.find((l) => l.method === 'addNonZero')!.outputDtypes).toEqual(['kINT64']);
    }
  });
  it('slice FILL on int64 and CLAMP/FILL on bfloat16 keep their values without those modes; an int64 CLAMP slice is reported', () => {
    const g = buildNetwork('slices', (net) => {
      const a = net.input('a', 'int64', ['n', 3], { n: { min: 1, opt: 2, max: 8 } });
      const b = net.input('b', 'bfloat16', [2, 3]);
      net.markOutput(slice(a, [-1, 1], [3, 3], undefined, 'fill', 7), 'fa');
      net.markOutput(slice(b, [0, -1], [2, 4], undefined, 'fill', 0.5), 'fb');
      net.markOutput(slice(b, [1, -2], [1, 5], undefined, 'clamp'), 'cb');
    });
    expect(rules(g)).toEqual([]);
    const modes = g.layers.filter((l) => l.kind === 'slice').map((l) => `${(l as { mode: string }).mode}:${g.tensors[l.inputs[0]].dtype}`);
    expect(modes.filter((m) => /^(fill|clamp):(int64|bfloat16)$/.test(m))).toEqual([]);
    const out = run(g, { a: hostTensor('int64', [2, 3], [1n, 2n, 3n, 4n, 2n ** 40n, 6n]), b: hostTensor('bfloat16', [2, 3], [1, 2, 3, 4, 5, 6]) });
    expect(values(out.fa)).toEqual([7, 7, 7, 2, 3, 7, 2 ** 40, 6, 7]);
    expect(values(out.fb)).toEqual([0.5, 1, 2, 3, 0.5, 4, 5, 6]);
    expect(values(out.cb)).toEqual([4, 4, 4, 5, 6]);
    const c = buildNetwork('clamp64', (net) => net.markOutput(slice(net.input('a', 'int64', [3]), [-1], [4], undefined, 'clamp'), 'y'));
    expect(rules(c)).toEqual(['slice.mode-dtype']);
    expect(violations(c)[0].message).toMatch(/kCLAMP on int64.*do not support int64 or bfloat16/);
    // An input dim that may be empty has nothing for WRAP to read: that FILL slice stays, reported.
    const e = buildNetwork('fill-empty', (net) => net.markOutput(slice(net.input('a', 'int64', ['n', 3], { n: { min: 0, opt: 1, max: 4 } }), [-1, 0], [2, 3], undefined, 'fill', 7), 'y'));
    expect(rules(e)).toEqual(['slice.mode-dtype']);
    expect(values(runGraph(e, { a: hostTensor('int64', [0, 3], []) }).y)).toEqual([7, 7, 7, 7, 7, 7]);
  });
  it('cumprod on int64 and bfloat16 (greedy_choose_from_candidates) has no FILL slice; bool/int32/float keep theirs', () => {
    for (const d of ['int64', 'bfloat16', 'int32', 'float32', 'bool'] as DType[]) {
      const g = buildNetwork(`cumprod_${d}`, (net) => net.markOutput(cumprod(net.input('x', d, ['b', 5], { b: { min: 1, opt: 1, max: 4 } }), -1), 'y'));
      expect(rules(g), d).toEqual([]);
      const data = d === 'bool' ? [1, 1, 0, 1, 1, 1, 1, 1, 1, 0] : [1, 2, 3, 1, 2, 2, 1, 1, 0, 5];
      const out = run(g, { x: hostTensor(d, [2, 5], (d === 'int64' ? data.map(BigInt) : data) as never) });
      expect(values(out.y)).toEqual(d === 'bool' ? [1, 1, 0, 0, 0, 1, 1, 1, 1, 0] : [1, 2, 6, 6, 12, 2, 2, 2, 0, 0]);
    }
  }, 60_000);
});

describe('the plan validator on whole models', () => {
  it('tiny-redrafter: 0 violations in float32, float16 and bfloat16', () => {
    const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const g = def.build({ ...DEFAULT_BUILD_CONFIG, dtype });
      expect(violations(g), dtype).toEqual([]);
      // As each version builds it: 10.9 and 11.1 take it; 10.0 has no addCumulative (10.8+), which acceptance uses.
      for (const v of [{ major: 10, minor: 9 }, { major: 11, minor: 1 }]) expect(validateTrt(g, TRT_RULES, { trtVersion: v }), `${dtype} ${v.major}.${v.minor}`).toEqual([]);
      const old = validateTrt(g, TRT_RULES, { trtVersion: { major: 10, minor: 0 } });
      expect(new Set(old.map((x) => x.rule))).toEqual(new Set(['cumulative.version']));
      expect(old[0].message).toMatch(/ICumulativeLayer needs TensorRT 10\.8 or newer \(addCumulative\); this graph is validated for TensorRT 10\.0/);
      // The fix names the version flag, not the model lines.
      expect(old[0].fix).toMatch(/--trt-version 10\.8 for a plan .*TensorRT 10\.8\+ headers for an engine/);
      let err: unknown;
      try {
        assertTrtValid(g, TRT_RULES, { trtVersion: { major: 10, minor: 0 } });
      } catch (e) {
        err = e;
      }
      expect((err as TrtValidationError).hint).toMatch(/^build for TensorRT 10\.8 or newer: --trt-version 10\.8/);
      expect((err as TrtValidationError).hint).not.toMatch(/change the model lines/);
      // No version: the plan (addCumulative ×3) is for its minimum, 10.8, and says so; the rules apply against 10.8.
      const plan = lowerToPlan(g);
      expect(plan.layers.filter((l) => l.method === 'addCumulative').length).toBe(3);
      expect(plan.trtVersion).toBeUndefined();
      expect(plan.minTrtVersion).toBe('10.8');
      const d = describeLowering(g, undefined);
      expect(d.summary).toMatch(/; needs TensorRT 10\.8 or newer \(addCumulative from 10\.8\)$/);
      expect(d.rulesFor).toBe('TensorRT 10.8 (the minimum this graph needs)');
    }
  }, 120_000);
  it('no version: the minimum is 10.0 without version-gated layers; the rules apply against the minimum (a float32 scale on float16 data needs 10.16), the fix naming the flags', () => {
    const plain = buildNetwork('plain', (net) => net.markOutput(neg(net.input('x', 'float32', [3])), 'y'));
    expect(lowerToPlan(plain).minTrtVersion).toBe('10.0');
    expect(describeLowering(plain, undefined).summary).toMatch(/needs TensorRT 10\.0 or newer \(every call is in 10\.0\)/);
    const dq = buildNetwork('dq', (net) => {
      const x = net.input('x', 'float16', [2, 4]);
      const w = dequantize(net.constant(new Int8Array(16).fill(3), 'int8', [4, 4], 'w'), net.constant([0.5], 'float32', [], 's'), { dtype: 'float16' });
      net.markOutput(cumsum(matmul(x, w), 1), 'y');
    });
    const v = violations(dq);
    expect(v.map((x) => x.rule)).toEqual(['dequantize.scale-dtype']);
    expect(v[0].message).toMatch(/TensorRT 10\.8 \(no version given: the oldest that has every layer of this graph\) needs float16/);
    expect(v[0].fix).toMatch(/--trt-version 10\.16 for a plan .*; or build with --dtype float32/);
    expect(validateTrt(dq, TRT_RULES, { trtVersion: { major: 10, minor: 16 } })).toEqual([]);
  });
  it('the 7B-shaped graph: 0 violations at the default ranges; at batch 8 / seq 4096 the per-layer caches stay below 2^31 elements, the decomposed attention scores do not, native IAttention (10.16) has no scores tensor', () => {
    const llm = { dir: 'llama-7b-shaped', config: LLAMA_7B, weights: lazyWeights('llama-7b', llamaShapes(LLAMA_7B), 'float16') };
    const drafter = { dir: 'drafter-7b-shaped', config: DRAFTER_7B, weights: lazyWeights('drafter-7b', drafterShapes(DRAFTER_7B), 'float16') };
    const def = redrafterModel(llm, drafter, { name: 'llama-2-7b-shaped' });
    const opts = { dtype: 'float16', beamWidth: 8, beamLength: 5 } as const;
    expect(violations(def.build({ ...opts, maxBatch: DEFAULT_BUILD_CONFIG.maxBatch, maxSeq: DEFAULT_BUILD_CONFIG.maxSeq }))).toEqual([]);
    const big = def.build({ ...opts, maxBatch: 8, maxSeq: 4096 });
    const v = violations(big);
    expect(new Set(v.map((x) => x.rule))).toEqual(new Set(['tensor.volume']));
    // No network input (k_cache_<l>/v_cache_<l> are [8, 32, capacity, 128] each) is over the limit.
    expect(v.filter((x) => x.kind === 'input')).toEqual([]);
    // The softmax over the scores of the decomposed attention ('attention_N/softmax').
    const scores = v.filter((x) => /(^|\/)softmax(_\d+)?$/.test(x.layer));
    expect(scores.length).toBeGreaterThanOrEqual(LLAMA_7B.num_hidden_layers);
    expect(scores[0].message).toMatch(/e\+9 elements at the profile maximum/);
    // As TensorRT 10.16 builds it (IAttention: no scores tensor), nothing is over the limit.
    expect(validateTrt(big, TRT_RULES, { trtVersion: { major: 10, minor: 16 } })).toEqual([]);
  }, 120_000);
});

describe('redraft build', () => {
  const ROOT = path.resolve(__dirname, '..');
  const MODEL = path.join(ROOT, 'test', 'trt-constraints.model.ts');
  const redraft = (args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'redraft.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-trtc-'));
  const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  }, 300_000);
  it('--target onnx builds a model TensorRT would refuse; --target plan lists every violation with its file:line, exit 4, nothing written', () => {
    const onnx = tmp();
    const a = redraft(['build', '--model', MODEL, '--target', 'onnx', '--out', onnx]);
    expect(a.code, a.stderr).toBe(0);
    expect(files(onnx)).toContain('model.onnx');
    const out = tmp();
    const b = redraft(['build', '--model', MODEL, '--target', 'plan', '--out', out]);
    expect(b.code, b.stderr).toBe(4);
    expect(b.stderr).toMatch(/TensorRT would refuse graph 'trt-refuses': 4 violations/);
    for (const [rule, line] of [['topk.axis', 14], ['unary.float-dtype', 15], ['elementwise.compare-dtype', 16], ['select.dtype', 17]] as const)
      expect(b.stderr).toMatch(new RegExp(`\\[${rule.replace('.', '\\.')}\\][^\\n]*\\n\\s+at [^\\n]*trt-constraints\\.model\\.ts:${line}:\\d+`));
    expect(files(out)).toEqual([]);
    const j = redraft(['build', '--model', MODEL, '--dry-run', '--out', out, '--json']);
    expect(j.code).toBe(4);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 4 });
    expect(doc.error.message).toMatch(/select\.dtype/);
    expect(files(out)).toEqual([]);
  }, 240_000);
  it('--target plan on tiny-redrafter: 0 violations, plan written', () => {
    const out = tmp();
    const r = redraft(['build', '--model', 'tiny-redrafter', '--target', 'plan', '--dtype', 'bfloat16', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/plan for (TensorRT \d+\.\d+|no TensorRT version) \([^)]*\): /);
    expect(r.stderr).toMatch(/TensorRT constraints for TensorRT \d+\.\d+( \(the minimum this graph needs\))?: \d+ layers as lowered and \d+ inputs checked, 0 violations/);
    expect(files(out)).toEqual(['config.json', 'plan.json']);
    const plan = JSON.parse(fs.readFileSync(path.join(out, 'plan.json'), 'utf8'));
    if (/plan for no TensorRT version/.test(r.stderr)) {
      // No version (an addon without headers): the output and plan.json state the 10.8 its addCumulative calls need.
      expect(r.stderr).toMatch(/as primitive layers; needs TensorRT 10\.8 or newer \(addCumulative from 10\.8\)\n/);
      expect(r.stderr).toMatch(/TensorRT constraints for TensorRT 10\.8 \(the minimum this graph needs\)/);
      expect(plan).toMatchObject({ minTrtVersion: '10.8' });
      expect(plan.trtVersion).toBeUndefined();
    } else expect(plan.trtVersion).toMatch(/^1[01]\.\d+$/);
    expect(plan.layers.filter((l: { method: string }) => l.method === 'addCumulative').length).toBe(3);
  }, 240_000);
  it('--trt-version 10.0 refuses addCumulative naming the version flag; in an installed layout (node_modules outside the package) no dependency frame is named, a user model\'s line is', () => {
    // A copy of the package whose node_modules is a symlink to a folder outside it (commander hoisted beside it).
    const pkg = tmp();
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.cpSync(path.join(ROOT, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    fs.cpSync(path.join(ROOT, '.build'), path.join(pkg, '.build'), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    const run = (cwd: string, args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(pkg, 'bin', 'redraft.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
      return { code: r.status, stderr: r.stderr };
    };
    const a = run(pkg, ['build', '--model', 'tiny-redrafter', '--dry-run', '--trt-version', '10.0', '--out', tmp()]);
    expect(a.code, a.stderr).toBe(4);
    expect(a.stderr).toMatch(/cumsum \[cumulative\.version\]: ICumulativeLayer needs TensorRT 10\.8 or newer/);
    expect(a.stderr).toMatch(/fix: build for TensorRT 10\.8 or newer: --trt-version 10\.8 for a plan/);
    expect(a.stderr).not.toMatch(/change the model lines/);
    // A built-in model has no user line: no location at all (not commander's).
    expect(a.stderr).not.toMatch(/\n\s+at /);
    // A user's project depending on the copy: the violation names the model's own line.
    const user = tmp();
    fs.writeFileSync(path.join(user, 'package.json'), JSON.stringify({ name: 'user-models', private: true, type: 'module' }));
    fs.mkdirSync(path.join(user, 'node_modules'));
    fs.symlinkSync(pkg, path.join(user, 'node_modules', 'redraft-trt'));
    fs.writeFileSync(
      path.join(user, 'model.js'),
      [
        "import { buildNetwork } from 'redraft-trt/dsl';",
        "import { defineModel } from 'redraft-trt/models';",
        "import { cumsum } from 'redraft-trt/ops';",
        "export default defineModel({ name: 'cs', build: () => buildNetwork('cs', (net) => {",
        "  net.markOutput(cumsum(net.input('x', 'float32', [2, 3]), 1), 'y'); // line 5, column 18",
        '}) });',
        '',
      ].join('\n'),
    );
    const b = run(user, ['build', '--model', 'model.js', '--dry-run', '--trt-version', '10.0', '--out', path.join(user, 'out')]);
    expect(b.code, b.stderr).toBe(4);
    expect(b.stderr).toMatch(/\[cumulative\.version\][^\n]*\n    at model\.js:5:18\n/);
    expect(b.stderr).not.toMatch(/node_modules|\.build/);
  }, 240_000);
});
