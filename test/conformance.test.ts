/** Every golden case of every implemented suite must pass on the reference interpreter and on ONNX Runtime. */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCases } from '../builders/conformance/load.js';
import { runCase } from '../builders/conformance/runner.js';
import { interpEnv, withGenerate } from '../builders/conformance/env.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { goldenFns } from '../models/golden.js';

import { GOLDEN } from './golden-root.js';
/** Suites implemented so far; each must pass in full. */
export const SUITES = ['tree_attention', 'accept', 'llama', 'drafter', 'generate'];

const BACKENDS = { interp: interpEnv(), onnx: withGenerate(onnxEnv()) };
for (const [backend, env] of Object.entries(BACKENDS))
for (const suite of SUITES) {
  describe(`golden ${suite} (${backend})`, () => {
    const files = findCases(path.join(GOLDEN, suite));
    it('has cases', () => expect(files.length).toBeGreaterThan(0));
    for (const f of files)
      it(path.basename(f, '.json'), async () => {
        const r = await runCase(f, { fns: goldenFns, env });
        expect(r.failure ?? 'ok').toBe('ok');
      });
  });
}
