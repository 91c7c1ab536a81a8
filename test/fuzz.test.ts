/**
 * Property tests for the parsers that read untrusted files: the safetensors reader and the
 * graph deserializer. Random and mutated inputs must parse or throw ModelError — never
 * anything else, never hang. REDRAFT_FUZZ_RUNS multiplies the case count for longer runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../builders/weights/index.js';
import { ModelError } from '../dsl/errors.js';
import { buildNetwork } from '../dsl/network.js';
import { deserializeGraph, serializeGraph } from '../dsl/serialize.js';
import { add, concat, matmul, shape, softmax, view } from '../ops/index.js';

const RUNS = Math.max(1, Number(process.env.REDRAFT_FUZZ_RUNS ?? 1));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-fuzz-'));

function parsesOrModelError(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof ModelError) return true;
    throw e;
  }
}

const validFile = (() => {
  const f = path.join(dir, 'valid.safetensors');
  writeSafetensors(f, [
    { name: 'a', dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    { name: 'b', dtype: 'int64', shape: [2], data: new BigInt64Array([7n, -8n]) },
    { name: 'c', dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) },
  ]);
  return fs.readFileSync(f);
})();

function openBytes(bytes: Uint8Array): void {
  const f = path.join(dir, 'case.safetensors');
  fs.writeFileSync(f, bytes);
  const st = SafetensorsFile.open(f);
  try {
    for (const name of st.tensors.keys()) st.typed(name);
  } finally {
    st.close();
  }
}

describe('safetensors reader under fuzzing', () => {
  it('valid files with random tensors round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })), { maxLength: 5 }), (specs) => {
        const seen = new Set<string>();
        const tensors = specs.filter(([n]) => !seen.has(n) && seen.add(n) && n !== '__metadata__').map(([name, shape]) => ({ name, dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => i) }));
        const f = path.join(dir, 'rt.safetensors');
        writeSafetensors(f, tensors);
        const st = SafetensorsFile.open(f);
        for (const t of tensors) expect(Array.from(st.typed(t.name) as Float32Array)).toEqual(Array.from(t.data));
        st.close();
      }),
      { numRuns: 200 * RUNS },
    );
  });
  it('byte mutations and truncations parse or throw ModelError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(validFile.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(validFile.length), (muts, cut) => {
        const b = Uint8Array.from(validFile);
        for (const [i, v] of muts) b[i] = v;
        expect(parsesOrModelError(() => openBytes(b))).toBe(true);
        expect(parsesOrModelError(() => openBytes(validFile.subarray(0, cut)))).toBe(true);
      }),
      { numRuns: 500 * RUNS },
    );
  });
  it('random headers parse or throw ModelError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), fc.uint8Array({ maxLength: 64 }), (header, data) => {
        const h = Buffer.from(header);
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(h.length));
        expect(parsesOrModelError(() => openBytes(Buffer.concat([len, h, data])))).toBe(true);
      }),
      { numRuns: 500 * RUNS },
    );
  });
});

describe('graph deserializer under fuzzing', () => {
  const bytes = serializeGraph(
    buildNetwork('g', (net) => {
      const x = net.input('x', 'float32', ['batch', 4]);
      const w = net.constant(new Float32Array(16).fill(0.5), 'float32', [4, 4], 'w');
      net.markOutput(softmax(view(add(matmul(x, w), 1), concat([shape(x, 0), 2, 2])), -1), 'y');
    }),
  );
  it('round-trips', () => {
    expect(Buffer.from(serializeGraph(deserializeGraph(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });
  it('mutated, truncated and random bytes parse or throw ModelError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(bytes.length), fc.uint8Array({ maxLength: 256 }), (muts, cut, random) => {
        const b = Uint8Array.from(bytes);
        for (const [i, v] of muts) b[i] = v;
        expect(parsesOrModelError(() => deserializeGraph(b))).toBe(true);
        expect(parsesOrModelError(() => deserializeGraph(bytes.subarray(0, cut)))).toBe(true);
        expect(parsesOrModelError(() => deserializeGraph(random))).toBe(true);
      }),
      { numRuns: 1000 * RUNS },
    );
  });
});
