/**
 * safetensors reader and writer. The reader opens the file, validates the header, and reads
 * each tensor's bytes only when asked (never the whole file at once). Every defect a hostile
 * or truncated file can have is a ModelError naming the file, the tensor and the fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from '../../dsl/errors.js';
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { tempPathFor, commitTemp, discardTemp } from '../atomic.js';

/** safetensors dtype names → element size and the DSL dtype they load as (if any). */
export const ST_DTYPES: Record<string, { size: number; dtype?: DType }> = {
  F64: { size: 8 },
  F32: { size: 4, dtype: 'float32' },
  F16: { size: 2, dtype: 'float16' },
  BF16: { size: 2, dtype: 'bfloat16' },
  I64: { size: 8, dtype: 'int64' },
  I32: { size: 4, dtype: 'int32' },
  I16: { size: 2 },
  I8: { size: 1, dtype: 'int8' },
  U8: { size: 1 },
  BOOL: { size: 1, dtype: 'bool' },
  F8_E4M3: { size: 1, dtype: 'float8e4m3' },
};
// safetensors has no int4: packed int4 checkpoints store int32 words (AWQ, GPTQ), read as I32.
const TO_ST: Record<Exclude<DType, 'int4'>, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int8: 'I8', bool: 'BOOL', float8e4m3: 'F8_E4M3' };

/** Headers above this are refused before anything is allocated. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  name: string;
  /** safetensors dtype name (F32, BF16, ...). */
  stDtype: string;
  dtype?: DType;
  shape: number[];
  /** Absolute offset of the first byte in the file. */
  byteOffset: number;
  byteLength: number;
}

const HINT = 'the file is damaged or not a safetensors file: re-download or re-export it';

function fail(file: string, msg: string, hint = HINT): never {
  throw new ModelError(`${file}: ${msg}`, hint);
}

/** Top-level keys of a JSON object in source order, to catch duplicates JSON.parse would hide. */
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < json.length) {
    const ch = json[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(json.slice(i, j + 1)) as string);
      expectKey = false;
      i = j + 1;
      continue;
    }
    if (ch === '{' || ch === '[') {
      depth++;
      expectKey = ch === '{' && depth === 1;
    } else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) expectKey = true;
    i++;
  }
  return keys;
}

export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: Map<string, TensorEntry>;
  private fd: number | undefined;

  private constructor(file: string, fd: number, metadata: Record<string, string>, tensors: Map<string, TensorEntry>) {
    this.path = file;
    this.fd = fd;
    this.metadata = metadata;
    this.tensors = tensors;
  }

  static open(file: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new ModelError(`cannot open weights file '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'check the path and permissions');
    }
    try {
      return SafetensorsFile.parse(file, fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private static parse(file: string, fd: number): SafetensorsFile {
    const size = fs.fstatSync(fd).size;
    if (size < 8) fail(file, `is ${size} bytes long, shorter than the 8-byte header length (truncated)`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(file, `declares a ${headerLen}-byte header, above the ${MAX_HEADER_BYTES}-byte limit`);
    const n = Number(headerLen);
    if (8 + n > size) fail(file, `declares a ${n}-byte header but the file has only ${size - 8} bytes after the length (truncated)`);
    const hbuf = Buffer.alloc(n);
    fs.readSync(fd, hbuf, 0, n, 8);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(hbuf);
    } catch {
      fail(file, 'header is not valid UTF-8');
    }
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      fail(file, `header is not valid JSON (${(e as Error).message})`);
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) fail(file, 'header is not a JSON object');
    const keys = topLevelKeys(text.trim());
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) fail(file, `header names tensor '${k}' twice`);
      seen.add(k);
    }
    const dataStart = 8 + n;
    const dataLen = size - dataStart;
    let metadata: Record<string, string> = {};
    const tensors = new Map<string, TensorEntry>();
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(file, '__metadata__ is not an object of strings');
        metadata = raw as Record<string, string>;
        continue;
      }
      const where = `tensor '${name}'`;
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(file, `${where}: entry is not an object`);
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e.dtype !== 'string') fail(file, `${where}: missing or non-string "dtype"`);
      const info = ST_DTYPES[e.dtype];
      if (!info) fail(file, `${where}: unknown dtype "${e.dtype}" (known: ${Object.keys(ST_DTYPES).join(', ')})`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
        fail(file, `${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(e.shape)}`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0) || (off[0] as number) > (off[1] as number))
        fail(file, `${where}: "data_offsets" must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(off)}`);
      const [begin, end] = off as [number, number];
      if (end > dataLen) fail(file, `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes; truncated file?)`);
      const shape = e.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      if (count * info.size !== end - begin)
        fail(file, `${where}: ${e.dtype}[${shape.join(', ')}] needs ${count * info.size} bytes but data_offsets span ${end - begin}`);
      tensors.set(name, { name, stDtype: e.dtype, dtype: info.dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin });
    }
    // The data buffer must be covered in order, without overlaps or holes.
    const sorted = [...tensors.values()].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
    let pos = dataStart;
    let prev: TensorEntry | undefined;
    for (const t of sorted) {
      if (t.byteOffset < pos) fail(file, `tensors '${prev!.name}' and '${t.name}' overlap in the data buffer`);
      if (t.byteOffset > pos) fail(file, `${t.byteOffset - pos} bytes before tensor '${t.name}' belong to no tensor (offsets out of order or a hole)`);
      pos = t.byteOffset + t.byteLength;
      prev = t;
    }
    if (pos !== size) fail(file, `${size - pos} bytes after the last tensor belong to no tensor`);
    return new SafetensorsFile(file, fd, metadata, tensors);
  }

  entry(name: string): TensorEntry {
    const e = this.tensors.get(name);
    if (!e) throw new ModelError(`weight '${name}' is missing from ${this.path}`, 'check that the checkpoint matches the model config');
    return e;
  }

  /** The raw bytes of one tensor (a fresh, aligned buffer). */
  read(name: string): Uint8Array {
    const e = this.entry(name);
    if (this.fd === undefined) throw new Error(`internal: ${this.path} is closed`);
    const buf = new Uint8Array(e.byteLength);
    let done = 0;
    while (done < e.byteLength) {
      const n = fs.readSync(this.fd, buf, done, e.byteLength - done, e.byteOffset + done);
      if (n === 0) fail(this.path, `tensor '${name}': the file ended while reading (truncated)`);
      done += n;
    }
    return buf;
  }

  /**
   * The raw bytes of `size` entries of dim `axis` starting at `start` (a tensor-parallel shard):
   * one read per run of contiguous bytes, so a rank reads its slice and nothing else.
   */
  readSlice(name: string, axis: number, start: number, size: number): Uint8Array {
    const e = this.entry(name);
    if (this.fd === undefined) throw new Error(`internal: ${this.path} is closed`);
    const el = ST_DTYPES[e.stDtype]!.size;
    const outer = e.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = e.shape.slice(axis + 1).reduce((a, b) => a * b, 1) * el;
    if (!(axis >= 0 && axis < e.shape.length && start >= 0 && size >= 0 && start + size <= e.shape[axis]))
      throw new Error(`internal: slice [${start}, ${start + size}) of dim ${axis} is outside '${name}' [${e.shape.join(', ')}]`);
    const run = size * inner;
    const buf = new Uint8Array(outer * run);
    for (let o = 0; o < outer; o++) {
      const from = e.byteOffset + (o * e.shape[axis] + start) * inner;
      for (let done = 0; done < run; ) {
        const n = fs.readSync(this.fd, buf, o * run + done, run - done, from + done);
        if (n === 0) fail(this.path, `tensor '${name}': the file ended while reading (truncated)`);
        done += n;
      }
    }
    return buf;
  }

  /** One tensor as a typed array of its dtype (half types as raw Uint16 bits). */
  typed(name: string): TypedArray | Float64Array | Int16Array {
    const e = this.entry(name);
    const b = this.read(name);
    switch (e.stDtype) {
      case 'F64': return new Float64Array(b.buffer, 0, b.byteLength / 8);
      case 'F32': return new Float32Array(b.buffer, 0, b.byteLength / 4);
      case 'F16':
      case 'BF16': return new Uint16Array(b.buffer, 0, b.byteLength / 2);
      case 'I64': return new BigInt64Array(b.buffer, 0, b.byteLength / 8);
      case 'I32': return new Int32Array(b.buffer, 0, b.byteLength / 4);
      case 'I16': return new Int16Array(b.buffer, 0, b.byteLength / 2);
      case 'I8': return new Int8Array(b.buffer, 0, b.byteLength);
      default: return b;
    }
  }

  /** Names of float tensors holding NaN or ±Inf (scanned one tensor at a time). */
  nonFinite(onTensor?: () => void): string[] {
    const bad: string[] = [];
    for (const e of this.tensors.values()) {
      onTensor?.();
      if (!['F32', 'F16', 'BF16', 'F64', 'F8_E4M3'].includes(e.stDtype)) continue;
      const a = this.typed(e.name);
      if (e.stDtype === 'F8_E4M3') {
        for (const v of a as Uint8Array) if ((v & 0x7f) === 0x7f) { bad.push(e.name); break; } // E4M3FN's only non-finite codes: NaN
      } else if (e.stDtype === 'F32' || e.stDtype === 'F64') {
        for (const v of a as Float32Array) if (!Number.isFinite(v)) { bad.push(e.name); break; }
      } else {
        const mask = e.stDtype === 'F16' ? 0x7c00 : 0x7f80;
        for (const v of a as Uint16Array) if ((v & mask) === mask) { bad.push(e.name); break; }
      }
    }
    return bad;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

/** Writes a safetensors file deterministically (sorted names), via a temp file and rename. */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Entries are built as JSON text so names like '__proto__' or 'toString' stay plain keys.
  const entries: string[] = [];
  if (metadata) entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  const names = new Set<string>();
  let off = 0;
  for (const t of sorted) {
    if (names.has(t.name) || t.name === '__metadata__') throw new ModelError(`cannot write ${file}: tensor '${t.name}' is given twice or uses a reserved name`);
    names.add(t.name);
    if (t.dtype === 'int4') throw new ModelError(`cannot write ${file}: tensor '${t.name}' is int4, which safetensors has no dtype for`, 'store packed int4 as int32 words (as AutoAWQ and GPTQ do)');
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [off, off + t.data.byteLength] })}`);
    off += t.data.byteLength;
  }
  let json = `{${entries.join(',')}}`;
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = tempPathFor(path.resolve(file));
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, len);
      fs.writeSync(fd, json);
      for (const t of sorted) fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    } finally {
      fs.closeSync(fd);
    }
    commitTemp(tmp, path.resolve(file));
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}
