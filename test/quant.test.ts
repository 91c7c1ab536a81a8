/**
 * Quantize / dequantize: the dtypes (int4 packing, e4m3 bits), the op checks, the interpreter
 * against an independent reference (test/fixtures/quant/reference.json, written by
 * make_reference.py with exhaustive e4m3 search and numpy's half-even round), and property tests
 * of the interpreter against ONNX Runtime's QuantizeLinear / DequantizeLinear (opset 21).
 * QUANT_PROP_RUNS=n runs n cases per property (default 40).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { SafetensorsFile, writeSafetensors } from '../builders/weights/index.js';
import { deserializeGraph, serializeGraph } from '../dsl/serialize.js';
import type { DType } from '../dsl/dtype.js';
import { allocate, dtypeBytes, e4m3ToF32, f32ToE4m3, getInt4, getNumber, setInt4, setNumber } from '../dsl/dtype.js';
import { DslError } from '../dsl/errors.js';
import type { HostTensor } from '../dsl/host.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import type { QuantDType } from '../dsl/ir.js';
import { Network, type Tensor } from '../dsl/network.js';
import { dequantize, quantize } from '../ops/quantize.js';
import { cast as castOf, permute } from '../ops/index.js';

const transposeOf = (t: Tensor) => permute(t, [1, 0]);
import { expectClose, ort } from './onnx-util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REF = JSON.parse(fs.readFileSync(path.join(HERE, 'fixtures/quant/reference.json'), 'utf8')) as {
  inputs: number[]; fp8_codes: number[]; fp8_decode: (number | null)[]; scale: number; int8: number[]; int4: number[]; ties: number[]; ties_int8: number[];
};
const RUNS = Number(process.env.QUANT_PROP_RUNS ?? 40);

function graphOf(name: string, inputs: [string, DType, number[]][], fn: (net: Network, ins: Tensor[]) => Record<string, Tensor>) {
  const net = new Network(name);
  const ins = inputs.map(([n, d, s]) => net.input(n, d, s));
  for (const [k, t] of Object.entries(fn(net, ins))) net.markOutput(t, k);
  return net.toGraph();
}

describe('dtypes', () => {
  it('int4 packs two per byte, the even element in the low nibble', () => {
    const a = allocate('int4', 5);
    expect(a.byteLength).toBe(3);
    expect(dtypeBytes('int4', 5)).toBe(3);
    [-8, 7, -1, 0, 3].forEach((v, i) => setInt4(a as Uint8Array, i, v));
    expect(Array.from(a)).toEqual([0x78, 0x0f, 0x03]);
    expect([0, 1, 2, 3, 4].map((i) => getInt4(a as Uint8Array, i))).toEqual([-8, 7, -1, 0, 3]);
    setNumber('int4', a, 1, -3); // only element 1's nibble changes
    expect(Array.from(a)).toEqual([0xd8, 0x0f, 0x03]);
  });
  it('e4m3 decodes every code as the reference does (NaN at 0x7f / 0xff, ±448 the largest)', () => {
    for (let c = 0; c < 256; c++) {
      const want = REF.fp8_decode[c];
      if (want === null) expect(Number.isNaN(e4m3ToF32(c)), `code ${c}`).toBe(true);
      else expect(e4m3ToF32(c), `code 0x${c.toString(16)}`).toBe(want);
    }
    expect(e4m3ToF32(0x7e)).toBe(448);
    expect(e4m3ToF32(0x01)).toBe(2 ** -9);
  });
  it('e4m3 encodes to the nearest value, ties to even, saturating (hand-computed and reference)', () => {
    const hand: [number, number][] = [[0, 0], [-0, 0x80], [1, 0x38], [1.0625, 0x38], [1.1875, 0x3a], [2 ** -9, 0x01], [2 ** -10, 0x00], [3 * 2 ** -10, 0x02], [240, 0x77], [256, 0x78], [448, 0x7e], [464, 0x7e], [1e9, 0x7e], [-1e9, 0xfe], [Infinity, 0x7e], [NaN, 0x7f]];
    for (const [x, c] of hand) expect(f32ToE4m3(x), `${x}`).toBe(c);
    REF.inputs.forEach((x, i) => expect(f32ToE4m3(x), `${x}`).toBe(REF.fp8_codes[i]));
    // Every finite code round-trips.
    for (let c = 0; c < 256; c++) if ((c & 0x7f) !== 0x7f) expect(f32ToE4m3(e4m3ToF32(c))).toBe(c);
  });
});

describe('safetensors F8_E4M3', () => {
  it('round-trips as float8e4m3 bits and NaN codes count as non-finite', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quant-st-'));
    try {
      const file = path.join(dir, 'w.safetensors');
      writeSafetensors(file, [
        { name: 'ok', dtype: 'float8e4m3', shape: [3], data: Uint8Array.of(0x38, 0x7e, 0xfe) },
        { name: 'nan', dtype: 'float8e4m3', shape: [2], data: Uint8Array.of(0x01, 0xff) },
      ]);
      const f = SafetensorsFile.open(file);
      try {
        expect(f.tensors.get('ok')!.dtype).toBe('float8e4m3');
        expect(Array.from(f.typed('ok') as Uint8Array).map(e4m3ToF32)).toEqual([1, 448, -448]);
        expect(f.nonFinite()).toEqual(['nan']);
      } finally {
        f.close();
      }
      expect(() => writeSafetensors(file, [{ name: 'x', dtype: 'int4', shape: [2], data: new Uint8Array(1) }])).toThrow(/int4, which safetensors has no dtype for/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('interpreter vs the reference', () => {
  const qdq = (dtype: QuantDType) =>
    graphOf(`q_${dtype}`, [['x', 'float32', [REF.inputs.length]]], (net, [x]) => {
      const s = net.constant([REF.scale], 'float32', []);
      const q = quantize(x, s, { dtype });
      return { y: dequantize(q, net.constant([1], 'float32', [])) };
    });
  const x = hostTensor('float32', [REF.inputs.length], REF.inputs);
  it('int8 and int4: round half to even of x / scale, clamped', () => {
    expect(toNumbers(runGraph(qdq('int8'), { x }).y)).toEqual(REF.int8);
    expect(toNumbers(runGraph(qdq('int4'), { x }).y)).toEqual(REF.int4);
    const ties = hostTensor('float32', [REF.ties.length], REF.ties);
    const g = graphOf('ties', [['x', 'float32', [REF.ties.length]]], (net, [t]) => ({ q: quantize(t, net.constant([1], 'float32', []), { dtype: 'int8' }) }));
    expect(toNumbers(runGraph(g, { x: ties }).q)).toEqual(REF.ties_int8);
  });
  it('fp8: the reference codes of x / scale', () => {
    const g = graphOf('fp8', [['x', 'float32', [REF.inputs.length]]], (net, [t]) => ({ q: quantize(t, net.constant([1], 'float32', []), { dtype: 'float8e4m3' }) }));
    expect(Array.from(runGraph(g, { x }).q.data)).toEqual(REF.fp8_codes);
  });
  it('per channel and block-wise pick the right scale', () => {
    // x [2, 4]: per channel along 0 (scales 1, 10); blocks of 2 along 1 (scales [[1, 2], [3, 4]]).
    const xv = hostTensor('float32', [2, 4], [1, 2, 3, 4, 10, 20, 30, 40]);
    const g = graphOf('gran', [['x', 'float32', [2, 4]]], (net, [t]) => ({
      ch: quantize(t, net.constant([1, 10], 'float32', [2]), { dtype: 'int8', axis: 0 }),
      blk: quantize(t, net.constant([1, 2, 3, 4], 'float32', [2, 2]), { dtype: 'int4', axis: 1 }),
    }));
    const r = runGraph(g, { x: xv });
    expect(toNumbers(r.ch)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect(toNumbers(r.blk)).toEqual([1, 2, 2, 2, 3, 7, 7, 7]); // 10/3 → 3, 20/3 → 7, 30/4 → 7 (clamp 7.5 → 8 → 7), 40/4 = 10 → 7
    expect(r.blk.data.byteLength).toBe(4);
  });
  it('dequantize multiplies in float32 and rounds once to the output dtype', () => {
    const q = new Int8Array([127, -128, 3, -7]);
    const g = graphOf('dq', [], (net) => ({ y: dequantize(net.constant(q, 'int8', [4]), net.constant([0.1], 'float16', []), { dtype: 'float16' }) }));
    const y = runGraph(g, {}).y;
    const h = getNumber('float16', hostTensor('float16', [1], [0.1]).data, 0);
    expect(toNumbers(y)).toEqual([127, -128, 3, -7].map((v) => getNumber('float16', hostTensor('float16', [1], [Math.fround(v * h)]).data, 0)));
  });
});

describe('checks', () => {
  const run = (fn: (net: Network) => unknown) => () => {
    const net = new Network('c');
    fn(net);
  };
  const w = (net: Network) => net.input('w', 'float32', [4, 8]);
  it('name the argument and the fix', () => {
    expect(run((n) => quantize(w(n), n.constant([1], 'float32', []), { dtype: 'int16' as never }))).toThrow(/quantize: argument 'dtype' is "int16"; expected int8 \| int4 \| float8e4m3/);
    expect(run((n) => quantize(w(n), n.constant([1, 1, 1, 1], 'float32', [4]), { dtype: 'int8' }))).toThrow(/argument 'axis' is required/);
    expect(run((n) => quantize(w(n), n.constant([1, 1, 1], 'float32', [3]), { dtype: 'int8', axis: 0 }))).toThrow(/argument 'scale' has shape \[3\]; per-channel scales need \[4\]/);
    expect(run((n) => quantize(w(n), n.constant(new Float32Array(12).fill(1), 'float32', [4, 3]), { dtype: 'int4', axis: 1 }))).toThrow(/3 blocks along axis 1, which do not divide/);
    expect(run((n) => quantize(w(n), n.constant(new Float32Array(8).fill(1), 'float32', [4, 2]), { dtype: 'int8', axis: 1 }))).toThrow(/int4 and float8e4m3 only/);
    expect(run((n) => quantize(w(n), n.constant([0], 'float32', []), { dtype: 'int8' }))).toThrow(/argument 'scale' holds 0 at element 0; scales must be finite and > 0/);
    expect(run((n) => quantize(w(n), n.constant([1], 'float16', []), { dtype: 'int8' }))).toThrow(/argument 'scale' has dtype float16; expected float32 or float32/);
    expect(run((n) => dequantize(n.input('q', 'int32', [4]), n.constant([1], 'float32', [])))).toThrow(/dequantize: argument 'q' has dtype int32; expected int8 \| int4 \| float8e4m3/);
    expect(run((n) => dequantize(n.constant(new Int8Array(4), 'int8', [4]), n.constant([1], 'float32', []), { dtype: 'int8' }))).toThrow(/argument 'dtype' is "int8"; expected float32/);
    expect(run((n) => quantize(w(n), n.constant([1], 'float32', []), { dtype: 'int8' }))).not.toThrow();
  });
  it('are DslErrors', () => {
    expect(run((n) => quantize(w(n), n.constant([1, 1, 1, 1], 'float32', [4]), { dtype: 'int8' }))).toThrow(DslError);
  });
});

describe('serialization', () => {
  it('round-trips quantize, dequantize and an int4 constant of odd length', () => {
    const packed = allocate('int4', 7) as Uint8Array;
    [-8, -1, 0, 1, 7, 3, -4].forEach((v, i) => setInt4(packed, i, v));
    const g = graphOf('ser', [['x', 'float16', [7]]], (net, [x]) => {
      const s = net.constant([0.5], 'float16', []);
      return { a: dequantize(quantize(x, s, { dtype: 'float8e4m3' }), s), b: dequantize(net.constant(packed, 'int4', [7]), s) };
    });
    const back = deserializeGraph(serializeGraph(g));
    const x = hostTensor('float16', [7], [1, -2, 3.3, 500, -0.01, 7, 100]);
    const [r1, r2] = [runGraph(g, { x }), runGraph(back, { x })];
    expectClose(r2.a, r1.a, 'a', { atol: 0, rtol: 0 });
    expect(toNumbers(r2.b)).toEqual([-4, -0.5, 0, 0.5, 3.5, 1.5, -2]);
  });
});

// -- interpreter vs ONNX Runtime --

interface QCase {
  dtype: QuantDType;
  xDtype: DType;
  shape: number[];
  gran: 'tensor' | 'channel' | 'block';
  axis: number;
  block: number;
  seed: number;
  big: number;
}

const qcase: fc.Arbitrary<QCase> = fc
  .record({
    dtype: fc.constantFrom<QuantDType>('int8', 'int4', 'float8e4m3'),
    xDtype: fc.constantFrom<DType>('float32', 'float16', 'bfloat16'),
    rows: fc.integer({ min: 1, max: 5 }),
    blocks: fc.integer({ min: 1, max: 3 }),
    block: fc.constantFrom(1, 2, 4),
    gran: fc.constantFrom<'tensor' | 'channel' | 'block'>('tensor', 'channel', 'block'),
    axis: fc.integer({ min: 0, max: 1 }),
    seed: fc.integer({ min: 1, max: 1e6 }),
    big: fc.constantFrom(1, 8, 300),
  })
  .map((r) => {
    const gran = r.dtype === 'int8' && r.gran === 'block' ? 'channel' : r.gran;
    const shape = r.axis === 1 ? [r.rows, r.blocks * r.block] : [r.blocks * r.block, r.rows];
    return { dtype: r.dtype, xDtype: r.xDtype, shape, gran, axis: r.axis, block: r.block, seed: r.seed, big: r.big };
  });

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function caseGraph(c: QCase) {
  const r = rand(c.seed);
  const sShape = c.gran === 'tensor' ? [] : c.gran === 'channel' ? [c.shape[c.axis]] : c.shape.map((d, i) => (i === c.axis ? d / c.block : d));
  const n = sShape.reduce((a, b) => a * b, 1);
  // Scales of both signs' magnitudes; some exact ties (x a half-multiple of the scale) come from the x values below.
  const scales = Array.from({ length: n }, () => [0.25, 0.5, 1, 0.1, 0.037, 3][Math.floor(r() * 6)]);
  const sDtype: DType = r() < 0.5 ? 'float32' : c.xDtype;
  const graph = graphOf('qcase', [['x', c.xDtype, c.shape]], (net, [x]) => {
    const s = net.constant(scales, sDtype, sShape);
    const axis = c.gran === 'tensor' ? undefined : c.axis;
    const q = quantize(x, s, { dtype: c.dtype, axis });
    const outs: Record<string, Tensor> = { y: dequantize(q, s, { axis, dtype: sDtype === 'float32' ? 'float32' : c.xDtype }) };
    if (c.dtype === 'int8') outs.q = q;
    return outs;
  });
  const total = c.shape.reduce((a, b) => a * b, 1);
  const xs = Array.from({ length: total }, () => (r() < 0.3 ? Math.round((r() * 2 - 1) * 40) / 2 : (r() * 2 - 1) * c.big));
  return { graph, inputs: { x: hostTensor(c.xDtype, c.shape, xs) } as Record<string, HostTensor> };
}

describe('interpreter vs ONNX Runtime (QuantizeLinear / DequantizeLinear, opset 21)', () => {
  it('agree exactly on random shapes, granularities, dtypes and scales', async () => {
    await fc.assert(
      fc.asyncProperty(qcase, async (c) => {
        const { graph, inputs } = caseGraph(c);
        if (c.xDtype === 'bfloat16') inputs.x = { dtype: 'float32', shape: inputs.x.shape, data: Float32Array.from(toNumbers(inputs.x)) };
        const g = c.xDtype === 'bfloat16' ? bf16Wrapped(c) : graph;
        const want = runGraph(g, inputs);
        const got = await ort(g, inputs);
        for (const k of Object.keys(want)) expectClose(got[k], want[k], `${JSON.stringify(c)} ${k}`, { atol: 0, rtol: 0 });
      }),
      { numRuns: RUNS },
    );
  }, 120_000);
});

/** bfloat16 inputs cannot cross ORT's JS API: the same case with a float32 input cast to bfloat16 in the graph. */
function bf16Wrapped(c: QCase) {
  const inner = caseGraph(c).graph;
  const r = rand(c.seed);
  void r;
  return graphOf('qcase_bf16', [['x', 'float32', c.shape]], (net, [x]) => {
    const xb = net.addLayer({ kind: 'cast', inputs: [x.id], dtype: 'bfloat16', name: 'cast' })[0];
    // Rebuild the case on the cast input with the same scales (the layers after the input).
    const ids = new Map<number, Tensor>([[inner.inputs[0].id, xb]]);
    for (const l of inner.layers) {
      if (l.kind === 'constant') {
        ids.set(l.outputs[0], net.constant(l.weights.data, l.weights.dtype, l.weights.shape));
        continue;
      }
      const outs = net.addLayer({ ...l, inputs: l.inputs.map((i) => ids.get(i)!.id) } as never);
      l.outputs.forEach((o, k) => ids.set(o, outs[k]));
    }
    const res: Record<string, Tensor> = {};
    for (const o of inner.outputs) {
      const t = ids.get(o.id)!;
      res[o.name] = t.dtype === 'bfloat16' ? net.addLayer({ kind: 'cast', inputs: [t.id], dtype: 'float32', name: 'cast' })[0] : t;
    }
    return res;
  });
}

describe('int4 and fp8 are quantized storage only', () => {
  it('other ops refuse them, naming the argument and pointing to dequantize', () => {
    const net = new Network('s');
    const q = net.constant(new Uint8Array(4), 'int4', [2, 4]);
    const f = net.constant(new Uint8Array(8), 'float8e4m3', [2, 4]);
    expect(() => transposeOf(q)).toThrow(/permute: argument 'input' has dtype int4 \(shape \[2, 4\]\), which only dequantize reads/);
    expect(() => castOf(f, 'float32')).toThrow(/cast: argument 'input' has dtype float8e4m3/);
    expect(() => castOf(net.input('x', 'float32', [4]), 'int4')).toThrow(/cast: argument 'dtype' is int4, a quantized type/);
    expect(() => dequantize(q, net.constant([1], 'float32', []))).not.toThrow();
  });
});

describe('host tensors and constants of int4 / fp8 from numbers', () => {
  it('pack as the dtype does', () => {
    const t = hostTensor('int4', [3], [-8, 7, -1]);
    expect(Array.from(t.data)).toEqual([0x78, 0x0f]);
    expect(toNumbers(t)).toEqual([-8, 7, -1]);
    expect(toNumbers(hostTensor('float8e4m3', [3], [1, 500, -0.3]))).toEqual([1, 448, e4m3ToF32(f32ToE4m3(-0.3))]);
    const net = new Network('c');
    const c = net.constant([-8, 7, -1, 3], 'int4', [4]);
    net.markOutput(dequantize(c, net.constant([0.5], 'float32', [])), 'y');
    expect(toNumbers(runGraph(net.toGraph(), {}).y)).toEqual([-4, 3.5, -0.5, 1.5]);
  });
});
