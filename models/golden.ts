/**
 * The golden-case programs by `fn` name (see ../shared/golden/README.md): each builds its
 * graph with the ops and runs it on the caller's backend.
 */
import { acceptPrograms } from './golden/accept.js';
import { treeAttentionPrograms } from './golden/tree_attention.js';
import { llamaPrograms } from './golden/llama.js';
import { drafterPrograms } from './golden/drafter.js';
import { generatePrograms } from './golden/generate.js';
import type { GoldenProgram } from './golden/types.js';

export type { GoldenProgram, GoldenEnv, GoldenCaseLike } from './golden/types.js';

export const goldenFns: Record<string, GoldenProgram> = {
  ...treeAttentionPrograms,
  ...acceptPrograms,
  ...llamaPrograms,
  ...drafterPrograms,
  ...generatePrograms,
};
