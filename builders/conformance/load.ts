/** Finding and decoding golden case files (layout: ../shared/golden/README.md). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DType } from '../../dsl/dtype.js';
import { ModelError, UsageError } from '../../dsl/errors.js';
import type { HostTensor } from '../../dsl/host.js';
import { hostTensor } from '../../dsl/host.js';
import type { GoldenCase } from './types.js';

/** Every case file under `dir`, sorted; model folders and non-case JSON are skipped. */
export function findCases(dir: string): string[] {
  if (dir.endsWith('.json') && fs.statSync(dir).isFile()) return [dir]; // one case file
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'models' && !e.name.startsWith('.')) walk(p);
      } else if (e.name.endsWith('.json') && e.name !== 'config.json' && !e.name.endsWith('.index.json')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const DTYPES: Record<string, DType> = { float32: 'float32', int64: 'int64', int32: 'int32', bool: 'bool', float16: 'float16', bfloat16: 'bfloat16' };

function decodeTensor(file: string, name: string, raw: unknown): HostTensor {
  const r = raw as { dtype?: string; shape?: number[]; data?: unknown[] };
  if (!r || typeof r !== 'object' || !Array.isArray(r.shape) || !Array.isArray(r.data)) throw new UsageError(`${file}: tensor '${name}' needs dtype, shape and data`, 'fix the case file (layout: ../shared/golden/README.md)');
  const dtype = DTYPES[r.dtype ?? ''];
  if (!dtype) throw new UsageError(`${file}: tensor '${name}' has dtype ${JSON.stringify(r.dtype)}; expected one of ${Object.keys(DTYPES).join(', ')}`, 'fix the case file (layout: ../shared/golden/README.md)');
  if (!r.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UsageError(`${file}: tensor '${name}' has shape ${JSON.stringify(r.shape)}; expected non-negative integers`, 'fix the case file (layout: ../shared/golden/README.md)');
  const n = r.shape.reduce((a, b) => a * b, 1);
  if (r.data.length !== n) throw new UsageError(`${file}: tensor '${name}' has ${r.data.length} values for shape [${r.shape}]`, 'fix the case file (layout: ../shared/golden/README.md)');
  // int64 values beyond 2^53 are kept exact when the JSON holds them as strings.
  const vals = dtype === 'int64' ? r.data.map((v) => (typeof v === 'string' ? BigInt(v) : BigInt(Math.trunc(v as number)))) : r.data.map((v) => (typeof v === 'boolean' ? +v : (v as number)));
  return hostTensor(dtype, r.shape, vals);
}

/** The nearest ancestor of the case file in which `rel` exists (README rule). */
function resolveModel(caseFile: string, rel: string): string {
  let d = path.dirname(caseFile);
  for (;;) {
    const p = path.join(d, rel);
    if (fs.existsSync(p)) return p;
    const up = path.dirname(d);
    if (up === d) throw new ModelError(`${caseFile}: model '${rel}' was not found in any folder above the case`, 'point the runner at a folder whose ancestors hold models/');
    d = up;
  }
}

export function loadCase(file: string): GoldenCase {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`case file '${file}' is not readable JSON (${(e as Error).message})`, 'fix or remove the file (layout: ../shared/golden/README.md)');
  }
  const decodeAll = (m: unknown) => Object.fromEntries(Object.entries((m ?? {}) as Record<string, unknown>).map(([k, v]) => [k, decodeTensor(file, k, v)]));
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`case file '${file}' is not a case: its JSON is ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}, not an object`, 'fix or remove the file (layout: ../shared/golden/README.md)');
  const outputs = decodeAll(raw.outputs);
  if (!Object.keys(outputs).length) throw new UsageError(`case file '${file}' declares no outputs, so it would check nothing`, 'record the expected outputs under "outputs", or remove the file');
  const tol = (raw.tolerance ?? {}) as { atol?: number; rtol?: number };
  return {
    path: file,
    name: String(raw.name ?? path.basename(file, '.json')),
    fn: String(raw.fn ?? ''),
    attrs: (raw.attrs ?? {}) as Record<string, unknown>,
    inputs: decodeAll(raw.inputs),
    outputs,
    models: Object.fromEntries(Object.entries((raw.models ?? {}) as Record<string, string>).map(([k, v]) => [k, resolveModel(file, v)])),
    tolerance: { atol: tol.atol ?? 1e-5, rtol: tol.rtol ?? 1e-5 },
  };
}

