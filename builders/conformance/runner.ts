/**
 * The conformance runner: every golden case under a folder, run on a backend, compared with
 * the recorded outputs. A case whose fn is not implemented fails; nothing is skipped.
 */
import * as path from 'node:path';
import { UsageError } from '../../dsl/errors.js';
import { yieldToSignals } from '../atomic.js';
import type { HostTensor } from '../../dsl/host.js';
import { compareTensor, validityRule } from './compare.js';
import { findCases, loadCase } from './load.js';
import type { CaseEnv, CaseResult, ConformanceReport, GoldenFn } from './types.js';

export interface ConformanceOptions {
  fns: Record<string, GoldenFn>;
  env: CaseEnv;
  backend: string;
  /** Only cases whose path contains this text. */
  filter?: string;
  onCase?: (result: CaseResult, index: number, total: number) => void;
}

/** int32 and int64 compare as integers; float and bool kinds must match. */
const dtypeKind = (d: string) => (d.startsWith('float') || d === 'bfloat16' ? 'float' : d === 'bool' ? 'bool' : 'int');

/** Half-precision outputs are compared as float32. */
function asComparable(t: HostTensor): HostTensor {
  return t;
}

export async function runCase(file: string, opts: Pick<ConformanceOptions, 'fns' | 'env'>): Promise<CaseResult> {
  const t0 = performance.now();
  const done = (ok: boolean, failure?: string, name = path.basename(file, '.json'), fn = '?'): CaseResult => ({ path: file, name, fn, ok, failure, seconds: (performance.now() - t0) / 1000 });
  let c;
  try {
    c = loadCase(file);
  } catch (e) {
    // An unreadable case file is an unreadable input (exit 2, naming the file), not a conformance failure.
    if (e instanceof UsageError) throw e;
    return done(false, (e as Error).message);
  }
  const impl = opts.fns[c.fn];
  if (!impl) return done(false, `fn '${c.fn}' is not implemented`, c.name, c.fn);
  let got: Record<string, HostTensor>;
  try {
    got = await impl(c, opts.env);
  } catch (e) {
    // A TypeError here almost always means the case lacks an input or attr the fn reads.
    const hint = e instanceof TypeError ? ` (does the case hold every input '${c.fn}' needs? it has: ${Object.keys(c.inputs).join(', ') || 'none'}; attrs: ${Object.keys(c.attrs).join(', ') || 'none'})` : '';
    return done(false, `${(e as Error).name}: ${(e as Error).message}${hint}`, c.name, c.fn);
  }
  for (const [name, want] of Object.entries(c.outputs)) {
    const g = got[name];
    if (!g) return done(false, `output '${name}' was not produced (got: ${Object.keys(got).join(', ') || 'none'})`, c.name, c.fn);
    if (dtypeKind(g.dtype) !== dtypeKind(want.dtype)) return done(false, `output '${name}': dtype ${g.dtype}, want ${want.dtype}`, c.name, c.fn);
    const msg = compareTensor(name, want, asComparable(g), c.tolerance, validityRule(c, name, got));
    if (msg) return done(false, msg, c.name, c.fn);
  }
  return done(true, undefined, c.name, c.fn);
}

export async function runConformance(dir: string, opts: ConformanceOptions): Promise<ConformanceReport> {
  const all = findCases(dir);
  const files = all.filter((f) => !opts.filter || f.includes(opts.filter));
  // A run that checks nothing must not pass (a wrong path in CI would go green).
  if (!all.length) throw new UsageError(`no golden case files (*.json) under '${dir}'`, 'pass the golden root or one suite folder, e.g. ../shared/golden');
  if (!files.length) throw new UsageError(`none of the ${all.length} cases under '${dir}' matches --filter ${JSON.stringify(opts.filter)}`);
  const results: CaseResult[] = [];
  for (const [i, f] of files.entries()) {
    await yieldToSignals();
    const r = await runCase(f, opts);
    results.push(r);
    opts.onCase?.(r, i + 1, files.length);
  }
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed, results };
}

/** One line per failing case, then per-suite counts, then `N passed, M failed`. */
export function formatResults(r: ConformanceReport, root?: string): string {
  const lines: string[] = [];
  for (const x of r.results) if (!x.ok) lines.push(`FAIL ${root ? path.relative(root, x.path) : x.path}: ${x.failure}`);
  const suites = new Map<string, [number, number]>();
  for (const x of r.results) {
    const suite = path.basename(path.dirname(x.path));
    const s = suites.get(suite) ?? [0, 0];
    s[x.ok ? 0 : 1]++;
    suites.set(suite, s);
  }
  for (const [s, [p, f]] of [...suites].sort()) lines.push(`  ${s.padEnd(16)} ${p} passed, ${f} failed`);
  lines.push(`${r.passed} passed, ${r.failed} failed`);
  return lines.join('\n');
}
