/**
 * `--quantize fp8 --calibrate FILE`: the base model runs in float on the interpreter over each
 * prompt of FILE (one per line: comma- or space-separated token ids, or text encoded with the
 * model's tokenizer.json) and each projection's largest |input| becomes its activation amax.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { UsageError } from '../dsl/errors.js';
import { hostTensor } from '../dsl/host.js';
import { runGraph } from '../builders/interp/index.js';
import type { BuildConfig } from '../builders/build-config.js';
import type { CalibrationRecord } from '../builders/engine-dir.js';
import { tokenizerFor } from '../builders/text/index.js';
import type { LoadedModel } from '../models/env.js';
import { buildCalibrationGraph } from '../models/llama/calibrate.js';
import type { Output } from './output.js';

/** Token-id rows of a prompts file (ids, or text through the tokenizer); at most maxSeq tokens each. */
export function calibrationPrompts(file: string, dir: string | undefined, vocab: number, maxSeq: number): number[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--calibrate '${file}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'pass a text file with one prompt per line');
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (!lines.length) throw new UsageError(`--calibrate '${file}' holds no prompts`, 'write one prompt per line (token ids like 5,6,7, or text)');
  let tok: ReturnType<typeof tokenizerFor> | undefined;
  const tokenizer = (i: number) => {
    if (tok) return tok;
    try {
      return (tok = tokenizerFor(dir));
    } catch (e) {
      // The user's file and line are what to fix (or the model's tokenizer): a usage error, exit 2.
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new UsageError(`--calibrate '${file}' line ${i + 1} is text, not token ids, and the model cannot encode it (${why})`, `write that line as token ids (like 5,6,7), or add the model's tokenizer.json${dir ? ` to ${dir}` : ''}`);
    }
  };
  return lines.map((l, i) => {
    const ids = /^[\d,\s]+$/.test(l) ? l.split(/[,\s]+/).filter(Boolean).map(Number) : tokenizer(i).encode(l, true);
    const bad = ids.find((v) => !Number.isSafeInteger(v) || v < 0 || v >= vocab);
    if (bad !== undefined) throw new UsageError(`--calibrate '${file}' line ${i + 1}: token id ${bad} is not in [0, ${vocab})`);
    if (!ids.length) throw new UsageError(`--calibrate '${file}' line ${i + 1} encodes to no tokens`);
    return ids.slice(0, maxSeq);
  });
}

/** Per-projection activation amax (by weight name) over the prompts. */
export async function calibrateActivations(llm: LoadedModel, build: BuildConfig, file: string, out?: Output): Promise<Record<string, number>> {
  return (await calibrate(llm, build, file, out)).activations;
}

/** The calibration over FILE's prompts as `redraft build` records it (config.json "calibration"). */
export async function calibrate(llm: LoadedModel, build: BuildConfig, file: string, out?: Output): Promise<CalibrationRecord> {
  const vocab = Number((llm.config as { vocab_size?: number }).vocab_size);
  const prompts = calibrationPrompts(file, llm.dir, vocab, build.maxSeq);
  const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const graph = buildCalibrationGraph(llm, build.dtype, build.maxSeq);
  const amax: Record<string, number> = {};
  prompts.forEach((ids, i) => {
    out?.progress('calibrating fp8 activations', i, prompts.length);
    const T = ids.length;
    const mask = Array.from({ length: T * T }, (_, j) => Math.floor(j / T) >= j % T);
    const r = runGraph(graph, {
      input_ids: hostTensor('int64', [1, T], ids),
      attention_mask: hostTensor('bool', [1, T, T], mask),
      position_ids: hostTensor('int64', [1, T], ids.map((_, j) => j)),
    });
    for (const [k, v] of Object.entries(r)) {
      if (!k.startsWith('amax.')) continue;
      const name = k.slice('amax.'.length);
      amax[name] = Math.max(amax[name] ?? 0, (v.data as Float32Array)[0]!);
    }
  });
  out?.progress('calibrating fp8 activations', prompts.length, prompts.length);
  return { file, sha256, prompts: prompts.length, activations: amax };
}
