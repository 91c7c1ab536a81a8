/**
 * Errors a user can cause. Each carries an exit code (documented in the README) so the CLI
 * exits in one place, and DSL errors carry the caller's file:line with the library's own
 * frames dropped from the stack.
 */
import * as fs from 'node:fs';
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

/**
 * The package's own root: the nearest folder above this module holding a package.json (the
 * checkout, or node_modules/<name> when installed). Both this path and its real path count, so
 * a symlinked install (`npm link`, `file:` dependencies) is recognised either way.
 */
function packageRoot(): string[] {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) break;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const roots = new Set([dir]);
  try {
    roots.add(fs.realpathSync(dir));
  } catch {
    /* keep the lexical path */
  }
  return [...roots];
}
const LIB_ROOTS = packageRoot();
// Inside the root, these top-level folders are the library (sources, their compiled copies in
// .build, its dependencies); everything else there (test fixtures, models/examples) is a user.
const LIB_TOP = new Set(['dsl', 'ops', 'models', 'builders', 'bin', 'native', '.build', 'node_modules']);
const USER_INSIDE = [['models', 'examples'], ['.build', 'models', 'examples']];

const FRAME_FILE = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):(\d+):(\d+)\)?\s*$/;

function frameLocation(line: string): { file: string; line: string; col: string } | undefined {
  const m = FRAME_FILE.exec(line);
  if (!m) return undefined;
  return { file: m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1], line: m[2], col: m[3] };
}

/** The package's name (package.json), by which another copy of redraft is recognised. */
const LIB_NAME = ((): string => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(LIB_ROOTS[0]!, 'package.json'), 'utf8')) as { name?: string }).name ?? 'redraft-trt';
  } catch {
    return 'redraft-trt';
  }
})();

/** Per folder: the root of the redraft package it lies in (its nearest package.json names redraft), or null. */
const REDRAFT_ROOT = new Map<string, string | null>();
function redraftRootOf(file: string): string | undefined {
  const seen: string[] = [];
  let dir = path.dirname(file);
  let found: string | null = null;
  for (;;) {
    const known = REDRAFT_ROOT.get(dir);
    if (known !== undefined) {
      found = known;
      break;
    }
    seen.push(dir);
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        found = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: unknown }).name === LIB_NAME ? dir : null;
      } catch {
        found = null;
      }
      break;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of seen) REDRAFT_ROOT.set(d, found);
  return found ?? undefined;
}

/** isLibraryFile per file: asked once per frame file (a model's few files, once per layer each). */
const LIB_FILE_CACHE = new Map<string, boolean>();

/**
 * Whether `file` belongs to redraft itself or to a dependency: any file under a node_modules
 * folder (wherever it lies: an npm install hoists commander beside redraft, outside its
 * package folder), and the library folders of any copy of redraft (this one, by path and real
 * path, or another whose package.json names redraft), by position under that copy's root.
 */
export function isLibraryFile(file: string): boolean {
  let lib = LIB_FILE_CACHE.get(file);
  if (lib === undefined) LIB_FILE_CACHE.set(file, (lib = file.split(/[\\/]/).includes('node_modules') || underLibrary(file)));
  return lib;
}

function underLibrary(file: string): boolean {
  const other = redraftRootOf(file);
  for (const root of other && !LIB_ROOTS.includes(other) ? [...LIB_ROOTS, other] : LIB_ROOTS) {
    const rel = path.relative(root, file);
    if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) continue;
    const parts = rel.split(path.sep);
    if (!LIB_TOP.has(parts[0]!)) return false;
    return !USER_INSIDE.some((u) => u.every((seg, i) => parts[i] === seg));
  }
  return false;
}

function isLibraryFrame(line: string): boolean {
  const loc = frameLocation(line);
  if (!loc) return true; // node internals (node:...), native frames, data: URLs
  return isLibraryFile(loc.file);
}

/**
 * The current stack, deep enough to reach past the library's own frames (an op called from a
 * library model function called from the user's model can be a dozen frames down).
 */
export function captureStack(limit = 40): string {
  const prev = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(prev, limit);
  try {
    return new Error().stack ?? '';
  } finally {
    Error.stackTraceLimit = prev;
  }
}

/**
 * How many frames down the first frame outside redraft is (-1: none), from V8's structured
 * call sites: no formatting, no source-map lookups, so it is cheap enough to run for every
 * layer a built-in model creates (where every frame is the library's).
 */
function userFrameDepth(limit = 64): number {
  const prevPrepare = Error.prepareStackTrace;
  const prevLimit = Error.stackTraceLimit;
  let sites: NodeJS.CallSite[] = [];
  try {
    Error.prepareStackTrace = (_e, cs) => cs;
    Error.stackTraceLimit = limit;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder);
    sites = (holder.stack as NodeJS.CallSite[] | undefined) ?? [];
  } finally {
    Error.prepareStackTrace = prevPrepare;
    Error.stackTraceLimit = prevLimit;
  }
  for (let i = 0; i < sites.length; i++) {
    const f = sites[i]!.getFileName();
    if (!f || !(f.startsWith('/') || f.startsWith('file://') || /^[A-Za-z]:\\/.test(f))) continue;
    if (!isLibraryFile(f.startsWith('file://') ? fileURLToPath(f) : f)) return i;
  }
  return -1;
}

/**
 * The first stack frame outside redraft itself, as "file:line:col" (relative to the cwd when
 * inside it), if any: from `stack` when given, else from the current stack (source-mapped
 * positions, so a .ts model's own line).
 */
export function userCallSite(stack?: string): string | undefined {
  if (stack === undefined) {
    const depth = userFrameDepth();
    if (depth < 0) return undefined;
    stack = captureStack(depth + 4);
  }
  for (const line of stack.split('\n').slice(1)) {
    if (!/^\s+at /.test(line) || isLibraryFrame(line)) continue;
    const loc = frameLocation(line)!;
    const rel = path.relative(process.cwd(), loc.file);
    return `${rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : loc.file}:${loc.line}:${loc.col}`;
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
    const site = opts.callSite ?? userCallSite();
    const prev = Error.stackTraceLimit;
    Error.stackTraceLimit = Math.max(prev, 40);
    super(`${op}: ${message}${site ? `\n  at ${site}` : ''}`, { exitCode: ExitCode.badModel, hint: opts.hint });
    Error.stackTraceLimit = prev;
    this.op = op;
    this.callSite = site;
    // Keep only user frames so the first frame shown is the user's own line.
    const lines = (this.stack ?? '').split('\n');
    const head = lines.filter((l) => !/^\s+at /.test(l));
    const userFrames = lines.filter((l) => /^\s+at /.test(l) && !isLibraryFrame(l));
    this.stack = [...head, ...userFrames].join('\n');
  }
}
