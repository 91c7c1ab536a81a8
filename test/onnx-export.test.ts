/** ONNX model files: determinism, external data, symbolic dims, names, int64 read-back, sessions, errors. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { onnxEnv, runGraphOnnx, sessionForGraph } from '../builders/onnx/env.js';
import { EXTERNAL_ALIGN, exportOnnx, FORCE_EXTERNAL_BYTES } from '../builders/onnx/export.js';
import { exportOnnxFiles } from '../builders/onnx/files.js';
import { decodeModel, int64ToBigInt, int64ToNumber, onnx } from '../builders/onnx/proto.js';
import { OnnxSession, runOnnx, toOrtTensor } from '../builders/onnx/run.js';
import { externalDataChunks, writeOnnx } from '../builders/onnx/write.js';
import { writeFilesAtomic } from '../builders/atomic.js';
import { ModelError, UsageError } from '../dsl/errors.js';
import type { Graph } from '../dsl/ir.js';
import { Network } from '../dsl/network.js';
import { agree, expectClose, hostTensor, net1, ORT_OPTS, randn, toNumbers } from './onnx-util.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-onnx-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A small model with weights, symbolic dims, a data-dependent dim and several layer kinds. */
function model(weightElems = 16): Graph {
  const net = new Network('tiny');
  const x = net.input('tokens', 'int32', ['batch', 'seq'], { batch: { min: 1, opt: 2, max: 8 }, seq: { min: 1, opt: 4, max: 16 } });
  const emb = net.constant(Float32Array.from({ length: weightElems * 4 }, (_, i) => Math.sin(i)), 'float32', [weightElems, 4], 'embed.weight');
  const [h] = net.addLayer({ kind: 'gather', inputs: [emb.id, x.id], mode: 'default', axis: 0, nbElementWiseDims: 0, name: 'embedding' });
  const w = net.constant(Float32Array.from({ length: 16 }, (_, i) => i / 16), 'float32', [4, 4], 'proj.weight');
  const wh = net.constant(Uint16Array.from({ length: 4 }, () => 0x3c00), 'float16', [4], 'norm.weight');
  const [y] = net.addLayer({ kind: 'matmul', inputs: [h.id, net.addLayer({ kind: 'shuffle', inputs: [w.id], reshape: [1, 4, 4], zeroIsPlaceholder: false })[0].id], opA: 'none', opB: 'none', name: 'proj' });
  const [hf] = net.addLayer({ kind: 'cast', inputs: [y.id], dtype: 'float16' });
  const [n] = net.addLayer({ kind: 'elementwise', op: 'prod', inputs: [hf.id, net.addLayer({ kind: 'shuffle', inputs: [wh.id], reshape: [1, 1, 4], zeroIsPlaceholder: false })[0].id] });
  const [nz] = net.addLayer({ kind: 'nonzero', inputs: [x.id] });
  net.markOutput(n, 'hidden');
  net.markOutput(nz, 'where');
  return net.toGraph();
}
const tokens = hostTensor('int32', [2, 3], [1, 0, 3, 4, 5, 0]);

describe('determinism', () => {
  it('the same graph exports to identical bytes, also when built twice', () => {
    const a = exportOnnx(model()).model;
    const b = exportOnnx(model()).model;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const g = model();
    expect(Buffer.from(exportOnnx(g).model).equals(Buffer.from(exportOnnx(g).model))).toBe(true);
    expect(Buffer.from(exportOnnx(g, { opset: 18 }).model).equals(Buffer.from(a))).toBe(false);
  });
  it('external data is laid out identically too', () => {
    const a = exportOnnx(model(64), { externalDataThreshold: 0 });
    const b = exportOnnx(model(64), { externalDataThreshold: 0 });
    expect(Buffer.from(a.model).equals(Buffer.from(b.model))).toBe(true);
    expect(Buffer.concat(externalDataChunks(a.externalData!))).toEqual(Buffer.concat(externalDataChunks(b.externalData!)));
  });
});

describe('model contents', () => {
  const g = model();
  const m = decodeModel(exportOnnx(g, { producerVersion: '0.1.0' }).model);
  it('header: opset, IR version (int64 read back as Long), producer, symbol ranges', () => {
    expect(int64ToNumber(m.irVersion)).toBe(8);
    expect(m.opsetImport.map((o) => [o.domain, int64ToNumber(o.version)])).toEqual([['', 17]]);
    expect([m.producerName, m.producerVersion]).toEqual(['redraft', '0.1.0']);
    expect(JSON.parse(m.metadataProps.find((p) => p.key === 'redraft.symbols')!.value)).toEqual(g.symbols);
  });
  it('inputs/outputs keep their names; symbolic dims are dim_param, static dims dim_value, fresh dims unnamed', () => {
    // protobufjs sets a field on the instance only when the bytes hold it.
    const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
    const dims = (v: (typeof m.graph.input)[number]) => v.type.tensorType.shape.dim.map((d) => (has(d, 'dimParam') ? d.dimParam : has(d, 'dimValue') ? int64ToNumber(d.dimValue) : null));
    expect(m.graph.input.map((i) => i.name)).toEqual(['tokens']);
    expect(dims(m.graph.input[0])).toEqual(['batch', 'seq']);
    expect(m.graph.output.map((o) => o.name)).toEqual(['hidden', 'where']);
    expect(dims(m.graph.output[0])).toEqual(['batch', 'seq', 4]);
    expect(dims(m.graph.output[1])).toEqual([2, null]);
    expect(m.graph.output[0].type.tensorType.elemType).toBe(onnx.TensorProto.DataType.FLOAT16);
  });
  it('initializers keep their dtype and names, with raw little-endian data', () => {
    const init = Object.fromEntries(m.graph.initializer.map((t) => [t.name, t]));
    expect(init['embed.weight'].dataType).toBe(onnx.TensorProto.DataType.FLOAT);
    expect(init['embed.weight'].dims.map((d) => int64ToNumber(d))).toEqual([16, 4]);
    expect(new Float32Array(new Uint8Array(init['embed.weight'].rawData).buffer)[1]).toBeCloseTo(Math.sin(1), 6);
    expect(init['norm.weight'].dataType).toBe(10);
    expect(Array.from(new Uint16Array(new Uint8Array(init['norm.weight'].rawData).buffer))).toEqual([0x3c00, 0x3c00, 0x3c00, 0x3c00]);
    const i64 = m.graph.initializer.filter((t) => t.dataType === onnx.TensorProto.DataType.INT64);
    expect(i64.length).toBeGreaterThan(0);
    for (const t of i64) expect(t.rawData.byteLength).toBe(8 * t.dims.reduce((a: number, d) => a * int64ToNumber(d), 1));
  });
  it('node names derive from layer names and are unique', () => {
    const names = m.graph.node.map((n) => n.name);
    expect(names).toContain('embedding');
    expect(names).toContain('proj');
    expect(new Set(names).size).toBe(names.length);
  });
  it('runs in ONNX Runtime and matches the interpreter', async () => {
    await agree(g, { tokens });
  });
  it('bfloat16 weights stay BFLOAT16 (16)', () => {
    const net = new Network('bf');
    const c = net.constant(Uint16Array.of(0x3f80, 0x4000), 'bfloat16', [2], 'w');
    net.markOutput(net.addLayer({ kind: 'cast', inputs: [c.id], dtype: 'float32' })[0], 'y');
    const mm = decodeModel(exportOnnx(net.toGraph()).model);
    expect(mm.graph.initializer[0].dataType).toBe(16);
  });
});

describe('external data', () => {
  it('weights above the threshold go to the side file; ORT loads it from the model path', async () => {
    const g = model(512); // 8 KiB embedding + 64 B projection
    const r = exportOnnx(g, { externalDataThreshold: 1024, externalDataPath: 'tiny.onnx.data' });
    const x = r.externalData!;
    expect(x.fileName).toBe('tiny.onnx.data');
    // Tensors under 1 KiB stay inline even then.
    expect(x.tensors.map((t) => t.name)).toEqual(['embed.weight']);
    for (const t of x.tensors) expect(t.offset % EXTERNAL_ALIGN).toBe(0);
    const m = decodeModel(r.model);
    const emb = m.graph.initializer.find((t) => t.name === 'embed.weight')!;
    expect(emb.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    expect(Object.fromEntries(emb.externalData.map((e) => [e.key, e.value]))).toEqual({ location: 'tiny.onnx.data', offset: '0', length: '8192' });
    expect(m.graph.initializer.find((t) => t.name === 'proj.weight')!.rawData.byteLength).toBe(64);

    const dir = path.join(tmp, 'ext');
    const written = writeOnnx(dir, 'tiny.onnx', r);
    expect(written.map((p) => path.basename(p))).toEqual(['tiny.onnx', 'tiny.onnx.data']);
    expect(fs.readdirSync(dir).sort()).toEqual(['tiny.onnx', 'tiny.onnx.data']); // no temporaries left
    expect(fs.statSync(path.join(dir, 'tiny.onnx.data')).size).toBe(x.byteLength);
    const got = await runOnnx(path.join(dir, 'tiny.onnx'), { tokens }, ORT_OPTS);
    const want = runGraph(g, { tokens });
    expectClose(got.hidden, want.hidden, 'hidden');
    expectClose(got.where, want.where, 'where');
  });
  it('several external tensors are padded to the alignment, views not copies', () => {
    const net = new Network('two');
    const a = new Float32Array(300).fill(1);
    const b = new Float32Array(700).fill(2);
    const ca = net.constant(a, 'float32', [300], 'a');
    const cb = net.constant(b, 'float32', [700], 'b');
    net.markOutput(ca, 'a_out');
    net.markOutput(cb, 'b_out');
    const x = exportOnnx(net.toGraph(), { externalDataThreshold: 0 }).externalData!;
    expect(x.tensors.map((t) => [t.name, t.offset])).toEqual([['a', 0], ['b', 1216]]);
    expect(x.tensors[0].data.buffer).toBe(a.buffer);
    const chunks = externalDataChunks(x);
    expect(chunks.map((c) => c.byteLength)).toEqual([1200, 16, 2800]);
    expect(x.byteLength).toBe(1216 + 2800);
  });
  it('a graph with more than 2 GiB of weights always goes external (protobuf limit)', () => {
    // Zero-filled buffers are allocated lazily: this reserves address space, not memory.
    const big = new Uint8Array(FORCE_EXTERNAL_BYTES);
    const net = new Network('big');
    net.markOutput(net.constant(big, 'int8', [big.length], 'huge'), 'y');
    const r = exportOnnx(net.toGraph(), { externalDataThreshold: Infinity });
    expect(r.externalData?.byteLength).toBe(big.length);
    expect(r.model.byteLength).toBeLessThan(4096);
  });
  it('exportOnnxFiles names the side file after the model and writes atomically', async () => {
    const files = exportOnnxFiles(model(512), 'model.onnx', undefined, { externalDataThreshold: 1024 });
    expect(Object.keys(files)).toEqual(['model.onnx', 'model.onnx.data']);
    const dir = path.join(tmp, 'files');
    writeFilesAtomic(dir, files);
    const m = decodeModel(fs.readFileSync(path.join(dir, 'model.onnx')));
    expect(m.graph.initializer.find((t) => t.name === 'embed.weight')!.externalData.find((e) => e.key === 'location')!.value).toBe('model.onnx.data');
    await runOnnx(path.join(dir, 'model.onnx'), { tokens }, ORT_OPTS);
    expect(Object.keys(exportOnnxFiles(model(), 'm.onnx'))).toEqual(['m.onnx']);
  });
});

describe('int64 read-back (protobufjs Long)', () => {
  it('Long, number, bigint and null normalise exactly', () => {
    const Long = { low: -1, high: -1, unsigned: false, toString: () => '-1' };
    expect(int64ToBigInt(Long)).toBe(-1n);
    expect(int64ToBigInt({ low: 0, high: 1, unsigned: false, toString: () => '' })).toBe(2n ** 32n);
    expect(int64ToBigInt({ low: -1, high: -1, unsigned: true, toString: () => '' })).toBe(2n ** 64n - 1n);
    expect(int64ToBigInt(5)).toBe(5n);
    expect(int64ToBigInt(null)).toBe(0n);
    expect(int64ToNumber({ low: 7, high: 0, unsigned: false, toString: () => '7' })).toBe(7);
    expect(() => int64ToNumber(2n ** 60n)).toThrow(/does not fit/);
  });
  it('decoded int64 fields of a model (dims, attributes) are Long objects that normalise', () => {
    const g = net1('l', [['x', 'float32', [3, 5]]], (net, [x]) => ({ y: net.addLayer({ kind: 'softmax', inputs: [x.id], axis: 1 })[0] }));
    const m = decodeModel(exportOnnx(g).model);
    const axis = m.graph.node[0].attribute.find((a) => a.name === 'axis')!.i;
    expect(typeof axis).toBe('object');
    expect(int64ToNumber(axis)).toBe(1);
    const d = m.graph.input[0].type.tensorType.shape.dim[1].dimValue;
    expect(int64ToBigInt(d)).toBe(5n);
  });
});

describe('output names', () => {
  it('an input passed through, a constant output, one tensor under two names, names equal to layer names', async () => {
    const net = new Network('names');
    const x = net.input('x', 'float32', [2]);
    const [r] = net.addLayer({ kind: 'activation', op: 'relu', inputs: [x.id], name: 'act' });
    net.markOutput(x, 'x');
    net.markOutput(x, 'x_copy');
    net.markOutput(r, 'act');
    net.markOutput(r, 'act_again');
    net.markOutput(net.constant([4, 5], 'int64', [2], 'k'), 'k');
    const g = net.toGraph();
    const got = await agree(g, { x: hostTensor('float32', [2], [-1, 2]) });
    expect(Object.keys(got).sort()).toEqual(['act', 'act_again', 'k', 'x', 'x_copy']);
    expect(toNumbers(got.act_again)).toEqual([0, 2]);
  });
  it('an input and a different output with the same name is a model error', () => {
    const net = new Network('clash');
    const x = net.input('x', 'float32', [2]);
    net.markOutput(net.addLayer({ kind: 'unary', op: 'neg', inputs: [x.id] })[0], 'x');
    expect(() => exportOnnx(net.toGraph())).toThrow(ModelError);
  });
});

describe('options and errors', () => {
  it('opset outside 17..21 and a side-file path with directories are usage errors', () => {
    expect(() => exportOnnx(model(), { opset: 12 })).toThrow(UsageError);
    expect(() => exportOnnx(model(), { externalDataPath: '../x.data' })).toThrow(UsageError);
  });
  it('reports progress once per layer', () => {
    const g = model();
    const seen: number[] = [];
    exportOnnx(g, { onProgress: (d, t) => (expect(t).toBe(g.layers.length), seen.push(d)) });
    expect(seen).toEqual(g.layers.map((_, i) => i + 1));
  });
  it('runOnnx names missing, unknown and mistyped inputs, and refuses bfloat16 tensors with a fix', async () => {
    const bytes = exportOnnx(model()).model;
    await expect(runOnnx(bytes, {}, ORT_OPTS)).rejects.toThrow(/input 'tokens' is missing/);
    await expect(runOnnx(bytes, { tokens, extra: tokens }, ORT_OPTS)).rejects.toThrow(/unknown input 'extra'/);
    await expect(runOnnx(bytes, { tokens: hostTensor('int64', [2, 3], [1, 2, 3, 4, 5, 6]) }, ORT_OPTS)).rejects.toThrow(/dtype int64, the ONNX model expects int32/);
    const bf = net1('bf', [['x', 'bfloat16', [2]]], (net, [x]) => ({ y: net.addLayer({ kind: 'unary', op: 'neg', inputs: [x.id] })[0] }));
    await expect(runOnnx(exportOnnx(bf).model, { x: randn('bfloat16', [2]) }, ORT_OPTS)).rejects.toThrow(/bfloat16Io: 'float32'/);
    await expect(runOnnx(new Uint8Array([1, 2, 3]), {}, ORT_OPTS)).rejects.toThrow(/could not load/);
    expect(() => toOrtTensor(randn('bfloat16', [2]), 'w')).toThrow(/'w' is bfloat16.*\n.*bfloat16Io/);
  });
  it('an OnnxSession runs many times with different symbolic sizes', async () => {
    const g = model();
    const s = await OnnxSession.create(exportOnnx(g).model, ORT_OPTS);
    try {
      expect(s.inputNames).toEqual(['tokens']);
      expect(s.outputNames).toEqual(['hidden', 'where']);
      for (const [b, n] of [[1, 1], [3, 5], [2, 16]]) {
        const t = randn('int32', [b, n], b * n, 2);
        (t.data as Int32Array).forEach((v, i, a) => (a[i] = Math.abs(v) % 16));
        const got = await s.run({ tokens: t }, ['hidden']);
        expect(Object.keys(got)).toEqual(['hidden']);
        expectClose(got.hidden, runGraph(g, { tokens: t }).hidden, `hidden ${b}x${n}`);
      }
    } finally {
      await s.release();
    }
  });
});

describe('opsets', () => {
  it('every supported opset (17..21, IR 8..10) loads and runs in ORT', async () => {
    const g = net1('ops', [['x', 'float32', [2, 3]]], (net, [x]) => {
      const [a] = net.addLayer({ kind: 'activation', op: 'gelu_tanh', inputs: [x.id] });
      const [r] = net.addLayer({ kind: 'reduce', op: 'max', axes: [1], keepDims: false, inputs: [a.id] });
      return { r };
    });
    for (let opset = 17; opset <= 21; opset++) {
      expect(int64ToNumber(decodeModel(exportOnnx(g, { opset }).model).irVersion)).toBe(opset <= 18 ? 8 : opset <= 20 ? 9 : 10);
      await agree(g, { x: randn('float32', [2, 3]) }, {}, { opset });
    }
  });
});

describe('onnxEnv', () => {
  it('sessionForGraph loads weights kept in a side file (written to a temporary directory)', async () => {
    const g = model(512);
    const s = await sessionForGraph(g, ORT_OPTS, { externalDataThreshold: 0 });
    try {
      const got = await runGraphOnnx(s, g, { tokens });
      expectClose(got.hidden, runGraph(g, { tokens }).hidden, 'hidden');
    } finally {
      await s.release();
    }
  });
  it('runs graphs with bfloat16 inputs and outputs (float32 at the boundary), one session per graph', async () => {
    const env = onnxEnv(ORT_OPTS);
    const g = net1('bfenv', [['x', 'bfloat16', [4]]], (net, [x]) => ({ y: net.addLayer({ kind: 'activation', op: 'sigmoid', inputs: [x.id] })[0] }));
    for (const seed of [1, 2]) {
      const x = randn('bfloat16', [4], seed);
      const got = await env.run(g, { x });
      expectClose(got.y, runGraph(g, { x }).y, 'y');
    }
  });
});
