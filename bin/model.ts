/**
 * `--model` resolution: a built-in name, a Hugging Face-style directory (+ `--drafter DIR`),
 * or a TypeScript/JavaScript module exporting a model definition (run without a build step).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ModelError, RedraftError, UsageError } from '../dsl/errors.js';
import type { Graph } from '../dsl/ir.js';
import { resolveBuildConfig, type BuildConfig } from '../builders/build-config.js';
import { loadModelDir } from '../builders/model-dir.js';
import { checkPair } from '../builders/config.js';
import type { LoadedModel } from '../models/env.js';
import { isModelDefinition, type BuildOptions, type ModelDefinition } from '../models/definition.js';
import { parseQuantScheme } from '../models/llama/linear.js';
import { calibrate } from './calibrate.js';
import type { CalibrationRecord } from '../builders/engine-dir.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import type { Output } from './output.js';

export interface ModelFlags {
  model?: string;
  drafter?: string;
  dtype?: string;
  beamWidth?: string;
  beamLength?: string;
  maxBatch?: string;
  maxSeq?: string;
  config?: string;
  strict?: boolean;
  target?: string;
  workspace?: string;
  optLevel?: string;
  timingCache?: string;
  quantize?: string;
  calibrate?: string;
  quantizeDrafter?: boolean;
  /** Not a flag: an engine directory's recorded calibration (bin/engine.ts), used instead of re-running --calibrate. */
  calibration?: CalibrationRecord;
}

export const BUILTIN_MODELS = ['tiny-redrafter'] as const;

export interface ResolvedModel {
  definition: ModelDefinition;
  /** Where it came from, for messages and config.json. */
  source: string;
  /** The drafter directory of a base-model directory (recorded in config.json for --engine). */
  drafterSource?: string;
  llm?: LoadedModel;
  drafter?: LoadedModel;
  /** fp8 --calibrate: the calibration's result (recorded by the engine directory, or measured by buildOptionsFrom; config.json "calibration"). */
  calibration?: CalibrationRecord;
}

export function buildConfigFrom(flags: ModelFlags): BuildConfig {
  return resolveBuildConfig(
    {
      target: flags.target,
      dtype: flags.dtype,
      beamWidth: flags.beamWidth,
      beamLength: flags.beamLength,
      maxBatch: flags.maxBatch,
      maxSeq: flags.maxSeq,
      workspaceMiB: flags.workspace,
      optimizationLevel: flags.optLevel,
      timingCache: flags.timingCache,
      strict: flags.strict || undefined,
      quantize: flags.quantize,
      // Absolute: --engine DIR re-runs the calibration from the recorded file, from any directory.
      calibrate: flags.calibrate === undefined ? undefined : path.resolve(flags.calibrate),
      quantizeDrafter: flags.quantizeDrafter || undefined,
    },
    flags.config,
  );
}

const MODULE_EXT = /\.(ts|mts|cts|js|mjs|cjs)$/;

/**
 * `lazyWeights`: read checkpoint tensors whenever a backend needs them instead of holding them
 * (ONNX Runtime keeps its own copy, so generate --backend onnx would otherwise hold two).
 */
export async function resolveModel(flags: ModelFlags, out: Output, opts: { lazyWeights?: boolean } = {}): Promise<ResolvedModel> {
  const m = flags.model;
  if (!m) throw new UsageError('--model is required', `pass a built-in name (${BUILTIN_MODELS.join(', ')}), a model directory with --drafter DIR, or a .ts/.js model module`);
  if ((BUILTIN_MODELS as readonly string[]).includes(m)) {
    if (flags.drafter) throw new UsageError(`--drafter cannot be combined with the built-in model '${m}'`);
    const llm = tinyLlama();
    const drafter = tinyDrafter();
    return { definition: redrafterModel(llm, drafter, { name: m }), source: `builtin:${m}`, llm, drafter, ...recorded(flags) };
  }
  if (MODULE_EXT.test(m)) {
    if (flags.drafter) throw new UsageError(`--drafter cannot be combined with the model module '${m}'`, 'a model module builds its own drafter; drop --drafter');
    return { definition: await importDefinition(m), source: path.resolve(m) };
  }
  if (!fs.existsSync(m))
    throw new UsageError(`--model '${m}' is neither a built-in model, a directory nor a model module`, `built-in models: ${BUILTIN_MODELS.join(', ')}; or pass a directory holding config.json and model.safetensors`);
  if (!fs.statSync(m).isDirectory()) throw new UsageError(`--model '${m}' is a file but not a .ts/.js module`, 'pass a directory holding config.json, or a model module');
  if (isBuildOutput(m)) throw new UsageError(`--model '${m}' is a redraft build output, not a model directory`, `pass it as --engine ${m} (generate, run, bench and inspect take it)`);
  if (!flags.drafter) throw new UsageError(`--model '${m}' is a base model directory; a ReDrafter build also needs --drafter DIR`, 'pass the drafter checkpoint directory with --drafter');
  const lazy = opts.lazyWeights ? { lazyAbove: 0 } : {};
  const llm = loadModelDir(m, 'llama', { strict: !!flags.strict, warn: (s) => out.warn(s), progress: (d, t) => out.progress('checking base model weights', d, t), ...lazy });
  const drafter = loadModelDir(flags.drafter, 'drafter', { strict: !!flags.strict, warn: (s) => out.warn(s), progress: (d, t) => out.progress('checking drafter weights', d, t), ...lazy });
  checkPair(llm.config, path.join(m, 'config.json'), drafter.config, path.join(flags.drafter, 'config.json'));
  return { definition: redrafterModel(llm, drafter, { name: path.basename(path.resolve(m)) }), source: path.resolve(m), drafterSource: path.resolve(flags.drafter), llm, drafter, ...recorded(flags) };
}

/** An engine directory's recorded calibration (every model kind that calibrates: --engine never re-reads the prompts file). */
function recorded(flags: ModelFlags): { calibration?: CalibrationRecord } {
  return flags.calibration ? { calibration: flags.calibration } : {};
}

/** A directory holding a config.json that `redraft build` wrote (it records redraft's version). */
function isBuildOutput(dir: string): boolean {
  try {
    return typeof (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { redraft?: { version?: unknown } }).redraft?.version === 'string';
  } catch {
    return false;
  }
}

/** How Node treats a module: by its extension, else by the nearest package.json's "type". */
export function moduleFormat(file: string): 'module' | 'commonjs' {
  if (/\.(mts|mjs)$/.test(file)) return 'module';
  if (/\.(cts|cjs)$/.test(file)) return 'commonjs';
  for (let dir = path.dirname(file); ; ) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return (JSON.parse(fs.readFileSync(pj, 'utf8')) as { type?: string }).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return 'commonjs';
    dir = up;
  }
}

/** Imports a user's model module (TypeScript runs through tsx; no build step). */
async function importDefinition(file: string): Promise<ModelDefinition> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UsageError(`model module '${file}' does not exist`, 'check the path passed to --model');
  let mod: Record<string, unknown>;
  try {
    if (/\.(ts|mts|cts)$/.test(abs)) {
      if (moduleFormat(abs) === 'commonjs') {
        // tsx's ESM loader would run a CommonJS module as a data: URL (no file in its stack
        // frames); its require hook keeps the file's own path, so errors name the user's line.
        const { require: tsxRequire } = await import('tsx/cjs/api');
        mod = tsxRequire(abs, import.meta.url) as Record<string, unknown>;
      } else {
        const { tsImport } = await import('tsx/esm/api');
        mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
      }
    } else {
      // A model compiled from TypeScript with a source map is reported at its .ts line.
      process.setSourceMapsEnabled(true);
      mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
    }
  } catch (e) {
    if (e instanceof RedraftError) throw e;
    const msg = (e as Error)?.message ?? String(e);
    const missing = /Cannot find (?:module|package) '(redraft(?:-trt)?(?:\/[\w-]+)?)'/.exec(msg);
    if (missing)
      throw new ModelError(
        `model module '${file}' imports '${missing[1]}', which does not resolve from ${path.dirname(abs)}`,
        `install redraft in the model's project (npm install --save-dev redraft-trt, or a path to this checkout), import it as 'redraft-trt/...', and run that project's redraft (npx redraft); or keep the model inside a project that depends on redraft-trt`,
        e,
      );
    throw new ModelError(`model module '${file}' threw while loading: ${msg}${userFrame(e, abs)}`, 'fix the error in the module (run it with `npx tsx` to see the full trace)', e);
  }
  const candidates = [mod.default, mod.model, (mod.default as Record<string, unknown> | undefined)?.default];
  const def = candidates.find(isModelDefinition);
  if (!def)
    throw new ModelError(
      `model module '${file}' exports no model definition (exports: ${Object.keys(mod).join(', ') || 'none'})`,
      "export default defineModel({ name: '...', build(opts) { ... } }) — see the README's 'Authoring a model' section",
    );
  return def;
}

function isGraph(g: unknown): g is Graph {
  const x = g as Partial<Graph> | null;
  return !!x && typeof x === 'object' && Array.isArray(x.layers) && Array.isArray(x.inputs) && Array.isArray(x.outputs) && typeof x.name === 'string';
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? `an object with keys ${Object.keys(v).slice(0, 5).join(', ') || '(none)'}` : `${typeof v} ${JSON.stringify(v)}`;
}

function userFrame(e: unknown, file: string): string {
  const stack = (e as Error)?.stack ?? '';
  const line = stack.split('\n').find((l) => l.includes(file));
  return line ? `\n  at ${line.trim().replace(/^at /, '')}` : '';
}

/**
 * The model's build options from a build configuration: the shape, the dtype and the parsed
 * quantization scheme (fp8 with --calibrate: activation ranges measured on the prompts first).
 */
export async function buildOptionsFrom(build: BuildConfig, model?: ResolvedModel, out?: Output): Promise<BuildOptions> {
  const opts: BuildOptions = { dtype: build.dtype, beamWidth: build.beamWidth, beamLength: build.beamLength, maxBatch: build.maxBatch, maxSeq: build.maxSeq };
  const quantize = parseQuantScheme(build.quantize);
  if (build.quantizeDrafter && !quantize) throw new UsageError('--quantize-drafter quantizes the drafter with the --quantize scheme', 'add --quantize int8-wo | int4-wo[:GROUP] | fp8');
  if (build.calibrate !== undefined && quantize?.kind !== 'fp8')
    throw new UsageError('--calibrate measures activation scales for --quantize fp8', 'add --quantize fp8, or drop --calibrate (int8-wo and int4-wo quantize weights only)');
  if (quantize?.kind === 'fp8' && build.calibrate !== undefined) {
    if (!model?.llm) throw new UsageError('--calibrate needs a model directory (--model DIR --drafter DIR)', 'built-in and module models have no checkpoint to calibrate');
    // An engine directory's recorded scales are used as they are: its prompts file may have moved or changed since.
    model.calibration ??= await calibrate(model.llm, build, build.calibrate, out);
    quantize.activations = model.calibration.activations;
  }
  return quantize ? { ...opts, quantize, ...(build.quantizeDrafter ? { quantizeDrafter: true } : {}) } : opts;
}

/** Resolves the model and builds its graph for the resolved build configuration. */
export async function loadGraph(flags: ModelFlags, out: Output): Promise<{ graph: Graph; model: ResolvedModel; build: BuildConfig }> {
  const build = buildConfigFrom(flags);
  const model = await resolveModel(flags, out);
  out.info(`building graph of ${model.definition.name} (${model.source})`);
  let graph: Graph;
  try {
    graph = model.definition.build(await buildOptionsFrom(build, model, out));
  } catch (e) {
    if (e instanceof RedraftError) throw e;
    throw new ModelError(`model '${model.definition.name}' failed to build its graph: ${(e as Error)?.message ?? String(e)}${userFrame(e, model.source)}`, 'fix the model definition', e);
  }
  if (!isGraph(graph))
    throw new ModelError(`model '${model.definition.name}' (${model.source}): build() returned ${describeValue(graph)}, not a graph`, 'return buildNetwork(name, (net) => { ... }) from build(opts)');
  // A checkpoint with tensors the model never reads is usually a config that does not match it
  // (fewer layers, another architecture): say so rather than build something silently smaller.
  for (const [what, m] of [['base model', model.llm], ['drafter', model.drafter]] as const) {
    const unused = (m as { unusedWeights?: () => string[] } | undefined)?.unusedWeights?.() ?? [];
    if (unused.length) out.warn(`${unused.length} ${what} weight(s) in ${m!.dir} are not used by the model: ${unused.slice(0, 4).join(', ')}${unused.length > 4 ? ', ...' : ''} (does config.json match the checkpoint?)`);
  }
  return { graph, model, build };
}
