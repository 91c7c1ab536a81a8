/**
 * Errors a user can cause. Each carries an exit code (documented in the README) so the CLI
 * exits in one place, and DSL errors carry the caller's file:line with the library's own
 * frames dropped from the stack.
 */
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

/** Exit codes of the CLI, one per kind of failure. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  missingBackend: 3,
  badModel: 4,
  conformance: 5,
  interrupted: 130,
  terminated: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

// A user's .ts model runs through tsx and imports redraft's sources, while the CLI runs the
// compiled copy: two RedraftError classes. Errors carry their class names under a global
// symbol so `instanceof` holds across both copies.
const KINDS = Symbol.for('redraft.error.kinds');

/** Base of every error redraft throws on purpose. `hint` says what to do about it. */
export class RedraftError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(opts.hint ? `${message}\n  fix: ${opts.hint}` : message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? ExitCode.internal;
    this.hint = opts.hint;
    const kinds: string[] = [];
    for (let c: unknown = new.target; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) kinds.push((c as { name: string }).name);
    Object.defineProperty(this, KINDS, { value: kinds });
  }
  static override [Symbol.hasInstance](x: unknown): boolean {
    const kinds = (x as { [KINDS]?: string[] } | null)?.[KINDS];
    return Array.isArray(kinds) ? kinds.includes(this.name) : false;
  }
}

/** Bad command-line usage (unknown flag, out-of-range value). Exit 2. */
export class UsageError extends RedraftError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.usage, hint });
  }
}

/** A backend or dependency is missing (TensorRT, the native addon). Exit 3. */
export class MissingBackendError extends RedraftError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.missingBackend, hint });
  }
}

/** Bad model, config or weights file (names the file / tensor / JSON path). Exit 4. */
export class ModelError extends RedraftError {
  constructor(message: string, hint?: string, cause?: unknown) {
    super(message, { exitCode: ExitCode.badModel, hint, cause });
  }
}

// Folders whose frames are the library's own; user frames are everything else.
const LIB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIB_DIRS = ['dsl', 'ops', 'builders', 'bin'].map((d) => path.join(LIB_ROOT, d) + path.sep);
// Compiled copies live under .build/<dir>; treat those as library frames too.
const LIB_BUILD_DIRS = ['dsl', 'ops', 'builders', 'bin'].map((d) => path.join(LIB_ROOT, '.build', d) + path.sep);

function frameFile(line: string): string | undefined {
  const m = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/.exec(line);
  if (!m) return undefined;
  return m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
}

function isLibraryFrame(line: string): boolean {
  const f = frameFile(line);
  if (!f) return true; // node internals, native frames
  if (f.includes(`${path.sep}node_modules${path.sep}`)) return true;
  return LIB_DIRS.some((d) => f.startsWith(d)) || LIB_BUILD_DIRS.some((d) => f.startsWith(d));
}

/** The first stack frame outside redraft's library folders, as "file:line:col", if any. */
export function userCallSite(stack = new Error().stack ?? ''): string | undefined {
  for (const line of stack.split('\n').slice(1)) {
    if (isLibraryFrame(line)) continue;
    const m = /((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (m) {
      const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
      return `${path.relative(process.cwd(), file) || file}:${m[2]}:${m[3]}`;
    }
  }
  return undefined;
}

/**
 * A shape or dtype error in a model definition. The message names the op, the argument,
 * expected vs actual, and the user's file:line; library frames are removed from the stack.
 */
export class DslError extends RedraftError {
  readonly op: string;
  readonly callSite?: string;
  constructor(op: string, message: string, opts: { hint?: string; callSite?: string } = {}) {
    const stack = new Error().stack ?? '';
    const site = opts.callSite ?? userCallSite(stack);
    super(`${op}: ${message}${site ? `\n  at ${site}` : ''}`, { exitCode: ExitCode.badModel, hint: opts.hint });
    this.op = op;
    this.callSite = site;
    // Keep only user frames so the first frame shown is the user's own line.
    const lines = (this.stack ?? '').split('\n');
    const head = lines.filter((l) => !/^\s+at /.test(l));
    const userFrames = lines.filter((l) => /^\s+at /.test(l) && !isLibraryFrame(l));
    this.stack = [...head, ...userFrames].join('\n');
  }
}
