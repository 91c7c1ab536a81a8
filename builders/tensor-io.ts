/** Reading and writing named host tensors as .safetensors or .json ({name: {dtype, shape, data}}). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDType } from '../dsl/dtype.js';
import { UsageError } from '../dsl/errors.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import { ensureWritableDir, writeFileAtomic } from './atomic.js';
import { loadWeights, writeSafetensors } from './weights/index.js';

export function readTensors(file: string): Record<string, HostTensor> {
  if (file.endsWith('.safetensors')) {
    const w = loadWeights(file);
    try {
      return Object.fromEntries(w.names().map((n) => [n, { ...w.get(n) }]));
    } finally {
      w.close();
    }
  }
  if (!file.endsWith('.json')) throw new UsageError(`inputs file '${file}' must end in .safetensors or .json`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read inputs '${file}': ${(e as Error).message}`, 'pass a JSON object {name: {dtype, shape, data}}');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`inputs '${file}' must be a JSON object of tensors`);
  const out: Record<string, HostTensor> = {};
  for (const [name, v] of Object.entries(raw as Record<string, { dtype?: unknown; shape?: unknown; data?: unknown }>)) {
    if (!isDType(v?.dtype)) throw new UsageError(`${file}: "${name}".dtype must be a dtype (float32, int64, ...), got ${JSON.stringify(v?.dtype)}`);
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UsageError(`${file}: "${name}".shape must be an array of non-negative integers`);
    if (!Array.isArray(v.data)) throw new UsageError(`${file}: "${name}".data must be a flat array`);
    const n = (v.shape as number[]).reduce((a, b) => a * b, 1);
    if (v.data.length !== n) throw new UsageError(`${file}: "${name}" has ${v.data.length} values for shape [${v.shape}] (${n})`);
    out[name] = hostTensor(v.dtype, v.shape as number[], v.data as number[]);
  }
  return out;
}

export function writeTensors(file: string, tensors: Record<string, HostTensor>): void {
  ensureWritableDir(path.dirname(path.resolve(file)));
  if (file.endsWith('.safetensors')) {
    writeSafetensors(file, Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data })));
    return;
  }
  if (!file.endsWith('.json')) throw new UsageError(`outputs file '${file}' must end in .safetensors or .json`);
  const obj = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: toNumbers(t) }]));
  writeFileAtomic(file, JSON.stringify(obj) + '\n');
}
