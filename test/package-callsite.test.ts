/**
 * DSL errors name the user's own file:line from a project that depends on redraft-trt, whatever
 * kind of project it is: ESM or CommonJS, .ts or .js, source-mapped or not. A mistake caught
 * inside a library model function (get_unpacker fed int32 beams) names the user's call of it,
 * and no frame of redraft itself (dsl/errors.ts, models/redrafter/tree_attention.ts) is shown.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

type Kind = { name: string; type: 'module' | 'commonjs'; ext: 'ts' | 'js'; syntax: 'esm' | 'cjs' };
const KINDS: Kind[] = [
  { name: 'ESM .ts', type: 'module', ext: 'ts', syntax: 'esm' },
  { name: 'CommonJS .ts', type: 'commonjs', ext: 'ts', syntax: 'esm' }, // TypeScript's import syntax, compiled to CJS
  { name: 'ESM .js', type: 'module', ext: 'js', syntax: 'esm' },
  { name: 'CommonJS .js', type: 'commonjs', ext: 'js', syntax: 'cjs' },
];

/** A model source; `bad` is the body of buildNetwork's callback, on lines 8 and on. */
function modelSource(k: Kind, bad: string): string {
  const head =
    k.syntax === 'esm'
      ? `import { buildNetwork } from 'redraft-trt/dsl';\nimport { defineModel, get_unpacker } from 'redraft-trt/models';\nimport { matmul } from 'redraft-trt/ops';\n`
      : `const { buildNetwork } = require('redraft-trt/dsl');\nconst { defineModel, get_unpacker } = require('redraft-trt/models');\nconst { matmul } = require('redraft-trt/ops');\n`;
  const exp = k.syntax === 'esm' ? 'export default' : 'module.exports =';
  // lines 1-3: imports; 4: blank; 5: export; 6: name; 7: build; 8: return buildNetwork; 9..: body
  return `${head}\n${exp} defineModel({\n  name: 'bad',\n  build() {\n    return buildNetwork('bad', (net) => {\n${bad}\n    });\n  },\n});\n`;
}

const MATMUL = `      const a = net.input('a', 'float32', [2, 3]);
      const b = net.input('b', 'float32', [4, 5]);
      net.markOutput(matmul(a, b), 'y');`; // line 11, column 22
const UNPACKER = `      const beams = net.input('beams', 'int32', [1, 4, 5]);
      const tree = net.input('tree', 'int32', [1, 4, 5]);
      net.markOutput(get_unpacker(beams, tree), 'y');`; // line 11, column 22

function project(k: Kind): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-site-'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user-models', private: true, type: k.type }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'redraft-trt'));
  return dir;
}

function build(dir: string, model: string) {
  const r = spawnSync(process.execPath, [CLI, 'build', '--model', model, '--target', 'onnx', '--out', path.join(dir, 'out')], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  return { code: r.status, stderr: r.stderr };
}

function expectUserLine(r: { code: number | null; stderr: string }, file: string, what: RegExp) {
  expect(r.code, r.stderr).toBe(4);
  expect(r.stderr).toMatch(what);
  expect(r.stderr).toMatch(new RegExp(`\\n  at ${file.replace('.', '\\.')}:11:22\\n`));
  expect(r.stderr).not.toMatch(/errors\.[tj]s|tree_attention|\.build|node_modules|data:/);
}

describe.each(KINDS)('a model in a $name project', (k) => {
  it('a shape error names the line of the model file', () => {
    const dir = project(k);
    fs.writeFileSync(path.join(dir, `model.${k.ext}`), modelSource(k, MATMUL));
    expectUserLine(build(dir, `model.${k.ext}`), `model.${k.ext}`, /matmul: contracted dims differ/);
  });
  it('an error inside a library model function names the call of it', () => {
    const dir = project(k);
    fs.writeFileSync(path.join(dir, `unpack.${k.ext}`), modelSource(k, UNPACKER));
    expectUserLine(build(dir, `unpack.${k.ext}`), `unpack.${k.ext}`, /must have the same dtype/);
  });
});

describe('a model compiled from TypeScript', () => {
  const esbuild = createRequire(path.join(ROOT, 'package.json'))('esbuild') as typeof import('esbuild');
  const compile = (k: Kind, body: string, sourcemap: boolean) =>
    esbuild.transformSync(modelSource(k, body), { loader: 'ts', format: k.type === 'module' ? 'esm' : 'cjs', sourcemap: sourcemap ? 'inline' : false, sourcefile: 'model.ts' }).code;
  it('with a source map: the .ts line', () => {
    const k = KINDS[0]!;
    const dir = project(k);
    fs.writeFileSync(path.join(dir, 'model.js'), compile(k, UNPACKER, true));
    expectUserLine(build(dir, 'model.js'), 'model.ts', /must have the same dtype/);
  });
  it('without one: the .js file', () => {
    const k = KINDS[1]!;
    const dir = project(k);
    fs.writeFileSync(path.join(dir, 'model.js'), compile(k, MATMUL, false));
    const r = build(dir, 'model.js');
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/\n  at model\.js:\d+:\d+\n/);
    expect(r.stderr).not.toMatch(/errors\.[tj]s|\.build|node_modules/);
  });
});
