#!/usr/bin/env node
// Launcher: runs the compiled CLI (npm install builds it into .build/).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

// A signal that arrives while the CLI is still loading ends it with the same exit codes as
// later (130/143; nothing has been written yet). main() installs its own handlers first thing.
const early = (sig) => () => process.exit(sig === 'SIGINT' ? 130 : 143);
const onInt = early('SIGINT');
const onTerm = early('SIGTERM');
process.once('SIGINT', onInt);
process.once('SIGTERM', onTerm);

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, '.build', 'bin', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write(`redraft: the CLI is not built (${cli} is missing)\n  fix: run \`npm install\` (or \`npm run build\`) in ${root}\n`);
  process.exit(1);
}
const { main } = await import(pathToFileURL(cli).href);
process.removeListener('SIGINT', onInt);
process.removeListener('SIGTERM', onTerm);
process.exitCode = await main(process.argv);
