/**
 * Atomic output: everything is written to a temporary name in the target directory and
 * renamed into place, so a failed or interrupted build never leaves a half-written file and
 * never damages an existing good build. Temporaries are removed on SIGINT/SIGTERM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../dsl/errors.js';

const live = new Set<string>();
let hooked = false;

// Temporaries are removed at exit; on SIGINT/SIGTERM the CLI (bin/) calls
// cleanupTemporaries() before it exits with 130/143.
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanupTemporaries);
}

/** Removes every temporary file still registered (signal or exit). */
export function cleanupTemporaries(): void {
  for (const p of live) {
    try {
      fs.rmSync(p, { force: true, recursive: true });
    } catch {
      /* best effort */
    }
  }
  live.clear();
  for (const l of locks.splice(0)) fs.rmSync(l, { force: true });
  for (const d of createdDirs.splice(0).reverse()) {
    try {
      fs.rmdirSync(d); // only succeeds when empty: a successful build keeps its directory
    } catch {
      /* not empty, or gone */
    }
  }
}

/**
 * `mkdir -p` one level at a time. Node's own `{ recursive: true }` spins forever where mkdir
 * answers ENOENT under an existing parent (e.g. below /proc); this fails instead.
 */
export function makeDirs(dir: string): string[] {
  const missing: string[] = [];
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) {
    missing.push(p);
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  missing.reverse();
  for (const d of missing) fs.mkdirSync(d);
  return missing;
}

// Output directories this process created: removed again (when still empty) if it fails.
const createdDirs: string[] = [];

/** Checks that `dir` can be created and written, with a message naming it. */
export function ensureWritableDir(dir: string): void {
  try {
    createdDirs.push(...makeDirs(dir));
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new UsageError(`output directory '${dir}' is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'pass --out with a directory you can write to');
  }
  removeStaleTemporaries(dir);
}

const locks: string[] = [];

/**
 * Takes `dir` for this process: two builds into one --out would otherwise rename their files in
 * turn and could leave a model from one beside the config of the other. A lock whose process is
 * gone (killed outright) is taken over. Released at exit.
 */
export function lockDir(dir: string): void {
  hookSignals();
  const file = path.join(dir, '.redraft.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      locks.push(file);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner))
        throw new UsageError(`another redraft process (pid ${owner}) is writing into '${dir}'`, 'wait for it to finish, or build into another --out');
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new UsageError(`cannot lock '${dir}': another process keeps taking ${file}`, 'build into another --out');
}

/** Checks an output file path before any work: not empty, not a directory, its folder writable. */
export function ensureWritableFile(file: string, flag = '--out'): void {
  if (!file || !path.basename(path.resolve(file)) || file.endsWith(path.sep)) throw new UsageError(`${flag} must name a file, got ${JSON.stringify(file)}`, `pass ${flag} path/to/file`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`${flag} '${file}' is a directory; it must name a file`, `pass ${flag} ${path.join(file, 'model.onnx')}, say`);
  ensureWritableDir(path.dirname(path.resolve(file)));
}

const TEMP_NAME = /^\..+\.tmp-(\d+)-[a-z0-9]{1,8}$/;

/** Temporaries left by a process that was killed outright (SIGKILL, out of memory). */
function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = TEMP_NAME.exec(n);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, n), { force: true, recursive: true });
    } catch {
      /* another process may own it after all */
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Lets pending signals run their handlers. Long synchronous work (an export, an interpreter
 * step) keeps the event loop from seeing SIGINT/SIGTERM; call this between steps and before
 * committing outputs, so an interrupt is honoured instead of lost.
 */
export function yieldToSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A temporary path beside `target`, registered for cleanup. */
export function tempPathFor(target: string): string {
  hookSignals();
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  live.add(tmp);
  return tmp;
}

/** Commits a temporary file to its final name (rename is atomic on one filesystem). */
export function commitTemp(tmp: string, target: string): void {
  fs.renameSync(tmp, target);
  live.delete(tmp);
}

export function discardTemp(tmp: string): void {
  fs.rmSync(tmp, { force: true, recursive: true });
  live.delete(tmp);
}

/** Writes bytes (or chunks) to `target` atomically. */
export function writeFileAtomic(target: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const tmp = tempPathFor(target);
  try {
    if (Array.isArray(data)) {
      const fd = fs.openSync(tmp, 'w');
      try {
        for (const c of data as readonly Uint8Array[]) fs.writeSync(fd, c);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } else fs.writeFileSync(tmp, data as Uint8Array | string);
    commitTemp(tmp, target);
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}

/**
 * Writes several files into `dir` as one unit: all go to temporaries first, then each is
 * renamed; if anything fails before the renames, nothing in `dir` changes.
 */
export function writeFilesAtomic(dir: string, files: Record<string, Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void)>): void {
  ensureWritableDir(dir);
  const staged: [string, string][] = [];
  try {
    for (const [name, data] of Object.entries(files)) {
      const target = path.join(dir, name);
      const tmp = tempPathFor(target);
      staged.push([tmp, target]);
      const fd = fs.openSync(tmp, 'w');
      try {
        if (typeof data === 'function') data(fd);
        else if (typeof data === 'string') fs.writeSync(fd, data);
        else if (Array.isArray(data)) for (const c of data as readonly Uint8Array[]) fs.writeSync(fd, c);
        else fs.writeSync(fd, data as Uint8Array);
      } finally {
        fs.closeSync(fd);
      }
    }
  } catch (e) {
    for (const [tmp] of staged) discardTemp(tmp);
    throw e;
  }
  for (const [tmp, target] of staged) commitTemp(tmp, target);
}
