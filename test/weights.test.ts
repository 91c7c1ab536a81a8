import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWeights, SafetensorsFile, writeSafetensors } from '../builders/weights/index.js';
import { GOLDEN as GOLDEN_ROOT } from './golden-root.js';
import { loadModelDir } from '../builders/model-dir.js';
import { ModelError } from '../dsl/errors.js';

const GOLDEN = path.join(GOLDEN_ROOT, 'models');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-w-'));

function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function expectModelError(bytes: Uint8Array, pattern: RegExp): void {
  const dir = tmp();
  const f = path.join(dir, 'w.safetensors');
  fs.writeFileSync(f, bytes);
  let err: unknown;
  try {
    SafetensorsFile.open(f).close();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelError);
  expect((err as ModelError).exitCode).toBe(4);
  expect((err as Error).message).toContain(f);
  expect((err as Error).message).toMatch(pattern);
}

describe('safetensors', () => {
  it('reads the golden checkpoints', () => {
    const w = loadWeights(path.join(GOLDEN, 'llama_1_0'));
    const e = w.get('model.embed_tokens.weight', [32, 16]);
    expect(e.dtype).toBe('float32');
    expect(e.data.length).toBe(32 * 16);
    expect(w.names()).toContain('lm_head.weight');
    w.close();
  });
  it('round-trips every dtype through the writer', () => {
    const f = path.join(tmp(), 'rt.safetensors');
    const tensors = [
      { name: 'f32', dtype: 'float32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'f16', dtype: 'float16' as const, shape: [3], data: new Uint16Array([0x3c00, 0x4000, 0xbc00]) },
      { name: 'bf16', dtype: 'bfloat16' as const, shape: [1], data: new Uint16Array([0x3f80]) },
      { name: 'i64', dtype: 'int64' as const, shape: [2], data: new BigInt64Array([2n ** 60n, -3n]) },
      { name: 'i32', dtype: 'int32' as const, shape: [1], data: new Int32Array([-7]) },
      { name: 'i8', dtype: 'int8' as const, shape: [2], data: new Int8Array([-1, 5]) },
      { name: 'b', dtype: 'bool' as const, shape: [3], data: new Uint8Array([1, 0, 1]) },
    ];
    writeSafetensors(f, tensors, { format: 'pt' });
    const w = loadWeights(f);
    for (const t of tensors) {
      const got = w.get(t.name);
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(fs.readdirSync(path.dirname(f))).toEqual(['rt.safetensors']);
  });
  it('names a missing weight and a wrong shape', () => {
    const w = loadWeights(path.join(GOLDEN, 'llama_1_0'));
    expect(() => w.get('model.layers.9.mlp.up_proj.weight')).toThrow(/weight 'model.layers.9.mlp.up_proj.weight' is missing/);
    expect(() => w.get('model.embed_tokens.weight', [32, 8])).toThrow(/has shape \[32, 16\], expected \[32, 8\]/);
  });
  it('rejects truncated and hostile files with the reason', () => {
    expectModelError(new Uint8Array(3), /shorter than the 8-byte header length/);
    expectModelError(rawFile({}, undefined, 1000n), /declares a 1000-byte header/);
    expectModelError(rawFile({}, undefined, 1n << 40n), /above the \d+-byte limit/);
    expectModelError(rawFile('not json'), /not valid JSON/);
    expectModelError(rawFile('[1,2]'), /not a JSON object/);
    expectModelError(rawFile({ a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /unknown dtype "Q7"/);
    expectModelError(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)), /run past the end/);
    expectModelError(rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes but data_offsets span 8/);
    expectModelError(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /overlap/);
    expectModelError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /belong to no tensor/);
    expectModelError(rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /names tensor 'a' twice/);
    expectModelError(rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /"shape" must be an array of non-negative integers/);
  });
  it('finds NaN/Inf weights and fails a strict load', () => {
    const dir = tmp();
    fs.copyFileSync(path.join(GOLDEN, 'llama_1_0', 'config.json'), path.join(dir, 'config.json'));
    const src = loadWeights(path.join(GOLDEN, 'llama_1_0'));
    const tensors = src.names().map((n) => ({ name: n, ...src.get(n), data: (src.get(n).data as Float32Array).slice() }));
    (tensors[0].data as Float32Array)[0] = NaN;
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    const warnings: string[] = [];
    loadModelDir(dir, 'llama', { warn: (m) => warnings.push(m) });
    expect(warnings[0]).toMatch(/hold NaN or Inf/);
    expect(() => loadModelDir(dir, 'llama', { strict: true })).toThrow(ModelError);
  });
  it('loads a sharded checkpoint and names a missing shard', () => {
    const dir = tmp();
    const src = loadWeights(path.join(GOLDEN, 'llama_1_0'));
    const names = src.names();
    const half = Math.ceil(names.length / 2);
    const shard = (f: string, ns: string[]) => writeSafetensors(path.join(dir, f), ns.map((n) => ({ name: n, ...src.get(n) })));
    shard('model-00001-of-00002.safetensors', names.slice(0, half));
    shard('model-00002-of-00002.safetensors', names.slice(half));
    const map = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
    const w = loadWeights(dir);
    expect(w.names()).toEqual(names);
    expect(Array.from(w.get(names[names.length - 1]).data as Float32Array)).toEqual(Array.from(src.get(names[names.length - 1]).data as Float32Array));
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    expect(() => loadWeights(dir)).toThrow(/maps weight '.*' to shard 'model-00002-of-00002\.safetensors', which does not exist/);
  });
  it('validates config.json with the key and the file', () => {
    const dir = tmp();
    const cfg = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'llama_1_0', 'config.json'), 'utf8'));
    fs.copyFileSync(path.join(GOLDEN, 'llama_1_0', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const write = (c: unknown) => fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
    write({ ...cfg, hidden_size: '16' });
    expect(() => loadModelDir(dir, 'llama')).toThrow(/config\.json: "hidden_size" must be a positive integer, got "16"/);
    write({ ...cfg, num_attention_heads: 3 });
    expect(() => loadModelDir(dir, 'llama')).toThrow(/hidden_size 16 is not divisible by num_attention_heads 3/);
    write({ ...cfg, num_key_value_heads: 3 });
    expect(() => loadModelDir(dir, 'llama')).toThrow(/num_key_value_heads 3 does not divide num_attention_heads 4/);
    const { vocab_size: _v, ...noVocab } = cfg;
    write(noVocab);
    expect(() => loadModelDir(dir, 'llama')).toThrow(/missing required field "vocab_size"/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"a": ');
    expect(() => loadModelDir(dir, 'llama')).toThrow(/is not valid JSON/);
  });
});
