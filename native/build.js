#!/usr/bin/env node
// Builds the native addon with cmake-js. Never fails `npm install`: without a compiler or
// cmake the addon is simply absent and redraft says so when a TensorRT build is asked for.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
// Resolved like any dependency: in an installed package npm hoists cmake-js next to redraft-trt.
let cmakeJs;
try {
  cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
} catch {
  cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
}
const args = [cmakeJs, 'compile', '--directory', here, '--out', join(here, 'build'), '--config', 'Release'];
if (process.env.TENSORRT_INCLUDE_DIR) process.stderr.write(`redraft: compiling the TensorRT bridge against ${process.env.TENSORRT_INCLUDE_DIR}\n`);
const quiet = process.env.CI && !process.env.REDRAFT_NATIVE_VERBOSE;
const r = spawnSync(process.execPath, args, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', env: process.env });
if (r.status !== 0) {
  process.stderr.write('redraft: warning: the native addon did not build (cmake and a C++17 compiler are needed); ONNX and plan targets still work, TensorRT builds will say what is missing\n');
}
process.exit(0);
