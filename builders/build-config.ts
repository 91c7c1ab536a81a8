/**
 * Build configuration: defaults, a `build.json` file, then command-line flags (flags win).
 * Every bad value is a UsageError naming the flag or JSON path and the allowed range.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UsageError } from '../dsl/errors.js';

export type BuildTarget = 'auto' | 'trt' | 'onnx' | 'plan';
export type BuildDtype = 'float32' | 'float16' | 'bfloat16';

export interface BuildConfig {
  target: BuildTarget;
  dtype: BuildDtype;
  beamWidth: number;
  beamLength: number;
  maxBatch: number;
  maxSeq: number;
  /** TensorRT options (ignored by other targets). */
  workspaceMiB: number;
  optimizationLevel: number;
  timingCache?: string;
  /** Fail (instead of warn) on NaN/Inf weights. */
  strict: boolean;
  /** Base-model weight quantization: int8-wo, int4-wo[:GROUP] or fp8 (absent: none; models/llama/linear.ts). */
  quantize?: string;
  /** fp8: activation scales from a calibration run over these prompts (a text file, one prompt per line). */
  calibrate?: string;
  /** Quantize the drafter with the same scheme (it stays in `dtype` otherwise). */
  quantizeDrafter?: boolean;
}

export const DEFAULT_BUILD_CONFIG: BuildConfig = {
  target: 'auto',
  dtype: 'float32',
  beamWidth: 4,
  beamLength: 4,
  maxBatch: 4,
  maxSeq: 256,
  workspaceMiB: 4096,
  optimizationLevel: 3,
  strict: false,
};

export type Rule = { kind: 'int'; min: number; max: number } | { kind: 'enum'; values: readonly string[] } | { kind: 'bool' } | { kind: 'string' } | { kind: 'pattern'; re: RegExp; values: string };
/** Each key's flag and allowed values (the CLI's help prints these with the defaults). */
export const BUILD_CONFIG_RULES: Readonly<Record<keyof BuildConfig, Rule & { flag: string }>> = {
  target: { kind: 'enum', values: ['auto', 'trt', 'onnx', 'plan'], flag: '--target' },
  dtype: { kind: 'enum', values: ['float32', 'float16', 'bfloat16'], flag: '--dtype' },
  // Top-50 warping keeps 50 candidates per beam, so wider beams cannot be filled.
  beamWidth: { kind: 'int', min: 1, max: 50, flag: '--beam-width' },
  beamLength: { kind: 'int', min: 2, max: 64, flag: '--beam-length' },
  maxBatch: { kind: 'int', min: 1, max: 4096, flag: '--max-batch' },
  maxSeq: { kind: 'int', min: 2, max: 1 << 20, flag: '--max-seq' },
  workspaceMiB: { kind: 'int', min: 16, max: 1 << 20, flag: '--workspace' },
  optimizationLevel: { kind: 'int', min: 0, max: 5, flag: '--opt-level' },
  timingCache: { kind: 'string', flag: '--timing-cache' },
  strict: { kind: 'bool', flag: '--strict' },
  quantize: { kind: 'pattern', re: /^(none|int8-wo|int4-wo(:\d+)?|fp8)$/, values: 'int8-wo, int4-wo[:GROUP], fp8', flag: '--quantize' },
  calibrate: { kind: 'string', flag: '--calibrate' },
  quantizeDrafter: { kind: 'bool', flag: '--quantize-drafter' },
};

const RULES = BUILD_CONFIG_RULES;

function check(key: keyof BuildConfig, v: unknown, where: string, fromFlag = false): unknown {
  const r = RULES[key];
  switch (r.kind) {
    case 'int': {
      // Flags arrive as strings; a build.json must hold real numbers.
      const n = fromFlag && typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < r.min || n > r.max)
        throw new UsageError(
          `${where} must be an integer in [${r.min}, ${r.max}], got ${JSON.stringify(v)}`,
          key === 'beamWidth' && typeof n === 'number' && n > r.max ? 'beam width is at most 50 because drafter logits are warped to their top 50' : `pass a value between ${r.min} and ${r.max}`,
        );
      return n;
    }
    case 'enum':
      if (typeof v !== 'string' || !r.values.includes(v)) throw new UsageError(`${where} must be one of ${r.values.join(', ')}, got ${JSON.stringify(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw new UsageError(`${where} must be true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string' || !v) throw new UsageError(`${where} must be a non-empty string, got ${JSON.stringify(v)}`);
      return v;
    case 'pattern':
      if (typeof v !== 'string' || !r.re.test(v)) throw new UsageError(`${where} must be one of ${r.values}, got ${JSON.stringify(v)}`, key === 'quantize' ? 'for example --quantize int4-wo:128 (the group size divides every projection\'s input dim)' : undefined);
      return key === 'quantize' ? normalizeQuantize(v, where) : v;
  }
}

/**
 * The canonical spelling of a valid --quantize value, so one build has one record and one hash:
 * 'none' (the default) is no key, an int4 group loses leading zeros (int4-wo:08 → int4-wo:8).
 * The group's range is checked here, where the error can name the flag or `file: quantize`.
 */
function normalizeQuantize(v: string, where: string): string | undefined {
  if (v === 'none') return undefined;
  const m = /^int4-wo:(\d+)$/.exec(v);
  if (!m) return v;
  const group = Number(m[1]);
  if (!(group >= 1 && group <= 1 << 16)) throw new UsageError(`${where} int4-wo group size ${m[1]} must be from 1 to 65536, got ${JSON.stringify(v)}`, 'common group sizes are 32, 64 and 128 (the default)');
  return `int4-wo:${group}`;
}

/** Reads a build.json; unknown keys and bad values are errors naming `file: key`. */
export function readBuildConfigFile(file: string): Partial<BuildConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code ? `cannot read build config '${file}' (${code})` : `build config '${file}' is not valid JSON: ${(e as Error).message}`, 'pass --config with a JSON file like {"beamWidth": 4, "beamLength": 4}');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`build config '${file}' must hold a JSON object`);
  const out: Partial<BuildConfig> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!Object.hasOwn(RULES, k)) throw new UsageError(`build config '${file}': unknown key '${k}'`, `known keys: ${Object.keys(RULES).join(', ')}`);
    (out as Record<string, unknown>)[k] = check(k as keyof BuildConfig, v, `${file}: ${k}`);
  }
  // A prompts file named in a build.json is found next to it, from any working directory.
  if (out.calibrate !== undefined) out.calibrate = path.resolve(path.dirname(file), out.calibrate);
  return out;
}

/** Merges defaults ← file ← flags; flags are validated with their flag names. */
export function resolveBuildConfig(flags: Partial<Record<keyof BuildConfig, unknown>>, file?: string): BuildConfig {
  const fromFile = file ? readBuildConfigFile(file) : {};
  const out: BuildConfig = { ...DEFAULT_BUILD_CONFIG, ...fromFile };
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined) continue;
    (out as unknown as Record<string, unknown>)[k] = check(k as keyof BuildConfig, v, RULES[k as keyof BuildConfig].flag, true);
  }
  return out;
}

/** Stable JSON (sorted keys) for hashing and config.json. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Content hash of a build: graph bytes (weights included) + build config + tool version. */
export function contentHash(graphBytes: Iterable<Uint8Array>, config: unknown, version: string): string {
  const h = createHash('sha256');
  for (const b of graphBytes) h.update(b); // one chunk at a time: weights may be streamed
  h.update(canonicalJson(config));
  h.update(version);
  return h.digest('hex');
}
