/** `redraft conformance DIR`: golden cases from the PyTorch reference, on a backend. */
import { RedraftError, ExitCode } from '../../dsl/errors.js';
import { UsageError } from '../../dsl/errors.js';
import * as fs from 'node:fs';
import type { Output } from '../output.js';
import { goldenFns } from '../../models/golden.js';
import { runConformance, formatResults } from '../../builders/conformance/runner.js';
import { backendEnv } from '../../builders/conformance/env.js';

export async function conformance(dir: string, opts: { backend: string; filter?: string }, out: Output): Promise<void> {
  const isDir = fs.existsSync(dir) && fs.statSync(dir).isDirectory();
  if (!isDir && !(fs.existsSync(dir) && dir.endsWith('.json'))) throw new UsageError(fs.existsSync(dir) ? `'${dir}' is neither a folder of golden cases nor a case file (*.json)` : `conformance folder or case file '${dir}' does not exist`, 'pass the path of a golden folder (e.g. ../shared/golden) or of one case file (CASE.json)');
  const env = await backendEnv(opts.backend);
  const r = await runConformance(dir, {
    fns: goldenFns,
    env,
    backend: opts.backend,
    filter: opts.filter,
    onCase: (c, i, n) => out.progress(`conformance (${opts.backend})`, i, n),
  });
  const failure = r.failed > 0 ? new RedraftError(`${r.failed} of ${r.passed + r.failed} golden cases failed on ${opts.backend}`, { exitCode: ExitCode.conformance }) : undefined;
  // `dir` names a folder of cases; `case` the one case file given instead.
  const doc = { backend: opts.backend, ...(isDir ? { dir } : { case: dir }), passed: r.passed, failed: r.failed, results: r.results };
  out.result(failure ? { ...doc, exitCode: failure.exitCode, error: { kind: 'ConformanceFailure', message: failure.message } } : doc, formatResults(r), !failure);
  if (failure) throw failure;
}
