/**
 * Quantization flags and checkpoints as a hostile user meets them: every recorded flag in the
 * rebuild command, the fp8 calibration recorded in the build (the prompts file is not needed,
 * nor read, by --engine), fp8 in half precision planned for TensorRT before 10.16, checkpoints
 * whose quantization_config disagrees with their tensors, normalized --quantize specs, exit codes
 * of flag conflicts, config file paths in messages and a TP group size that fits every rank.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILD_CONFIG_RULES, DEFAULT_BUILD_CONFIG, readBuildConfigFile, resolveBuildConfig, type BuildConfig } from '../builders/build-config.js';
import { openEngineDir, rebuildCommand, type BuildRecord } from '../builders/engine-dir.js';
import { loadModelDir } from '../builders/model-dir.js';
import { validateTrt } from '../builders/trt/validate.js';
import { writeSafetensors } from '../builders/weights/index.js';
import { ModelError, UsageError } from '../dsl/errors.js';
import { buildNetwork, Network, type Tensor } from '../dsl/network.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { linear, isQuantized } from '../models/llama/linear.js';
import { llamaWeights } from '../models/llama/model.js';
import { checkpointQuant } from '../models/llama/prequant.js';
import { llamaShardWeights } from '../models/llama/tp-weights.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { TRT_RULES } from '../ops/trt.js';
import { GOLDEN } from './golden-root.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const FIX = path.join(__dirname, 'fixtures/quant');
const LLM = path.join(GOLDEN, 'models/distilled_llama_1');
const DRAFTER = path.join(GOLDEN, 'models/distilled_drafter_1');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-audit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function redraft(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of checkpoint `from` with config.json's quantization_config replaced and tensors edited. */
function checkpoint(name: string, from: string, qc: unknown, edit?: (t: Map<string, { dtype: string; shape: number[]; data: unknown }>) => void): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(from, 'config.json'), 'utf8'));
  if (qc === undefined) delete cfg.quantization_config;
  else cfg.quantization_config = qc;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const m = loadModelDir(from, 'llama');
  const tensors = new Map(m.weights.names().map((n) => [n, m.weights.get(n)] as const)) as Map<string, { dtype: string; shape: number[]; data: unknown }>;
  edit?.(tensors);
  writeSafetensors(path.join(dir, 'model.safetensors'), [...tensors].map(([n, t]) => ({ name: n, ...t })) as Parameters<typeof writeSafetensors>[1]);
  return dir;
}
const weightsOf = (dir: string, dtype: 'float32' | 'float16' = 'float32') => {
  const m = loadModelDir(dir, 'llama');
  return llamaWeights(new Network('w'), llamaConfigFromHf(m.config, path.join(dir, 'config.json')), m.weights, dtype);
};

describe('rebuildCommand', () => {
  it('names every recorded flag (each build config key, --tp and --rank)', () => {
    const values: Record<keyof BuildConfig, unknown> = {
      target: 'trt', dtype: 'float16', beamWidth: 3, beamLength: 5, maxBatch: 2, maxSeq: 64, workspaceMiB: 512, optimizationLevel: 2,
      timingCache: '/t/cache.bin', strict: true, quantize: 'fp8', calibrate: '/p/prompts.txt', quantizeDrafter: true,
    };
    const rec: Partial<BuildRecord> = { target: 'trt', model: { name: 'm', source: '/m/llm', drafter: '/m/drafter' }, build: values as BuildConfig, tensorParallel: { size: 4, built: [2], ranks: [] } };
    const cmd = rebuildCommand(rec, '/out');
    for (const [key, rule] of Object.entries(BUILD_CONFIG_RULES)) {
      const v = values[key as keyof BuildConfig];
      expect(cmd, key).toContain(rule.kind === 'bool' ? rule.flag : `${rule.flag} ${String(v)}`);
    }
    expect(cmd).toContain('--tp 4 --rank 2');
    expect(cmd).toContain('--model /m/llm --drafter /m/drafter');
    // The command parses back to the recorded config (flags are what resolveBuildConfig takes).
    const flags: Record<string, unknown> = {};
    const byFlag = Object.fromEntries(Object.entries(BUILD_CONFIG_RULES).map(([k, r]) => [r.flag, [k, r.kind]]));
    const words = cmd.split(' ');
    for (let i = 0; i < words.length; i++) {
      const hit = byFlag[words[i]!];
      if (!hit) continue;
      flags[hit[0]!] = hit[1] === 'bool' ? true : words[++i];
    }
    expect(resolveBuildConfig(flags)).toEqual({ ...DEFAULT_BUILD_CONFIG, ...values });
  });

  it('a --tp directory opened in one process says to simulate it with its quantization', () => {
    const dir = path.join(tmp, 'tpdir');
    fs.mkdirSync(dir, { recursive: true });
    const rec = { redraft: { version: '0' }, target: 'onnx', contentHash: 'x', files: [], model: { name: 'm', source: LLM, drafter: DRAFTER }, build: { ...DEFAULT_BUILD_CONFIG, dtype: 'float16', quantize: 'int4-wo:8' }, io: { inputs: [], outputs: [] }, tensorParallel: { size: 2, built: [0, 1], ranks: [] } };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(rec));
    expect(() => openEngineDir(dir)).toThrow(expect.objectContaining({ hint: expect.stringContaining(`--model ${LLM} --drafter ${DRAFTER} --dtype float16 --quantize int4-wo:8 --tp 2`) }));
  });
});

describe('--quantize specs and build.json', () => {
  it('an int4 group is recorded (and hashed) normalized; a bad one in build.json names the file and key', () => {
    expect(resolveBuildConfig({ quantize: 'int4-wo:08' }).quantize).toBe('int4-wo:8');
    expect(resolveBuildConfig({ quantize: 'int4-wo:8' }).quantize).toBe('int4-wo:8');
    const f = path.join(tmp, 'b.json');
    fs.writeFileSync(f, JSON.stringify({ quantize: 'int4-wo:0' }));
    expect(() => readBuildConfigFile(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: quantize int4-wo group size 0 must be from 1 to 65536`));
    expect(() => resolveBuildConfig({ quantize: 'int4-wo:0' })).toThrow(/^--quantize int4-wo group size 0/);
  });
  it("a relative calibrate path in build.json is the config file's directory's", () => {
    const sub = path.join(tmp, 'cfgdir');
    fs.mkdirSync(sub, { recursive: true });
    const f = path.join(sub, 'build.json');
    fs.writeFileSync(f, JSON.stringify({ quantize: 'fp8', calibrate: 'prompts.txt' }));
    expect(readBuildConfigFile(f).calibrate).toBe(path.join(sub, 'prompts.txt'));
  });
});

describe('flag conflicts and --calibrate lines are usage errors (exit 2)', () => {
  it('a text line with no tokenizer names the file and the line', async () => {
    const { calibrationPrompts } = await import('../bin/calibrate.js');
    const f = path.join(tmp, 'text.txt');
    fs.writeFileSync(f, '1,2,3\nhello world\n');
    let err: unknown;
    try {
      calibrationPrompts(f, LLM, 32, 16);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toContain(`--calibrate '${f}' line 2 is text, not token ids`);
  });
  it('--quantize on a pre-quantized checkpoint is exit 2, as --tp with one is', () => {
    const m = loadModelDir(path.join(FIX, 'awq'), 'llama');
    let err: unknown;
    try {
      llamaWeights(new Network('w'), llamaConfigFromHf(m.config), m.weights, 'float32', { kind: 'int8-wo' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
  });
});

describe('checkpoint quantization_config', () => {
  it('messages name the config file; a string is not "quantization_config."; weight_block_size null is per channel; compressed-tensors blocks are refused', () => {
    const file = '/ckpt/config.json';
    const q = (qc: unknown) => () => checkpointQuant({ quantization_config: qc }, file);
    expect(q('awq')).toThrow(/^\/ckpt\/config\.json: quantization_config is "awq": expected an object/);
    expect(q({ quant_method: 'fp8', activation_scheme: 'dynamic', weight_block_size: null })).not.toThrow();
    const ct = { quant_method: 'compressed-tensors', format: 'float-quantized', config_groups: { g: { weights: { type: 'float', num_bits: 8, strategy: 'channel' } } } };
    expect(q(ct)).not.toThrow();
    expect(q({ ...ct, weight_block_size: [128, 128] })).toThrow(/\/ckpt\/config\.json: quantization_config\.weight_block_size is \[128,128\]: block-wise FP8/);
    expect(q({ ...ct, config_groups: { g: { weights: { ...ct.config_groups.g.weights, block_structure: [128, 128] } } } })).toThrow(/config_groups\.g\.weights\.block_structure is \[128,128\]/);
    // A bad config.json number names the file too (it was "config.json:" alone).
    expect(() => llamaConfigFromHf({ hidden_size: 'x' }, file)).toThrow(/^\/ckpt\/config\.json: "num_attention_heads" must be a number/);
  });

  it('a scheme claimed over float weights is refused naming the tensor and the scheme', () => {
    for (const [name, from, qc] of [
      ['awq-float', path.join(FIX, 'awq', 'reference'), JSON.parse(fs.readFileSync(path.join(FIX, 'awq', 'config.json'), 'utf8')).quantization_config],
      ['fp8-float', path.join(FIX, 'fp8-channel', 'reference'), JSON.parse(fs.readFileSync(path.join(FIX, 'fp8-channel', 'config.json'), 'utf8')).quantization_config],
    ] as const) {
      const dir = checkpoint(name, from, qc);
      expect(() => weightsOf(dir)).toThrow(ModelError);
      expect(() => weightsOf(dir)).toThrow(new RegExp(`${name}/config\\.json: quantization_config says the checkpoint is (awq|fp8 \\(compressed-tensors\\))-quantized, but .*has 'model\\.layers\\.0\\.self_attn\\.q_proj\\.weight' \\(float32\\) and no 'model\\.layers\\.0\\.self_attn\\.q_proj\\.(qweight|weight_scale)'`));
    }
  });

  it('modules_to_not_convert (a list or one string) and compressed-tensors ignore keep those modules float; listed but quantized is refused', () => {
    const awq = path.join(FIX, 'awq');
    const qc = JSON.parse(fs.readFileSync(path.join(awq, 'config.json'), 'utf8')).quantization_config;
    const ref = loadModelDir(path.join(awq, 'reference'), 'llama');
    const floatQ = (t: Map<string, { dtype: string; shape: number[]; data: unknown }>) => {
      for (const l of [0, 1]) {
        const p = `model.layers.${l}.self_attn.q_proj`;
        for (const s of ['qweight', 'qzeros', 'scales']) t.delete(`${p}.${s}`);
        t.set(`${p}.weight`, ref.weights.get(`${p}.weight`));
      }
    };
    for (const list of [['q_proj'], 'q_proj']) {
      const w = weightsOf(checkpoint(`mnc-${typeof list}`, awq, { ...qc, modules_to_not_convert: list }, floatQ));
      expect(isQuantized(w.layers[0]!.q)).toBe(false);
      expect(isQuantized(w.layers[0]!.k)).toBe(true);
    }
    expect(() => weightsOf(checkpoint('mnc-quantized', awq, { ...qc, modules_to_not_convert: ['q_proj'] }))).toThrow(/quantization_config\.modules_to_not_convert entry "q_proj" keeps 'model\.layers\.0\.self_attn\.q_proj' in float, but .* holds it quantized \('model\.layers\.0\.self_attn\.q_proj\.qweight'\)/);
    expect(() => weightsOf(checkpoint('mnc-bad', awq, { ...qc, modules_to_not_convert: [3] }))).toThrow(/quantization_config\.modules_to_not_convert is \[3\]: expected a list of module names/);
    const fp8 = path.join(FIX, 'fp8-channel');
    const cq = JSON.parse(fs.readFileSync(path.join(fp8, 'config.json'), 'utf8')).quantization_config;
    expect(() => weightsOf(checkpoint('ct-ignore', fp8, { ...cq, ignore: ['lm_head', 're:.*q_proj'] }))).toThrow(/quantization_config\.ignore entry "re:\.\*q_proj" keeps/);
  });
});

describe('fp8 in half precision for TensorRT before 10.16', () => {
  const scaleViolations = (g: Parameters<typeof validateTrt>[0]) => validateTrt(g, TRT_RULES, { trtVersion: { major: 10, minor: 9, patch: 0 } as never }).filter((v) => /scale-dtype/.test(v.rule));
  it('--quantize fp8 (with activation scales) emits its scales in the build dtype', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const llm = tinyLlama();
      const amax = Object.fromEntries(llm.weights.names().filter((n) => /_proj\.weight$/.test(n)).map((n) => [n, 3]));
      const g = redrafterModel(llm, tinyDrafter(), { name: 't' }).build({ dtype, beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 16, quantize: { kind: 'fp8', activations: amax } });
      expect(g.layers.some((l) => l.kind === 'quantize')).toBe(true);
      expect(scaleViolations(g), dtype).toEqual([]);
    }
  });
  it('a pre-quantized FP8 checkpoint (float32 scales) too', () => {
    for (const d of ['fp8-channel', 'autofp8']) {
      const m = loadModelDir(path.join(FIX, d), 'llama');
      const g = buildNetwork('p', (net) => {
        const w = llamaWeights(net, llamaConfigFromHf(m.config), m.weights, 'float16');
        const x = net.input('x', 'float16', [1, 16]);
        net.markOutput(linear(x, w.layers[0]!.q) as Tensor, 'y');
      });
      expect(g.layers.some((l) => l.kind === 'dequantize')).toBe(true);
      expect(scaleViolations(g), d).toEqual([]);
    }
  });
});

describe('--quantize int4-wo --tp', () => {
  it('names a group size that divides every rank\'s shards, or says none does', () => {
    const m = loadModelDir(LLM, 'llama'); // 4 heads of 4, intermediate 32, hidden 16
    const cfg = llamaConfigFromHf(m.config);
    const at = (size: number, rank: number, group: number) => () => llamaShardWeights(new Network('w'), cfg, m.weights, 'float32', { size, rank }, { kind: 'int4-wo', group });
    // --tp 2: o_proj shards have 8 inputs, down_proj's 16: int4-wo:8 fits every rank.
    expect(at(2, 0, 16)).toThrow(expect.objectContaining({ message: expect.stringMatching(/rank 0's shard of 'model\.layers\.0\.self_attn\.o_proj\.weight' has 8 inputs.*\(the ranks' shards of it have 8 inputs\)/), hint: expect.stringContaining('(16, 8), e.g. int4-wo:8') }));
    // --tp 3: rank 1's o_proj shard has 4 inputs (rank 0's 8), down_proj's 11 and 10: no group above 1 fits them all.
    expect(at(3, 1, 8)).toThrow(expect.objectContaining({ message: expect.stringMatching(/\(the ranks' shards of it have 8, 4 inputs\)/), hint: expect.stringMatching(/no group size above 1 divides every projection's input dim on every rank \(16, 8, 11, 4, 10\)/) }));
  });
});

describe('--calibrate is recorded in the build (e2e; npm run build first)', () => {
  it('--engine uses the recorded scales without the prompts file; edited scales are stale', () => {
    const prompts = path.join(tmp, 'prompts.txt');
    fs.writeFileSync(prompts, '1,7,12,5\n1 3 4 8 20 11\n');
    const out = path.join(tmp, 'fp8cal');
    const b = redraft(['build', '--model', LLM, '--drafter', DRAFTER, '--target', 'onnx', '--quantize', 'fp8', '--calibrate', prompts, '--max-seq', '32', '--out', out, '--quiet']);
    expect(b.code, b.stderr).toBe(0);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.calibration).toMatchObject({ file: prompts, prompts: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(Object.keys(cfg.calibration.activations).length).toBe(14);
    const gen = ['generate', '--engine', out, '--prompt-ids', '5,6,7', '--max-length', '10', '--backend', 'interp', '--json', '--quiet'];
    const before = redraft(gen);
    expect(before.code, before.stderr).toBe(0);
    // The prompts file moved away (or edited): the engine still runs, with the same tokens.
    fs.renameSync(prompts, prompts + '.moved');
    const after = redraft(gen);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).tokens).toEqual(JSON.parse(before.stdout).tokens);
    // The recorded scales are part of the content hash (graph constants): edited, the build is stale.
    const k = Object.keys(cfg.calibration.activations)[0]!;
    cfg.calibration.activations[k] *= 2;
    fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(cfg));
    const stale = redraft(gen);
    expect(stale.code, stale.stderr).toBe(2);
    expect(stale.stderr).toMatch(/is stale/);
    expect(stale.stderr).toContain(`--quantize fp8 --calibrate ${prompts}`);
  }, 240_000);

  it('every --engine command (generate, run, bench, inspect; each backend; a --tp build) never opens the prompts file', () => {
    const prompts = path.join(tmp, 'tiny-prompts.txt');
    fs.writeFileSync(prompts, '5,6,7\n8,9,10,11\n');
    const one = path.join(tmp, 'tiny-fp8cal');
    const tp = path.join(tmp, 'tiny-fp8cal-tp');
    for (const [out, extra] of [[one, []], [tp, ['--tp', '2']]] as const) {
      const b = redraft(['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--max-seq', '64', '--quantize', 'fp8', '--calibrate', prompts, ...extra, '--out', out, '--quiet']);
      expect(b.code, b.stderr).toBe(0);
    }
    const inputs = path.join(tmp, 'tiny-step.json');
    const cap = 3 + 16;
    fs.writeFileSync(inputs, JSON.stringify({
      is_context: { dtype: 'bool', shape: [1], data: [true] },
      input_ids: { dtype: 'int64', shape: [1, 3], data: [5, 6, 7] },
      prompt_lengths: { dtype: 'int64', shape: [1], data: [3] },
      beams: { dtype: 'int64', shape: [1, 4, 4], data: Array(16).fill(0) },
      cache_lengths: { dtype: 'int64', shape: [1], data: [0] },
      ...Object.fromEntries(['k_cache_0', 'v_cache_0', 'k_cache_1', 'v_cache_1'].map((n) => [n, { dtype: 'float32', shape: [1, 2, cap, 8], data: Array(2 * cap * 8).fill(0) }])),
    }));
    const gen = (backend: string) => ['generate', '--engine', one, '--prompt-ids', '5,6,7', '--max-length', '16', '--backend', backend, '--json', '--quiet'];
    const commands = (tag: string) => ({
      genOnnx: gen('onnx'),
      genInterp: gen('interp'),
      runOnnx: ['run', '--engine', one, '--inputs', inputs, '--backend', 'onnx', '--out', path.join(tmp, `run-onnx-${tag}.json`), '--quiet'],
      runInterp: ['run', '--engine', one, '--inputs', inputs, '--backend', 'interp', '--out', path.join(tmp, `run-interp-${tag}.json`), '--quiet'],
      benchOnnx: ['bench', '--engine', one, '--prompt-ids', '5,6,7', '--runs', '1', '--quiet'],
      benchInterp: ['bench', '--engine', one, '--prompt-ids', '5,6,7', '--runs', '1', '--backend', 'interp', '--quiet'],
      inspect: ['inspect', '--engine', one, '--format', 'json', '--quiet'],
      inspectTp: ['inspect', '--engine', tp, '--format', 'json', '--quiet'],
    });
    const runAll = (tag: string) => Object.fromEntries(Object.entries(commands(tag)).map(([k, args]) => {
      const r = redraft(args);
      expect(r.code, `${k}: ${r.stderr}`).toBe(0);
      return [k, r];
    }));
    const before = runAll('before');
    fs.rmSync(prompts);
    const after = runAll('after');
    // generate on the --tp build points to the model's simulation, which would re-calibrate: it says the file is gone.
    const tpGen = redraft(['generate', '--engine', tp, '--prompt-ids', '5,6,7']);
    expect(tpGen.code, tpGen.stderr).toBe(2);
    expect(tpGen.stderr).toContain(`--calibrate ${prompts}, which no longer exists`);
    const tokens = (k: string, r: Record<string, { stdout: string }>) => JSON.parse(r[k]!.stdout).tokens;
    expect(tokens('genOnnx', after)).toEqual(tokens('genOnnx', before));
    expect(tokens('genInterp', after)).toEqual(tokens('genInterp', before));
    expect(tokens('genInterp', after)).toEqual(tokens('genOnnx', after));
    for (const b of ['onnx', 'interp'])
      expect(fs.readFileSync(path.join(tmp, `run-${b}-after.json`), 'utf8')).toBe(fs.readFileSync(path.join(tmp, `run-${b}-before.json`), 'utf8'));
    expect(JSON.parse(after.inspect!.stdout)).toEqual(JSON.parse(before.inspect!.stdout));
    expect(JSON.parse(after.inspectTp!.stdout)).toEqual(JSON.parse(before.inspectTp!.stdout));
    // A prompts file written again with other prompts does not make the build stale either (it is not read).
    fs.writeFileSync(prompts, '1,2\n');
    const rewritten = redraft(gen('interp'));
    expect(rewritten.code, rewritten.stderr).toBe(0);
    expect(JSON.parse(rewritten.stdout).tokens).toEqual(tokens('genInterp', before));
    // An edited recorded scale is: the content hash covers the scales (graph constants).
    const cfgFile = path.join(one, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    const k = Object.keys(cfg.calibration.activations)[0]!;
    cfg.calibration.activations[k] *= 1.5;
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    for (const backend of ['onnx', 'interp']) {
      const stale = redraft(gen(backend));
      expect(stale.code, stale.stderr).toBe(2);
      expect(stale.stderr).toMatch(/is stale/);
    }
  }, 240_000);
});
