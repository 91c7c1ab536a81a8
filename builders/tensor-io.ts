/** Reading and writing named host tensors as .safetensors or .json ({name: {dtype, shape, data}}). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDType } from '../dsl/dtype.js';
import { RedraftError, UsageError } from '../dsl/errors.js';
import type { DType } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import { ensureWritableDir, writeFileAtomic } from './atomic.js';
import { loadWeights, writeSafetensors } from './weights/index.js';

export function readTensors(file: string): Record<string, HostTensor> {
  if (file.endsWith('.safetensors')) {
    try {
      const w = loadWeights(file);
      try {
        return Object.fromEntries(w.names().map((n) => [n, { ...w.get(n) }]));
      } finally {
        w.close();
      }
    } catch (e) {
      // Inputs are the command's arguments, not a model: a broken file is a usage error (exit 2).
      if (e instanceof RedraftError) throw new UsageError(`inputs: ${e.message.split('\n  fix: ')[0]}`, 'pass a valid .safetensors file, or JSON {name: {dtype, shape, data}}');
      throw e;
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
    out[name] = hostTensor(v.dtype, v.shape as number[], (v.data as unknown[]).map((x, i) => element(file, name, v.dtype as DType, x, i)));
  }
  return out;
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], int8: [-128, 127] };
const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** One JSON element as the dtype wants it; anything else names the tensor and the index. */
function element(file: string, name: string, dtype: DType, x: unknown, i: number): number | bigint | boolean {
  const bad = (want: string) => new UsageError(`${file}: "${name}".data[${i}] is ${JSON.stringify(x)}; ${dtype} wants ${want}`);
  if (dtype === 'bool') {
    if (x === true || x === false || x === 0 || x === 1) return x;
    throw bad('true/false or 0/1');
  }
  if (dtype === 'int64') {
    // Strings carry ids beyond 2^53 exactly.
    if (typeof x === 'string' && /^-?\d+$/.test(x) && BigInt.asIntN(64, BigInt(x)) === BigInt(x)) return BigInt(x);
    if (typeof x === 'number' && Number.isSafeInteger(x)) return x;
    throw bad('an integer (as a string beyond 2^53)');
  }
  const range = INT_RANGE[dtype];
  if (range) {
    if (typeof x === 'number' && Number.isInteger(x) && x >= range[0] && x <= range[1]) return x;
    throw bad(`an integer in [${range[0]}, ${range[1]}]`);
  }
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && x in SPECIAL) return SPECIAL[x]!;
  throw bad('a number (or "NaN", "Infinity", "-Infinity")');
}

/** Data as JSON can hold it: int64 beyond 2^53 and non-finite floats as strings (readTensors takes them back). */
function jsonData(t: HostTensor): (number | string)[] {
  if (t.dtype === 'int64') return Array.from(t.data as BigInt64Array, (b) => (b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString()));
  return toNumbers(t).map((v) => (Number.isFinite(v) ? v : String(v)));
}

export function writeTensors(file: string, tensors: Record<string, HostTensor>): void {
  ensureWritableDir(path.dirname(path.resolve(file)));
  if (file.endsWith('.safetensors')) {
    writeSafetensors(file, Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data })));
    return;
  }
  if (!file.endsWith('.json')) throw new UsageError(`outputs file '${file}' must end in .safetensors or .json`);
  const obj = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: jsonData(t) }]));
  writeFileAtomic(file, JSON.stringify(obj) + '\n');
}
