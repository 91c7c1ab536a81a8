/**
 * Where the golden cases recorded from the PyTorch reference live: $REDRAFT_GOLDEN, else
 * `shared/golden` beside the checkout (the layout CI uses), else inside it. Missing goldens fail
 * the suites that need them rather than skipping them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const candidates = [process.env.REDRAFT_GOLDEN, path.resolve(ROOT, '../shared/golden'), path.resolve(ROOT, 'shared/golden')].filter((p): p is string => !!p);

export const GOLDEN = candidates.find((p) => fs.existsSync(path.join(p, 'README.md'))) ?? candidates[0]!;
