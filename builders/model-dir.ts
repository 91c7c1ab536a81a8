/**
 * A model directory: `config.json` (Hugging Face Llama or ReDrafter drafter) and its weights.
 * Configs are validated here so mistakes are reported with the file and the JSON key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from '../dsl/errors.js';
import { loadWeights, type Checkpoint } from './weights/index.js';
import { validateConfig, type ModelKind } from './config.js';

export interface LoadedModelDir {
  dir: string;
  config: Record<string, unknown>;
  weights: Checkpoint;
  /** Checkpoint tensors no graph has asked for yet (after a build: weights the model ignores). */
  unusedWeights(): string[];
}

/** Buffers some checkpoints carry that are recomputed, not read (rotary inverse frequencies). */
const DERIVED = /(^|\.)rotary_emb\.inv_freq$/;

/** The checkpoint, recording which tensors the model reads. */
function tracked(w: Checkpoint, used: Set<string>): Checkpoint {
  return {
    ...w,
    get: (name, shape) => (used.add(name), w.get(name, shape)),
    lazy: w.lazy ? (name, shape) => (used.add(name), w.lazy!(name, shape)) : undefined,
    slice: (name, shape, axis, start, size) => (used.add(name), w.slice(name, shape, axis, start, size)),
  };
}

export function readConfigJson(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelError(`${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, `a model directory needs config.json next to its weights`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${file} is not valid JSON: ${(e as Error).message}`, 'fix the JSON syntax');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelError(`${file} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * Loads and validates a model directory; warns (or fails with strict) on NaN/Inf weights.
 * `lazyAbove` (bytes): checkpoints larger than this are read tensor by tensor whenever a
 * backend needs them and never kept (default LAZY_WEIGHTS_BYTES; 0: always).
 */
export function loadModelDir(
  dir: string,
  kind: ModelKind,
  opts: { strict?: boolean; warn?: (msg: string) => void; progress?: (done: number, total: number) => void; lazyAbove?: number } = {},
): LoadedModelDir {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelError(`model directory '${dir}' does not exist`, 'check the path');
  const config = readConfigJson(dir);
  validateConfig(config, kind, path.join(dir, 'config.json'));
  const weights = loadWeights(dir, opts.lazyAbove !== undefined ? { lazyAbove: opts.lazyAbove } : {});
  const bad = weights.nonFinite(opts.progress);
  if (bad.length) {
    const msg = `${weights.path}: ${bad.length} weight tensor(s) hold NaN or Inf: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', ...' : ''}`;
    if (opts.strict) throw new ModelError(msg, 'fix the checkpoint, or drop --strict to build anyway');
    opts.warn?.(msg);
  }
  const used = new Set<string>();
  return { dir: path.resolve(dir), config, weights: tracked(weights, used), unusedWeights: () => weights.names().filter((n) => !used.has(n) && !DERIVED.test(n)) };
}
