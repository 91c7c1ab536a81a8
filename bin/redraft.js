#!/usr/bin/env node
// Launcher: runs the compiled CLI (npm install builds it into .build/).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, '.build', 'bin', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write(`redraft: the CLI is not built (${cli} is missing)\n  fix: run \`npm install\` (or \`npm run build\`) in ${root}\n`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(cli).href);
process.exitCode = await main(process.argv);
