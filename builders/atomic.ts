/**
 * Atomic output: everything is written to a temporary name in the target directory and
 * renamed into place, so a failed or interrupted build never leaves a half-written file and
 * never damages an existing good build. Temporaries are removed on SIGINT/SIGTERM.
 */
import { createHash } from 'node:crypto';
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

/** What writeFilesAtomic wrote: each file's size and sha256 (config.json records them; `redraft build` checks them). */
export type FileDigests = Record<string, { bytes: number; sha256: string }>;

/** What a file in writeFilesAtomic is: bytes, text, chunks, or a writer given the open fd. */
export type FileData = Uint8Array | string | readonly Uint8Array[] | ((fd: number) => void);

/**
 * Writes several files into `dir` as one unit: all go to temporaries first, then each is
 * renamed; if anything fails before the renames, nothing in `dir` changes. Each file's sha256
 * is computed while it is written (a file written through its fd is read back once). `record`
 * is written last, from the other files' digests (a build's config.json lists them).
 */
export function writeFilesAtomic(dir: string, files: Record<string, FileData>, record?: { name: string; content: (digests: FileDigests) => string }): FileDigests {
  ensureWritableDir(dir);
  const staged: [string, string][] = [];
  const digests: FileDigests = {};
  const write = (name: string, data: FileData) => {
    const target = path.join(dir, name);
    const tmp = tempPathFor(target);
    staged.push([tmp, target]);
    const fd = fs.openSync(tmp, 'w+'); // w+: a file written through its fd is read back to hash it
    const h = createHash('sha256');
    let bytes = 0;
    const put = (b: Uint8Array | string) => {
      const buf = typeof b === 'string' ? Buffer.from(b) : b;
      fs.writeSync(fd, buf);
      h.update(buf);
      bytes += buf.byteLength;
    };
    try {
      if (typeof data === 'function') {
        data(fd);
        // Written by native code: hash what landed in the file.
        const chunk = Buffer.allocUnsafe(1 << 24);
        for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, bytes)) > 0; bytes += n) h.update(chunk.subarray(0, n));
      } else if (typeof data === 'string') put(data);
      else if (Array.isArray(data)) for (const c of data as readonly Uint8Array[]) put(c);
      else put(data as Uint8Array);
    } finally {
      fs.closeSync(fd);
    }
    digests[name] = { bytes, sha256: h.digest('hex') };
  };
  try {
    for (const [name, data] of Object.entries(files)) write(name, data);
    if (record) write(record.name, record.content({ ...digests }));
  } catch (e) {
    for (const [tmp] of staged) discardTemp(tmp);
    throw e;
  }
  for (const [tmp, target] of staged) commitTemp(tmp, target);
  return digests;
}

/**
 * Why the files a build recorded are not intact in `dir` (undefined: they are): a file missing,
 * or its size or sha256 not the recorded one (a truncated or edited output). Files without a
 * recorded digest (an older redraft's build) are checked for existence only.
 */
export function damagedFile(dir: string, files: readonly string[], digests?: Partial<FileDigests>): string | undefined {
  for (const f of files) {
    const p = path.join(dir, f);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return `${f} is missing`;
    }
    const d = digests?.[f];
    if (!d) continue;
    if (st.size !== d.bytes) return `${f} is ${st.size} bytes, the build wrote ${d.bytes}`;
    if (sha256File(p) !== d.sha256) return `${f} is not the file the build wrote (its sha256 differs)`;
  }
  return undefined;
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 24);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) h.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

let committed: string | undefined;

/**
 * Marks a command's outputs as committed (renamed into place): from here on an interrupt cannot
 * leave the earlier outputs intact, so the CLI finishes (exit 0) and says the signal came late.
 */
export function markCommitted(what: string): void {
  committed = what;
}

/** What markCommitted recorded, if the outputs are committed. */
export function committedOutputs(): string | undefined {
  return committed;
}
