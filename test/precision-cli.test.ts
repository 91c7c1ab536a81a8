/**
 * What a user runs: `generate --dtype float16|bfloat16` prints the tokens `--autoregressive`
 * prints, on tiny-redrafter and on the golden distilled pair, on the interpreter and ONNX Runtime.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN } from './golden-root.js';

const ROOT = path.resolve(__dirname, '..');
const redraft = (args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'redraft.js'), ...args, '--json', '--quiet'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { tokens: number[][] }).tokens;
};
const MODELS: [string, string[]][] = [
  ['tiny-redrafter', ['--model', 'tiny-redrafter', '--prompt-ids', '5,6,7,8;9,10', '--max-length', '24']],
  ['distilled pair', ['--model', path.join(GOLDEN, 'models/distilled_llama_1'), '--drafter', path.join(GOLDEN, 'models/distilled_drafter_1'), '--beam-width', '4', '--beam-length', '5', '--prompt-ids', '24,4,18,28,12;15,28,25', '--max-length', '40']],
];

describe.each(['float16', 'bfloat16'])('generate --dtype %s', (dtype) => {
  it.each(MODELS)('on %s prints the tokens of --autoregressive (interp and onnx)', (_name, args) => {
    const ar = redraft(['generate', ...args, '--dtype', dtype, '--autoregressive']);
    for (const backend of ['interp', 'onnx']) {
      const sp = redraft(['generate', ...args, '--dtype', dtype, '--backend', backend]);
      sp.forEach((row, b) => {
        const n = Math.min(row.length, ar[b]!.length);
        expect(n).toBeGreaterThan(8);
        expect(row.slice(0, n), `${backend} row ${b}`).toEqual(ar[b]!.slice(0, n));
        // Not the failure this guards against: a row of one repeated token (0 forever).
        expect(new Set(row.slice(-8)).size).toBeGreaterThan(1);
      });
    }
  });
});
