/**
 * Property tests: for every IR layer kind, random shapes, dtypes, modes and values give the
 * same outputs in ONNX Runtime as on the reference interpreter (integers and bools exactly,
 * floats within rounding tolerance). ONNX_PROP_RUNS=n runs n cases per kind (default 50);
 * ONNX_PROP_SEED=s replays a seed.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { DType } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import type { ActivationOp, DimsOrTensor, ElementWiseOp, Graph, ReduceOp, SliceMode, UnaryOp } from '../dsl/ir.js';
import { Network, type Tensor } from '../dsl/network.js';
import { agree, hostTensor, type Tol } from './onnx-util.js';

const RUNS = Number(process.env.ONNX_PROP_RUNS ?? 50);
const SEED = process.env.ONNX_PROP_SEED ? Number(process.env.ONNX_PROP_SEED) : undefined;

interface Case {
  graph: Graph;
  inputs: Record<string, HostTensor>;
  tol?: Tol;
  opset?: number;
}

function prop(name: string, arb: fc.Arbitrary<Case>): void {
  it(name, async () => {
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        await agree(c.graph, c.inputs, c.tol, { opset: c.opset });
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, 60_000);
}

const FLOATS: DType[] = ['float32', 'float16', 'bfloat16'];
const INTS: DType[] = ['int32', 'int64', 'int8'];
const ALL: DType[] = [...FLOATS, ...INTS, 'bool'];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

type Num = number | bigint;
/** Values for `dtype`: floats in ±range, integers in ±irange, bools 0/1. */
function valuesArb(dtype: DType, n: number, range = 8, irange = 20): fc.Arbitrary<Num[]> {
  if (dtype === 'bool') return fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n });
  if (dtype === 'int64') return fc.array(fc.bigInt({ min: BigInt(-irange), max: BigInt(irange) }), { minLength: n, maxLength: n });
  if (dtype === 'int32' || dtype === 'int8') return fc.array(fc.integer({ min: -irange, max: irange }), { minLength: n, maxLength: n });
  return fc.array(fc.float({ min: Math.fround(-range), max: Math.fround(range), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });
}
function tensorArb(dtype: DType, shape: number[], range?: number, irange?: number): fc.Arbitrary<HostTensor> {
  return valuesArb(dtype, numel(shape), range, irange).map((v) => hostTensor(dtype, shape, v));
}
const shapeArb = (minRank = 0, maxRank = 3, maxDim = 4, minDim = 1) =>
  fc.integer({ min: minRank, max: maxRank }).chain((r) => fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: r, maxLength: r }));
const permArb = (n: number) => fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n });

/** A network with inputs (name, dtype, shape as declared) and one layer's outputs marked. */
function graph1(inputs: [string, DType, (number | string)[]][], fn: (net: Network, ins: Tensor[]) => Tensor[]): Graph {
  const net = new Network('prop');
  const ins = inputs.map(([n, d, s]) => net.input(n, d, s));
  fn(net, ins).forEach((t, i) => net.markOutput(t, `y${i}`));
  return net.toGraph();
}
/** Declared dims: each static dim may be made symbolic. */
const declArb = (shape: number[]) => fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }).map((sym) => shape.map((d, i) => (sym[i] ? `d${i}` : d)));

describe('ONNX Runtime agrees with the interpreter on random cases', () => {
  prop('constant', fc.tuple(fc.constantFrom(...ALL), shapeArb()).chain(([d, s]) => valuesArb(d, numel(s)).map((v): Case => {
    const net = new Network('c');
    net.markOutput(net.constant(d === 'int64' ? v.map((x) => BigInt(x)) : v.map(Number), d, s), 'y');
    return { graph: net.toGraph(), inputs: {} };
  })));

  prop('shape', fc.tuple(fc.constantFrom(...ALL), shapeArb(0, 4, 4, 0)).chain(([d, s]) => declArb(s).map((decl): Case => ({
    graph: graph1([['x', d, decl]], (net, [x]) => net.addLayer({ kind: 'shape', inputs: [x.id] })),
    inputs: { x: hostTensor(d, s, new Array(numel(s)).fill(0)) },
  }))));

  prop('shuffle', fc.tuple(fc.constantFrom(...ALL), shapeArb(0, 3)).chain(([d, s]) => {
    const total = numel(s);
    // Target dims: a random factorization of the volume, then -1 / 0 placeholders.
    const factorArb = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }).map((fs) => {
      const out: number[] = [];
      let rest = total;
      for (const f of fs) if (rest % f === 0) (out.push(f), (rest /= f));
      out.push(rest);
      return out;
    });
    return fc.record({ first: fc.option(permArb(s.length)), dims: factorArb, neg: fc.nat(), zero: fc.boolean(), dyn: fc.boolean(), secondSeed: fc.nat(), useSecond: fc.boolean(), x: tensorArb(d, s) }).map((c): Case => {
      const first = c.first ?? undefined;
      const permuted = first ? first.map((p) => s[p]) : s;
      const dims = [...c.dims];
      if (dims.length > 0 && c.neg % 2 === 0) dims[c.neg % dims.length] = -1;
      // With zeroIsPlaceholder, a 0 copies the (permuted) input dim at the same index.
      const zip = c.zero && !c.dyn;
      if (zip) dims.forEach((v, i) => { if (i < permuted.length && v === permuted[i] && dims.indexOf(-1) !== i) dims[i] = 0; });
      const second = c.useSecond ? [...dims.keys()].sort((a, b) => ((a * 7 + c.secondSeed) % 5) - ((b * 7 + c.secondSeed) % 5)) : undefined;
      const graph = graph1([['x', d, s], ...(c.dyn ? [['dims', 'int64', [dims.length]] as [string, DType, number[]]] : [])], (net, [x, t]) => {
        const reshape: DimsOrTensor = c.dyn ? { tensor: t.id } : dims;
        return net.addLayer({ kind: 'shuffle', inputs: c.dyn ? [x.id, t.id] : [x.id], first, reshape, second, zeroIsPlaceholder: zip });
      });
      return { graph, inputs: { x: c.x, ...(c.dyn ? { dims: hostTensor('int64', [dims.length], dims) } : {}) } };
    });
  }));

  prop('concatenation', fc.tuple(fc.constantFrom(...ALL), shapeArb(1, 3), fc.integer({ min: 1, max: 3 })).chain(([d, s, n]) =>
    fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n })).chain(([axis, sizes]) => {
      const shapes = sizes.map((k) => s.map((v, i) => (i === axis ? k : v)));
      return fc.tuple(...shapes.map((sh) => tensorArb(d, sh))).map((xs): Case => ({
        graph: graph1(shapes.map((sh, i) => [`x${i}`, d, sh]), (net, ins) => net.addLayer({ kind: 'concatenation', inputs: ins.map((t) => t.id), axis })),
        inputs: Object.fromEntries(xs.map((x, i) => [`x${i}`, x])),
      }));
    })));

  prop('gather (default, element, nd)', fc.tuple(fc.constantFrom(...ALL), shapeArb(1, 3), fc.constantFrom('default', 'element', 'nd'), fc.constantFrom('int32', 'int64')).chain(([d, s, mode, it]) => {
    const idxD = it as DType;
    if (mode === 'default')
      return fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), shapeArb(0, 2)).chain(([axis, is]) =>
        fc.tuple(tensorArb(d, s), fc.array(fc.integer({ min: -s[axis], max: s[axis] - 1 }), { minLength: numel(is), maxLength: numel(is) })).map(([x, iv]): Case => ({
          graph: graph1([['x', d, s], ['i', idxD, is]], (net, [x, i]) => net.addLayer({ kind: 'gather', mode: 'default', axis, nbElementWiseDims: 0, inputs: [x.id, i.id] })),
          inputs: { x, i: hostTensor(idxD, is, iv) },
        })));
    if (mode === 'element')
      return fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: s.length, maxLength: s.length })).chain(([axis, lim]) => {
        const is = s.map((v, i) => (i === axis ? lim[i] : Math.min(v, lim[i])));
        return fc.tuple(tensorArb(d, s), fc.array(fc.integer({ min: -s[axis], max: s[axis] - 1 }), { minLength: numel(is), maxLength: numel(is) })).map(([x, iv]): Case => ({
          graph: graph1([['x', d, s], ['i', idxD, is]], (net, [x, i]) => net.addLayer({ kind: 'gather', mode: 'element', axis, nbElementWiseDims: 0, inputs: [x.id, i.id] })),
          inputs: { x, i: hostTensor(idxD, is, iv) },
        }));
      });
    // nd: b batch dims, k indexed dims, m index tuples per batch.
    return fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.integer({ min: 1, max: 3 })).chain(([b, m]) =>
      fc.integer({ min: 1, max: s.length - b }).chain((k) => {
        const is = [...s.slice(0, b), m, k];
        const n = numel(is);
        const entries = fc.array(fc.nat(), { minLength: n, maxLength: n }).map((r) => r.map((v, j) => { const dim = s[b + (j % k)]; return (v % (2 * dim)) - dim; }));
        return fc.tuple(tensorArb(d, s), entries).map(([x, iv]): Case => ({
          graph: graph1([['x', d, s], ['i', idxD, is]], (net, [x, i]) => net.addLayer({ kind: 'gather', mode: 'nd', axis: 0, nbElementWiseDims: b, inputs: [x.id, i.id] })),
          inputs: { x, i: hostTensor(idxD, is, iv) },
        }));
      }));
  }));

  const sliceArb = fc.tuple(fc.constantFrom(...ALL), shapeArb(1, 3), fc.constantFrom<SliceMode>('strict', 'wrap', 'clamp', 'fill'), fc.constantFrom('static', 'dynamic', 'dynamic-stride')).chain(([d, s, mode, how]) => {
    const axis = (n: number) =>
      mode === 'strict'
        ? fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: -2, max: 2 }), fc.nat()).map(([st, sd, z]) => {
            const max = sd > 0 ? Math.floor((n - 1 - st) / sd) + 1 : sd < 0 ? Math.floor(st / -sd) + 1 : 4;
            return [st, z % (max + 1), sd];
          })
        : fc.tuple(fc.integer({ min: -6, max: 6 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: -3, max: 3 }));
    return fc.tuple(fc.tuple(...s.map(axis)), tensorArb(d, s), fc.integer({ min: -3, max: 3 }), declArb(s), fc.constantFrom('int32', 'int64')).map(([ax, x, fillValue, decl, pd]): Case => {
      const [start, size, stride] = [0, 1, 2].map((j) => ax.map((a) => a[j]));
      const dyn = how !== 'static';
      const p = pd as DType;
      const inputs: [string, DType, (number | string)[]][] = [['x', d, dyn ? decl : s]];
      if (dyn) inputs.push(['start', p, [s.length]], ['size', p, [s.length]]);
      if (how === 'dynamic-stride') inputs.push(['stride', p, [s.length]]);
      const graph = graph1(inputs, (net, [x, st, sz, sd]) => {
        const par = (t: Tensor | undefined, v: number[]): DimsOrTensor => (t ? { tensor: t.id } : v);
        return net.addLayer({
          kind: 'slice', mode, inputs: [x, st, sz, sd].filter((t) => t).map((t) => t!.id),
          start: par(st, start), size: par(sz, size), stride: par(sd, stride), // The interpreter stores a bool fill value unnormalized (-1 → 255); keep bools to 0/1.
          fillValue: mode === 'fill' ? (d === 'bool' ? Math.abs(fillValue) % 2 : fillValue) : undefined,
        });
      });
      const ins: Record<string, HostTensor> = { x };
      if (dyn) Object.assign(ins, { start: hostTensor(p, [s.length], start), size: hostTensor(p, [s.length], size) });
      if (how === 'dynamic-stride') ins.stride = hostTensor(p, [s.length], stride);
      return { graph, inputs: ins };
    });
  });
  prop('slice (every mode; static, run-time start/size, run-time stride)', sliceArb);

  const EW: ElementWiseOp[] = ['sum', 'prod', 'max', 'min', 'sub', 'div', 'pow', 'floor_div', 'and', 'or', 'xor', 'equal', 'greater', 'less'];
  prop('elementwise', fc.tuple(fc.constantFrom(...EW), shapeArb(0, 3)).chain(([op, s]) => {
    const dtypes = ['and', 'or', 'xor'].includes(op) ? ['bool' as DType] : op === 'pow' ? FLOATS : op === 'equal' ? ALL : [...FLOATS, ...INTS];
    return fc.tuple(fc.constantFrom(...dtypes), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length })).chain(([d, ba, bb]) => {
      const sa = s.map((v, i) => (ba[i] ? 1 : v));
      const sb = s.map((v, i) => (bb[i] ? 1 : v));
      const aArb = op === 'pow' ? fc.array(fc.float({ min: Math.fround(0.25), max: 4, noNaN: true }), { minLength: numel(sa), maxLength: numel(sa) }).map((v) => hostTensor(d, sa, v)) : tensorArb(d, sa, 8, d === 'int8' ? 128 : 20);
      const bArb = op === 'pow' ? tensorArb(d, sb, 2) : tensorArb(d, sb, 8, d === 'int8' ? 128 : 20);
      return fc.tuple(aArb, bArb).map(([a, b]): Case => ({
        graph: graph1([['a', d, sa], ['b', d, sb]], (net, [a, b]) => net.addLayer({ kind: 'elementwise', op, inputs: [a.id, b.id] })),
        inputs: { a, b },
        tol: op === 'pow' ? { rtol: 1e-5, atol: 1e-5 } : undefined,
      }));
    });
  }));

  const UN: UnaryOp[] = ['exp', 'log', 'sqrt', 'recip', 'abs', 'neg', 'sin', 'cos', 'floor', 'ceil', 'round', 'not', 'erf', 'sign', 'isnan', 'isinf'];
  prop('unary', fc.tuple(fc.constantFrom(...UN), shapeArb(0, 3)).chain(([op, s]) => {
    const dtypes = op === 'not' ? ['bool' as DType] : ['abs', 'neg', 'sign'].includes(op) ? [...FLOATS, ...INTS] : FLOATS;
    const special = fc.array(fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 0.5, -2.5), { minLength: numel(s), maxLength: numel(s) });
    return fc.tuple(fc.constantFrom(...dtypes), fc.boolean()).chain(([d, sp]) =>
      (sp && FLOATS.includes(d) ? special.map((v) => hostTensor(d, s, v)) : tensorArb(d, s, op === 'exp' ? 10 : 8)).map((x): Case => ({
        graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'unary', op, inputs: [x.id] })),
        inputs: { x },
      })));
  }));

  const ACT: ActivationOp[] = ['relu', 'sigmoid', 'tanh', 'leaky_relu', 'elu', 'softplus', 'clip', 'gelu_erf', 'gelu_tanh'];
  prop('activation (opsets 17 and 20)', fc.tuple(fc.constantFrom(...ACT), fc.constantFrom(...FLOATS), shapeArb(0, 3), fc.float({ min: -2, max: 2, noNaN: true }), fc.float({ min: -2, max: 2, noNaN: true }), fc.constantFrom(17, 20)).chain(([op, d, s, a, b, opset]) =>
    tensorArb(d, s, 12).map((x): Case => {
      const [alpha, beta] = op === 'clip' ? [Math.min(a, b), Math.max(a, b)] : op === 'leaky_relu' || op === 'elu' ? [a, undefined] : [undefined, undefined];
      return {
        graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'activation', op, inputs: [x.id], alpha, beta })),
        inputs: { x },
        tol: { atol: d === 'float32' ? 2e-5 : undefined },
        opset,
      };
    })));

  prop('matmul', fc.tuple(fc.constantFrom('none', 'transpose', 'vector'), fc.constantFrom('none', 'transpose', 'vector'), shapeArb(0, 2), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }), fc.constantFrom<DType>('float32', 'float16', 'bfloat16', 'int32', 'int64')).chain(([opA, opB, batch, [m, k, n], d]) =>
    fc.tuple(fc.array(fc.boolean(), { minLength: batch.length, maxLength: batch.length }), fc.array(fc.boolean(), { minLength: batch.length, maxLength: batch.length })).chain(([ba, bb]) => {
      const bA = batch.map((v, i) => (ba[i] ? 1 : v));
      const bB = batch.map((v, i) => (bb[i] ? 1 : v));
      const sa = opA === 'vector' ? [...bA, k] : opA === 'transpose' ? [...bA, k, m] : [...bA, m, k];
      const sb = opB === 'vector' ? [...bB, k] : opB === 'transpose' ? [...bB, n, k] : [...bB, k, n];
      return fc.tuple(tensorArb(d, sa, 4, 5), tensorArb(d, sb, 4, 5)).map(([a, b]): Case => ({
        graph: graph1([['a', d, sa], ['b', d, sb]], (net, [a, b]) => net.addLayer({ kind: 'matmul', opA: opA as 'none', opB: opB as 'none', inputs: [a.id, b.id] })),
        inputs: { a, b },
        tol: { atol: d === 'float32' ? 1e-4 : d === 'float16' ? 2e-2 : 0.1 },
      }));
    })));

  prop('softmax', fc.tuple(fc.constantFrom(...FLOATS), shapeArb(1, 3)).chain(([d, s]) =>
    fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), tensorArb(d, s, 10)).map(([axis, x]): Case => ({
      graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'softmax', axis, inputs: [x.id] })),
      inputs: { x },
    }))));

  prop('topk (ties resolve to the lower index)', fc.tuple(fc.constantFrom(...FLOATS, ...INTS), shapeArb(1, 3), fc.constantFrom('max', 'min')).chain(([d, s, op]) =>
    fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.nat()).chain(([axis, kk]) => {
      const n = numel(s);
      // Few distinct values, so ties are common.
      const vals = fc.array(fc.constantFrom(-1, 0, 0.5, 2, 3), { minLength: n, maxLength: n });
      return vals.map((v): Case => ({
        graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'topk', op: op as 'max', k: 1 + (kk % s[axis]), axis, inputs: [x.id] })),
        inputs: { x: hostTensor(d, s, INTS.includes(d) ? v.map(Math.floor) : v) },
      }));
    })));

  const RED: ReduceOp[] = ['sum', 'prod', 'max', 'min', 'avg'];
  prop('reduce (opsets 17 and 18)', fc.tuple(fc.constantFrom(...RED), fc.constantFrom(...FLOATS, ...INTS, 'bool'), shapeArb(1, 3, 3), fc.boolean(), fc.constantFrom(17, 18)).filter(([op, d]) => !(d === 'bool' && op === 'avg')).chain(([op, d, s, keepDims, opset]) =>
    fc.tuple(fc.subarray([...s.keys()]), tensorArb(d, s, 2, op === 'prod' ? 2 : 20)).map(([axes, x]): Case => ({
      graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'reduce', op, axes, keepDims, inputs: [x.id] })),
      inputs: { x },
      tol: { atol: 1e-4 },
      opset,
    }))));

  prop('select', fc.tuple(fc.constantFrom(...ALL), shapeArb(0, 3)).chain(([d, s]) => {
    const bshape = fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((b) => s.map((v, i) => (b[i] ? 1 : v)));
    return fc.tuple(bshape, bshape, bshape).chain(([sc, sa, sb]) =>
      fc.tuple(tensorArb('bool', sc), tensorArb(d, sa), tensorArb(d, sb)).map(([c, a, b]): Case => ({
        graph: graph1([['c', 'bool', sc], ['a', d, sa], ['b', d, sb]], (net, [c, a, b]) => net.addLayer({ kind: 'select', inputs: [c.id, a.id, b.id] })),
        inputs: { c, a, b },
      })));
  }));

  prop('fill (static and run-time dims)', fc.tuple(fc.constantFrom(...ALL), shapeArb(1, 2, 6, 0), fc.boolean(), fc.integer({ min: -5, max: 5 }), fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([d, s, dyn, a, b, frac]): Case => {
    const [alpha, beta] = frac ? [a + 0.25, b * 0.5] : [a, b];
    const graph = dyn
      ? graph1([['x', 'float32', s.map((_, i) => `n${i}`)]], (net, [x]) => {
          const sh = net.addLayer({ kind: 'shape', inputs: [x.id] })[0];
          return net.addLayer({ kind: 'fill', inputs: [sh.id], dims: { tensor: sh.id }, dtype: d, alpha, beta });
        })
      : graph1([], (net) => net.addLayer({ kind: 'fill', inputs: [], dims: s, dtype: d, alpha, beta }));
    return { graph, inputs: dyn ? { x: hostTensor('float32', s, new Array(numel(s)).fill(0)) } : {} };
  }));

  prop('cumulative', fc.tuple(fc.constantFrom(...FLOATS, ...INTS), shapeArb(1, 3), fc.boolean(), fc.boolean()).chain(([d, s, exclusive, reverse]) =>
    fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), tensorArb(d, s, 4)).map(([axis, x]): Case => ({
      graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'cumulative', op: 'sum', axis, exclusive, reverse, inputs: [x.id] })),
      inputs: { x },
      tol: { atol: 1e-4 },
    }))));

  prop('cast', fc.tuple(fc.constantFrom(...ALL), fc.constantFrom(...ALL), shapeArb(0, 2)).chain(([from, to, s]) => {
    const n = numel(s);
    // Float → integer outside the target's range (and NaN) is undefined behaviour in C++; keep to int8's range there.
    const intTarget = INTS.includes(to);
    const floats = fc.array(intTarget ? fc.float({ min: -100, max: 100, noNaN: true }) : fc.oneof(fc.float({ min: -60000, max: 60000, noNaN: true }), fc.constantFrom(NaN, Infinity, -0)), { minLength: n, maxLength: n });
    const ints = valuesArb(from, n, 8, to === 'int8' || from === 'int8' ? 127 : 60000);
    const big = fc.array(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), { minLength: n, maxLength: n });
    const vals = FLOATS.includes(from) ? floats : from === 'int64' && (INTS.includes(to) || to === 'bool' || to === 'float32') ? big : ints;
    return (vals as fc.Arbitrary<Num[]>).map((v): Case => ({
      graph: graph1([['x', from, s]], (net, [x]) => net.addLayer({ kind: 'cast', dtype: to, inputs: [x.id] })),
      inputs: { x: hostTensor(from, s, v) },
    }));
  }));

  prop('scatter (element, nd)', fc.tuple(fc.constantFrom(...ALL), shapeArb(1, 3), fc.constantFrom('element', 'nd'), fc.constantFrom<DType>('int32', 'int64'), fc.boolean()).chain(([d, s, mode, it, negate]) => {
    if (mode === 'element')
      return fc.tuple(fc.integer({ min: 0, max: s.length - 1 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: s.length, maxLength: s.length })).chain(([axis, lim]) => {
        const is = s.map((v, i) => Math.min(v, lim[i]));
        // One permutation along the axis for every line: no two updates hit the same element.
        return fc.tuple(permArb(s[axis]), tensorArb(d, s), tensorArb(d, is)).map(([perm, data, upd]): Case => {
          const iv: number[] = [];
          const st = is.map((_, i) => numel(is.slice(i + 1)));
          for (let f = 0; f < numel(is); f++) {
            const j = Math.floor(f / st[axis]) % is[axis];
            iv.push(negate ? perm[j] - s[axis] : perm[j]);
          }
          return {
            graph: graph1([['d', d, s], ['i', it, is], ['u', d, is]], (net, [a, i, u]) => net.addLayer({ kind: 'scatter', mode: 'element', axis, inputs: [a.id, i.id, u.id] })),
            inputs: { d: data, i: hostTensor(it, is, iv), u: upd },
          };
        });
      });
    return fc.integer({ min: 1, max: s.length }).chain((k) => {
      const space = numel(s.slice(0, k));
      return fc.tuple(fc.shuffledSubarray([...Array(space).keys()], { minLength: 1 }), tensorArb(d, s)).chain(([flat, data]) => {
        const us = [flat.length, ...s.slice(k)];
        return tensorArb(d, us).map((upd): Case => {
          const iv = flat.flatMap((f) => s.slice(0, k).map((_, j) => {
            const v = Math.floor(f / numel(s.slice(j + 1, k))) % s[j];
            return negate ? v - s[j] : v;
          }));
          return {
            graph: graph1([['d', d, s], ['i', it, [flat.length, k]], ['u', d, us]], (net, [a, i, u]) => net.addLayer({ kind: 'scatter', mode: 'nd', axis: 0, inputs: [a.id, i.id, u.id] })),
            inputs: { d: data, i: hostTensor(it, [flat.length, k], iv), u: upd },
          };
        });
      });
    });
  }));

  prop('nonzero', fc.tuple(fc.constantFrom(...ALL), shapeArb(0, 3, 4, 0)).chain(([d, s]) =>
    fc.array(fc.constantFrom(0, 0, 1, -2), { minLength: numel(s), maxLength: numel(s) }).map((v): Case => ({
      graph: graph1([['x', d, s]], (net, [x]) => net.addLayer({ kind: 'nonzero', inputs: [x.id] })),
      inputs: { x: hostTensor(d, s, d === 'bool' ? v.map((q) => +(q !== 0)) : v) },
    }))));
});
