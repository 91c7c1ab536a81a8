/**
 * Broken checkpoints as `redraft build` meets them: one row per way a downloaded model can be
 * wrong. Each must exit 4 with a message that names the file or tensor and the fix, write nothing
 * into --out, and leave an earlier good build there untouched.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN } from './golden-root.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const LLM = path.join(GOLDEN, 'models/llama_1_0');
const DRAFTER = path.join(GOLDEN, 'models/llama_drafter_1_0');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-hostile-'));

function redraft(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The golden llama checkpoint, parsed into header + data so rows can corrupt it. */
function readCheckpoint() {
  const buf = fs.readFileSync(path.join(LLM, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  delete header.__metadata__;
  return { header, data: buf.subarray(8 + n) };
}
/** The checkpoint without one tensor, its bytes dropped and the rest laid out again. */
function without(name: string): Buffer {
  const { header, data } = readCheckpoint();
  const out: typeof header = {};
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [k, e] of Object.entries(header).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])) {
    if (k === name) continue;
    const bytes = data.subarray(e.data_offsets[0], e.data_offsets[1]);
    out[k] = { ...e, data_offsets: [at, at + bytes.length] };
    parts.push(bytes);
    at += bytes.length;
  }
  return pack(out, Buffer.concat(parts));
}
function pack(header: unknown, data: Uint8Array, lenOverride?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

type Row = { name: string; files: () => Record<string, Buffer | string>; message: RegExp; flags?: string[] };
const config = () => fs.readFileSync(path.join(LLM, 'config.json'), 'utf8');
const EMBED = 'model.embed_tokens.weight';

const rows: Row[] = [
  { name: 'header length past the end', files: () => ({ 'model.safetensors': pack({}, new Uint8Array(0), 10_000n) }), message: /model\.safetensors.*declares a 10000-byte header/ },
  { name: 'a huge header is refused before allocating', files: () => ({ 'model.safetensors': pack({}, new Uint8Array(0), 1n << 45n) }), message: /above the \d+-byte limit/ },
  { name: 'header that is not JSON', files: () => ({ 'model.safetensors': pack('{"oops', new Uint8Array(0)) }), message: /model\.safetensors.*not valid JSON/ },
  { name: 'header that is not an object', files: () => ({ 'model.safetensors': pack('[1]', new Uint8Array(0)) }), message: /not a JSON object/ },
  {
    name: 'unknown dtype',
    files: () => {
      const { header, data } = readCheckpoint();
      header[EMBED]!.dtype = 'F7';
      return { 'model.safetensors': pack(header, data) };
    },
    message: /tensor 'model\.embed_tokens\.weight'.*unknown dtype "F7"/,
  },
  {
    name: 'offsets out of range',
    files: () => {
      const { header, data } = readCheckpoint();
      header[EMBED]!.data_offsets = [data.length - 4, data.length + 2044];
      return { 'model.safetensors': pack(header, data) };
    },
    message: /model\.embed_tokens\.weight.*run past the end/,
  },
  {
    name: 'overlapping ranges',
    files: () => {
      const { header, data } = readCheckpoint();
      const names = Object.keys(header).sort((a, b) => header[a]!.data_offsets[0] - header[b]!.data_offsets[0]);
      const [a, b] = [header[names[0]!]!, header[names[1]!]!];
      b.data_offsets = [a.data_offsets[0], a.data_offsets[0] + (b.data_offsets[1] - b.data_offsets[0])];
      return { 'model.safetensors': pack(header, data) };
    },
    message: /overlap/,
  },
  {
    name: 'byte size that is not shape × dtype size',
    files: () => {
      const { header, data } = readCheckpoint();
      header[EMBED]!.shape = [32, 15];
      return { 'model.safetensors': pack(header, data) };
    },
    message: /model\.embed_tokens\.weight.*needs 1920 bytes but data_offsets span 2048/,
  },
  {
    name: 'duplicate names',
    files: () => {
      const { header, data } = readCheckpoint();
      const json = JSON.stringify(header);
      const first = json.indexOf(`"${EMBED}"`);
      const end = json.indexOf('}', first) + 1;
      return { 'model.safetensors': pack(json.slice(0, end) + ',' + json.slice(1), data) };
    },
    message: /model\.safetensors: header names tensor '[\w.]+' twice/,
  },
  {
    name: 'a weight missing for the model',
    files: () => ({ 'model.safetensors': without('model.norm.weight') }),
    message: /weight 'model\.norm\.weight' is missing/,
  },
  {
    name: 'a weight of the wrong shape names both shapes',
    files: () => {
      const { header, data } = readCheckpoint();
      header[EMBED]!.shape = [64, 8];
      return { 'model.safetensors': pack(header, data) };
    },
    message: /'model\.embed_tokens\.weight'.*has shape \[64, 8\], expected \[32, 16\]/,
  },
  {
    name: 'a weight of the wrong dtype',
    files: () => {
      const { header, data } = readCheckpoint();
      header[EMBED]!.dtype = 'I32';
      return { 'model.safetensors': pack(header, data) };
    },
    message: /weight 'model\.embed_tokens\.weight' in \S+ has dtype int32; the model needs a float weight/,
  },
  {
    name: 'NaN in weights with --strict',
    files: () => {
      const { header, data } = readCheckpoint();
      const copy = Buffer.from(data);
      copy.writeFloatLE(NaN, header[EMBED]!.data_offsets[0]);
      return { 'model.safetensors': pack(header, copy) };
    },
    flags: ['--strict'],
    message: /NaN or Inf.*model\.embed_tokens\.weight/,
  },
  {
    name: 'a sharded index naming a missing shard',
    files: () => {
      const { header } = readCheckpoint();
      const map = Object.fromEntries(Object.keys(header).map((n) => [n, 'model-00001-of-00001.safetensors']));
      return { 'model.safetensors.index.json': JSON.stringify({ weight_map: map }) };
    },
    message: /model\.safetensors\.index\.json.*shard 'model-00001-of-00001\.safetensors', which does not exist/,
  },
  {
    name: 'config.json with kv heads that do not divide heads',
    files: () => ({ 'config.json': JSON.stringify({ ...JSON.parse(config()), num_key_value_heads: 3 }) }),
    message: /config\.json.*num_key_value_heads 3 does not divide num_attention_heads 4/,
  },
  {
    name: 'config.json with a field of the wrong type',
    files: () => ({ 'config.json': JSON.stringify({ ...JSON.parse(config()), rope_theta: 'big' }) }),
    message: /config\.json.*"rope_theta"/,
  },
];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('hostile checkpoints through redraft build (exit 4, nothing written)', () => {
  // One good build that every failing row must leave exactly as it was.
  const out = tmp();
  let before: Record<string, string> = {};
  beforeAll(() => {
    const r = redraft(['build', '--model', LLM, '--drafter', DRAFTER, '--target', 'plan', '--out', out, '-q']);
    expect(r.code, r.stderr).toBe(0);
    before = Object.fromEntries(fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f), 'utf8')]));
  });

  for (const row of rows)
    it(row.name, () => {
      const dir = tmp();
      fs.writeFileSync(path.join(dir, 'config.json'), config());
      for (const [f, data] of Object.entries(row.files())) fs.writeFileSync(path.join(dir, f), data);
      const r = redraft(['build', '--model', dir, '--drafter', DRAFTER, '--target', 'plan', '--out', out, '--force', ...(row.flags ?? [])]);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(row.message);
      expect(r.stderr).toMatch(/fix: /);
      expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
      const after = Object.fromEntries(fs.readdirSync(out).map((f) => [f, fs.readFileSync(path.join(out, f), 'utf8')]));
      expect(after).toEqual(before);
    });
});
