import { describe, expect, it } from 'vitest';
import { dimAdd, dimDiv, dimMul, dimToString, parseDim, shapeToString, sym } from '../dsl/dim.js';
import { buildNetwork, Network } from '../dsl/network.js';
import { deserializeGraph, serializeGraph } from '../dsl/serialize.js';
import { DslError, ModelError } from '../dsl/errors.js';
import { concat, shape, view, add, gather_nd } from '../ops/index.js';

describe('symbolic dims', () => {
  it('multiplies, divides and adds monomials', () => {
    const b = sym('batch');
    expect(dimToString(dimMul(dimMul(b, 4), sym('seq')))).toBe('4*batch*seq');
    expect(dimToString(dimDiv(dimMul(b, 8), 4)!)).toBe('2*batch');
    expect(dimDiv(dimMul(b, 3), 2)).toBeUndefined();
    expect(dimToString(dimAdd(b, b))).toBe('2*batch');
    expect(dimToString(dimAdd(sym('past'), sym('seq')))).toBe('(past+seq)');
    expect(dimToString(parseDim('2*batch') as never)).toBe('2*batch');
  });
});

describe('shape tensors carry values at build time', () => {
  it('view(x, concat([shape(x, 0), 4, -1])) infers a symbolic shape', () => {
    const net = new Network('t');
    const x = net.input('x', 'float32', ['batch', 8, 'seq']);
    const y = view(x, concat([shape(x, 0), 4, -1]));
    expect(shapeToString(y.shape)).toBe('[batch, 4, 2*seq]');
  });
  it('reports a static element-count mismatch with the user file:line', () => {
    const net = new Network('t');
    const x = net.input('x', 'float32', [2, 3]);
    let err: unknown;
    try {
      view(x, [4, 2]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DslError);
    expect((err as Error).message).toMatch(/^view: argument 'shape'/);
    expect((err as Error).message).toMatch(/test\/dsl\.test\.ts:\d+/);
    expect((err as Error).stack!.split('\n').find((l) => /^\s+at /.test(l))).toMatch(/dsl\.test\.ts/);
  });
  it('gather_nd checks batch dims', () => {
    const net = new Network('t');
    const x = net.input('x', 'float32', [2, 5, 4]);
    const i = net.input('i', 'int64', [3, 2, 1]);
    expect(() => gather_nd(x, i, 1)).toThrow(/gather_nd: batch dim 0: 'input' has 2 but 'indices' has 3/);
  });
});

describe('graph serialization', () => {
  const make = () =>
    buildNetwork('g', (net) => {
      const x = net.input('x', 'float32', ['batch', 4], { batch: { min: 1, opt: 2, max: 8 } });
      const w = net.constant(new Float32Array([1, 2, 3, 4]), 'float32', [1, 4], 'w');
      net.markOutput(view(add(x, w), concat([shape(x, 0), 2, 2])), 'y');
    });
  it('round-trips to an equal graph with identical bytes', () => {
    const a = serializeGraph(make());
    const b = serializeGraph(make());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const g = deserializeGraph(a);
    expect(g.symbols).toEqual({ batch: { min: 1, opt: 2, max: 8 } });
    expect(g.layers.map((l) => l.kind)).toEqual(make().layers.map((l) => l.kind));
    expect(Buffer.from(serializeGraph(g)).equals(Buffer.from(a))).toBe(true);
  });
  it('rejects garbage with a ModelError', () => {
    expect(() => deserializeGraph(new Uint8Array([1, 2, 3, 255, 255]), 'bad.graph')).toThrow(ModelError);
  });
});

import { evalDim } from '../dsl/dim.js';
describe('evalDim', () => {
  it('evaluates monomials and opaque sums/max for concrete symbols', () => {
    const env: Record<string, number> = { batch: 3, past: 5, seq: 2 };
    const look = (n: string) => env[n];
    expect(evalDim(dimMul(sym('batch'), 4), look)).toBe(12);
    expect(evalDim(dimAdd(sym('past'), sym('seq')), look)).toBe(7);
    expect(evalDim(parseDim('2*(past-seq)'), look)).toBe(6);
    expect(evalDim(parseDim('max(past,seq)'), look)).toBe(5);
    expect(evalDim(sym('unknown'), look)).toBeUndefined();
  });
});
