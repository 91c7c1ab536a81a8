/**
 * Every IR layer kind (and mode) exported to ONNX and run in ONNX Runtime, against the
 * reference interpreter and, where ONNX and TensorRT differ, against hand-worked values.
 */
import { describe, expect, it } from 'vitest';
import type { DType } from '../dsl/dtype.js';
import { f32ToBf16, f32ToF16 } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import type { ActivationOp, ElementWiseOp, ReduceOp, UnaryOp } from '../dsl/ir.js';
import { LAYER_KINDS } from '../dsl/ir.js';
import { Network, type Tensor } from '../dsl/network.js';
import { agree, hostTensor, net1, ort, randn, toNumbers } from './onnx-util.js';
import { exportOnnx } from '../builders/onnx/export.js';
import { sessionForGraph } from '../builders/onnx/env.js';
import { onnx } from '../builders/onnx/proto.js';
import { runRanks } from '../builders/tp/sim.js';

const covered = new Set<string>();
const t = (d: DType, shape: number[], v: (number | bigint | boolean)[]) => hostTensor(d, shape, v);
const one = (net: Network, spec: Parameters<Network['addLayer']>[0]): Tensor => {
  covered.add(spec.kind);
  return net.addLayer(spec)[0];
};

describe('constant', () => {
  it('every dtype round-trips through an initializer (raw little-endian bytes)', async () => {
    const net = new Network('constants');
    const vals: [DType, (number | bigint)[]][] = [
      ['float32', [1.5, -2, 3e-8]],
      ['float16', [1.5, -2, 65504]],
      ['bfloat16', [1.5, -2, 3e38]],
      ['int32', [1, -2, 2147483647]],
      ['int64', [1n, -(2n ** 62n), 2n ** 60n + 7n]],
      ['int8', [1, -128, 127]],
      ['bool', [1, 0, 1]],
    ];
    for (const [d, v] of vals) net.markOutput(net.constant(v, d, [3], `w_${d}`), `out_${d}`);
    net.markOutput(net.constant([7], 'int64', []), 'scalar');
    covered.add('constant');
    const g = net.toGraph();
    const got = await agree(g, {});
    expect(Array.from(got.out_int64.data as BigInt64Array)).toEqual([1n, -(2n ** 62n), 2n ** 60n + 7n]);
    expect(toNumbers(got.out_float16)).toEqual([1.5, -2, 65504]);
    expect(toNumbers(got.out_bfloat16)).toEqual([1.5, -2, toNumbers(t('bfloat16', [1], [3e38]))[0]]);
    expect(toNumbers(got.out_bool)).toEqual([1, 0, 1]);
    expect(got.scalar.shape).toEqual([]);
  });
});

describe('shape', () => {
  it('Shape of a symbolic input is int64', async () => {
    const g = net1('shape', [['x', 'float32', ['batch', 3]]], (net, [x]) => ({ s: one(net, { kind: 'shape', inputs: [x.id] }) }));
    const got = await agree(g, { x: randn('float32', [5, 3]) });
    expect(Array.from(got.s.data as BigInt64Array)).toEqual([5n, 3n]);
  });
});

describe('shuffle', () => {
  const x = randn('float32', [2, 3, 4]);
  it('transpose, reshape with 0 placeholders and -1, second transpose', async () => {
    const g = net1('shuffle', [['x', 'float32', [2, 3, 4]]], (net, [x]) => ({
      perm: one(net, { kind: 'shuffle', inputs: [x.id], first: [2, 0, 1], zeroIsPlaceholder: true }),
      placeholder: one(net, { kind: 'shuffle', inputs: [x.id], reshape: [0, -1], zeroIsPlaceholder: true }),
      all: one(net, { kind: 'shuffle', inputs: [x.id], first: [1, 0, 2], reshape: [0, 2, 2, -1], second: [3, 2, 1, 0], zeroIsPlaceholder: true }),
      scalarize: one(net, { kind: 'shuffle', inputs: [one(net, { kind: 'slice', inputs: [x.id], start: [0, 0, 0], size: [1, 1, 1], stride: [1, 1, 1], mode: 'strict' }).id], reshape: [], zeroIsPlaceholder: false }),
      none: one(net, { kind: 'shuffle', inputs: [x.id], zeroIsPlaceholder: true }),
    }));
    const got = await agree(g, { x });
    expect(got.placeholder.shape).toEqual([2, 12]);
    expect(got.scalarize.shape).toEqual([]);
  });
  it('zeroIsPlaceholder=false keeps a literal 0 (ONNX allowzero=1)', async () => {
    const g = net1('zero', [['x', 'float32', [2, 0]]], (net, [x]) => ({
      literal: one(net, { kind: 'shuffle', inputs: [x.id], reshape: [0, 7], zeroIsPlaceholder: false }),
      copied: one(net, { kind: 'shuffle', inputs: [x.id], reshape: [0, 0, 1], zeroIsPlaceholder: true }),
    }));
    const got = await agree(g, { x: t('float32', [2, 0], []) });
    expect(got.literal.shape).toEqual([0, 7]);
    expect(got.copied.shape).toEqual([2, 0, 1]);
  });
  it('reshape dims from a shape tensor, both zero modes', async () => {
    const mk = (zeroIsPlaceholder: boolean) =>
      net1(`dyn_${zeroIsPlaceholder}`, [['x', 'float32', ['b', 6]], ['d', 'int32', [2]]], (net, [x, d]) => ({
        y: one(net, { kind: 'shuffle', inputs: [x.id, d.id], reshape: { tensor: d.id }, zeroIsPlaceholder }),
      }));
    await agree(mk(false), { x: randn('float32', [2, 6]), d: t('int32', [2], [3, -1]) });
    await agree(mk(true), { x: randn('float32', [2, 6]), d: t('int32', [2], [3, -1]) });
    // A 0 copies the input's dim 0 only when it is a placeholder; as a literal it is an error.
    const got = await agree(mk(true), { x: randn('float32', [4, 6]), d: t('int32', [2], [0, -1]) });
    expect(got.y.shape).toEqual([4, 6]);
    await expect(ort(mk(false), { x: randn('float32', [4, 6]), d: t('int32', [2], [0, -1]) })).rejects.toThrow();
  });
});

describe('concatenation', () => {
  it('three inputs on each axis, bool and int64', async () => {
    const g = net1('concat', [['a', 'bool', [2, 1]], ['b', 'bool', [2, 3]], ['c', 'int64', [1, 2]]], (net, [a, b, c]) => ({
      ab: one(net, { kind: 'concatenation', inputs: [a.id, b.id, a.id], axis: 1 }),
      cc: one(net, { kind: 'concatenation', inputs: [c.id, c.id], axis: 0 }),
    }));
    await agree(g, { a: randn('bool', [2, 1]), b: randn('bool', [2, 3], 3), c: t('int64', [1, 2], [2n ** 40n, -3n]) });
  });
});

describe('gather', () => {
  const data = randn('float32', [3, 4, 2]);
  it('default mode: int32 and int64 indices, negative indices, 0-D index, axis 1', async () => {
    const g = net1('gather', [['x', 'float32', [3, 4, 2]], ['i', 'int32', [2, 2]], ['j', 'int64', []]], (net, [x, i, j]) => ({
      a0: one(net, { kind: 'gather', inputs: [x.id, i.id], mode: 'default', axis: 0, nbElementWiseDims: 0 }),
      a1: one(net, { kind: 'gather', inputs: [x.id, j.id], mode: 'default', axis: 1, nbElementWiseDims: 0 }),
    }));
    await agree(g, { x: data, i: t('int32', [2, 2], [0, 2, -1, 1]), j: t('int64', [], [-4]) });
  });
  it('element mode (GatherElements)', async () => {
    const g = net1('ge', [['x', 'float16', [3, 4]], ['i', 'int32', [3, 2]]], (net, [x, i]) => ({
      y: one(net, { kind: 'gather', inputs: [x.id, i.id], mode: 'element', axis: 1, nbElementWiseDims: 0 }),
    }));
    await agree(g, { x: randn('float16', [3, 4]), i: t('int32', [3, 2], [0, 3, 1, 1, -1, 2]) });
  });
  it('nd mode with batch dims: int32 indices are cast to int64 (ONNX GatherND takes int64 only)', async () => {
    const g = net1('gnd', [['x', 'bfloat16', [2, 3, 4]], ['i', 'int32', [2, 2, 1]], ['k', 'int32', [2, 2]]], (net, [x, i, k]) => ({
      b1: one(net, { kind: 'gather', inputs: [x.id, i.id], mode: 'nd', axis: 0, nbElementWiseDims: 1 }),
      b0: one(net, { kind: 'gather', inputs: [x.id, k.id], mode: 'nd', axis: 0, nbElementWiseDims: 0 }),
    }));
    await agree(g, { x: randn('bfloat16', [2, 3, 4]), i: t('int32', [2, 2, 1], [0, 2, 1, -1]), k: t('int32', [2, 2], [1, 2, 0, 0]) });
  });
});

describe('slice', () => {
  const x = t('float32', [2, 5], [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
  const slice1 = (mode: 'strict' | 'wrap' | 'clamp' | 'fill', start: number[], size: number[], stride: number[], fillValue?: number) =>
    net1(`slice_${mode}`, [['x', 'float32', [2, 5]]], (net, [x]) => ({ y: one(net, { kind: 'slice', inputs: [x.id], start, size, stride, mode, fillValue }) }));
  it('strict: ends = start + size * stride', async () => {
    const got = await agree(slice1('strict', [0, 1], [2, 2], [1, 2]), { x });
    expect(toNumbers(got.y)).toEqual([1, 3, 11, 13]);
  });
  it('strict with a negative stride down to index 0 (ONNX would read end -1 as the last element)', async () => {
    const got = await agree(slice1('strict', [1, 4], [2, 5], [-1, -1]), { x });
    expect(toNumbers(got.y)).toEqual([14, 13, 12, 11, 10, 4, 3, 2, 1, 0]);
  });
  it('strict with stride 0 repeats one element (ONNX Slice has no step 0: Gather)', async () => {
    const got = await agree(slice1('strict', [1, 2], [1, 3], [0, 0]), { x });
    expect(toNumbers(got.y)).toEqual([12, 12, 12]);
  });
  it('wrap, clamp and fill read outside the input', async () => {
    expect(toNumbers((await agree(slice1('wrap', [0, -2], [1, 8], [1, 1]), { x })).y)).toEqual([3, 4, 0, 1, 2, 3, 4, 0]);
    expect(toNumbers((await agree(slice1('clamp', [-1, 3], [3, 4], [1, 1]), { x })).y)).toEqual([3, 4, 4, 4, 3, 4, 4, 4, 13, 14, 14, 14]);
    expect(toNumbers((await agree(slice1('fill', [1, -1], [2, 3], [1, 2], -7), { x })).y)).toEqual([-7, 11, 13, -7, -7, -7]);
    await agree(slice1('wrap', [5, 9], [3, 2], [-3, -4]), { x });
    await agree(slice1('clamp', [0, 2], [2, 3], [1, 0]), { x });
  });
  it('run-time starts and sizes (shape tensors), every mode, symbolic input dims', async () => {
    for (const mode of ['strict', 'wrap', 'clamp', 'fill'] as const)
      for (const stride of [[1, 1], [1, -1], [2, 2]]) {
        const g = net1(`dyn_${mode}`, [['x', 'float32', ['a', 'b']], ['s', 'int32', [2]], ['z', 'int64', [2]]], (net, [x, s, z]) => ({
          y: one(net, { kind: 'slice', inputs: [x.id, s.id, z.id], start: { tensor: s.id }, size: { tensor: z.id }, stride, mode, fillValue: mode === 'fill' ? 9 : undefined }),
        }));
        const starts = mode === 'strict' ? (stride[1] < 0 ? [0, 4] : [0, 1]) : [-1, 3];
        const sizes = mode === 'strict' ? (stride[0] === 2 ? [1, 2] : [2, stride[1] < 0 ? 5 : 3]) : [3, 4];
        await agree(g, { x, s: t('int32', [2], starts), z: t('int64', [2], sizes) });
      }
  });
  it('run-time strides go through Gather, also in strict mode', async () => {
    const g = net1('dynstride', [['x', 'float32', [2, 5]], ['d', 'int64', [2]]], (net, [x, d]) => ({
      y: one(net, { kind: 'slice', inputs: [x.id, d.id], start: [1, 4], size: [2, 3], stride: { tensor: d.id }, mode: 'strict' }),
    }));
    await agree(g, { x, d: t('int64', [2], [-1, -2]) });
    await agree(g, { x, d: t('int64', [2], [-1, 0]) });
  });
  it('fill keeps the dtype of the input (int64, bool, bfloat16)', async () => {
    for (const d of ['int64', 'bool', 'bfloat16', 'int8'] as const) {
      const g = net1(`fill_${d}`, [['x', d, [3]]], (net, [x]) => ({ y: one(net, { kind: 'slice', inputs: [x.id], start: [-2], size: [6], stride: [1], mode: 'fill', fillValue: 1 }) }));
      await agree(g, { x: randn(d, [3], 4) });
    }
  });
});

const ALL_ELEMENTWISE: ElementWiseOp[] = ['sum', 'prod', 'max', 'min', 'sub', 'div', 'pow', 'floor_div', 'and', 'or', 'xor', 'equal', 'greater', 'less'];
const LOGICAL = new Set<ElementWiseOp>(['and', 'or', 'xor']);

describe('elementwise', () => {
  const binary = (op: ElementWiseOp, d: DType, sa: (number | string)[], sb: (number | string)[]) =>
    net1(`ew_${op}_${d}`, [['a', d, sa], ['b', d, sb]], (net, [a, b]) => ({ y: one(net, { kind: 'elementwise', op, inputs: [a.id, b.id] }) }));
  it('every op on every dtype it applies to, with broadcasting', async () => {
    for (const op of ALL_ELEMENTWISE) {
      const dtypes: DType[] = LOGICAL.has(op) ? ['bool'] : op === 'pow' ? ['float32', 'float16', 'bfloat16'] : ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8'];
      if (op === 'equal') dtypes.push('bool');
      for (const d of dtypes) {
        const a = randn(d, [2, 3], 11);
        let b = randn(d, [1, 3], 12);
        if (op === 'pow') b = t(d, [1, 3], [2, -1, 0.5]);
        if (op === 'div' || op === 'floor_div') b = d.startsWith('int') ? t(d, [1, 3], [3, -2, 5]) : t(d, [1, 3], [0.75, -1.5, 3]);
        await agree(binary(op, d, [2, 3], [1, 3]), { a: op === 'pow' ? t(d, [2, 3], [1.5, 2, 3, 0.25, 4, 9]) : a, b });
      }
    }
  });
  it('integer div truncates and floor_div floors (ONNX Div truncates; floor is built from Mod)', async () => {
    const a = t('int32', [6], [7, -7, 7, -7, 6, -6]);
    const b = t('int32', [6], [2, 2, -2, -2, 3, 4]);
    expect(toNumbers((await agree(binary('div', 'int32', [6], [6]), { a, b })).y)).toEqual([3, -3, -3, 3, 2, -1]);
    expect(toNumbers((await agree(binary('floor_div', 'int32', [6], [6]), { a, b })).y)).toEqual([3, -4, -4, 3, 2, -2]);
    const a64 = t('int64', [3], [-(2n ** 62n) - 1n, 2n ** 62n, -9n]);
    const b64 = t('int64', [3], [2n, -3n, 4n]);
    await agree(binary('floor_div', 'int64', [3], [3]), { a: a64, b: b64 });
    await agree(binary('div', 'int64', [3], [3]), { a: a64, b: b64 });
  });
  it('integer division by 0 and INT_MIN / -1 do not trap the CPU: x / 0 is 0, x / -1 is -x (wrapping)', async () => {
    for (const op of ['div', 'floor_div'] as const) {
      const a = t('int32', [4], [5, -5, -2147483648, 9]);
      const b = t('int32', [4], [0, 0, -1, -1]);
      expect(toNumbers((await agree(binary(op, 'int32', [4], [4]), { a, b })).y)).toEqual([0, 0, -2147483648, -9]);
      await agree(binary(op, 'int8', [4], [4]), { a: t('int8', [4], [-128, 3, 4, -5]), b: t('int8', [4], [-1, 0, -1, 2]) });
      await agree(binary(op, 'int64', [3], [3]), { a: t('int64', [3], [-(2n ** 63n), 5n, 6n]), b: t('int64', [3], [-1n, 0n, -1n]) });
    }
  });
  it('a constant divisor without 0 or -1 skips the guard', async () => {
    const g = net1('constdiv', [['a', 'int32', [4]]], (net, [a]) => ({ y: one(net, { kind: 'elementwise', op: 'floor_div', inputs: [a.id, net.constant([3, -2, 5, 7], 'int32', [4]).id] }) }));
    expect(toNumbers((await agree(g, { a: t('int32', [4], [-7, 7, 10, -1]) })).y)).toEqual([-3, -4, 2, -1]);
  });
  it('float floor_div floors the exact quotient (a float32 quotient can round up to a whole number)', async () => {
    // 1 / 0.33333334f is 2.99999991..., which rounds to 3 in float32.
    const a = t('float32', [2], [1, -7]);
    const b = t('float32', [2], [0.33333334, 2]);
    const got = await agree(binary('floor_div', 'float32', [2], [2]), { a, b });
    expect(toNumbers(got.y)).toEqual([2, -4]);
  });
  it('int8 and bool arithmetic go through int32 and wrap back', async () => {
    await agree(binary('sum', 'int8', [3], [3]), { a: t('int8', [3], [127, -128, 5]), b: t('int8', [3], [1, -1, 5]) });
    await agree(binary('prod', 'int8', [3], [3]), { a: t('int8', [3], [64, -128, 5]), b: t('int8', [3], [2, -1, 5]) });
    await agree(binary('max', 'bool', [3], [3]), { a: t('bool', [3], [1, 0, 0]), b: t('bool', [3], [0, 0, 1]) });
  });
  it('NaN propagates through max and min', async () => {
    const got = await agree(binary('max', 'float32', [3], [3]), { a: t('float32', [3], [NaN, 1, 2]), b: t('float32', [3], [0, NaN, 1]) });
    expect(toNumbers(got.y).map(Number.isNaN)).toEqual([true, true, false]);
    await agree(binary('min', 'float32', [3], [3]), { a: t('float32', [3], [NaN, 1, 2]), b: t('float32', [3], [0, NaN, 1]) });
  });
});

describe('unary', () => {
  const OPS: UnaryOp[] = ['exp', 'log', 'sqrt', 'recip', 'abs', 'neg', 'sin', 'cos', 'floor', 'ceil', 'round', 'erf', 'sign', 'isnan', 'isinf'];
  const un = (op: UnaryOp, d: DType) => net1(`un_${op}_${d}`, [['x', d, [8]]], (net, [x]) => ({ y: one(net, { kind: 'unary', op, inputs: [x.id] }) }));
  it('every float op on float32, float16 and bfloat16', async () => {
    for (const op of OPS)
      for (const d of ['float32', 'float16', 'bfloat16'] as const) {
        const vals = op === 'log' || op === 'sqrt' ? [0.5, 1, 2, 3.5, 7, 0.01, 100, 4] : [-2.5, -1.5, -0.5, 0, 0.5, 1.5, 2.5, 3.7];
        if (op === 'isnan' || op === 'isinf') vals.splice(0, 3, NaN, Infinity, -Infinity);
        await agree(un(op, d), { x: t(d, [8], vals) });
      }
  });
  it('round is half to even', async () => {
    const got = await agree(un('round', 'float32'), { x: t('float32', [8], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4]) });
    expect(toNumbers(got.y)).toEqual([-2, -2, -0, 0, 2, 2, 4, 2]);
  });
  it('abs, neg and sign on integers; not on bool', async () => {
    for (const op of ['abs', 'neg', 'sign'] as const)
      for (const d of ['int32', 'int64', 'int8'] as const) await agree(un(op, d), { x: randn(d, [8], 5) });
    await agree(un('not', 'bool'), { x: randn('bool', [8], 5) });
  });
});

describe('activation', () => {
  const ACTS: [ActivationOp, number?, number?][] = [
    ['relu'], ['sigmoid'], ['tanh'], ['leaky_relu', 0.1], ['leaky_relu'], ['elu', 0.7], ['softplus'], ['clip', -0.5, 1.25], ['gelu_erf'], ['gelu_tanh'],
  ];
  const act = (op: ActivationOp, d: DType, alpha?: number, beta?: number) =>
    net1(`act_${op}_${d}`, [['x', d, [12]]], (net, [x]) => ({ y: one(net, { kind: 'activation', op, inputs: [x.id], alpha, beta }) }));
  const x = (d: DType) => t(d, [12], [-30, -4, -2, -1, -0.5, -0.01, 0, 0.01, 0.5, 1, 3, 30]);
  it('every activation on float32/float16/bfloat16 at opsets 17 and 20 (Gelu is an op from 20)', async () => {
    for (const opset of [17, 20])
      for (const [op, a, b] of ACTS)
        for (const d of ['float32', 'float16', 'bfloat16'] as const) await agree(act(op, d, a, b), { x: x(d) }, {}, { opset });
  });
  it('leaky_relu and elu without alpha use 0 (ONNX defaults are 0.01 and 1)', async () => {
    expect(toNumbers((await agree(act('leaky_relu', 'float32'), { x: x('float32') })).y)[0]).toBe(-0);
    expect(toNumbers((await agree(act('elu', 'float32'), { x: x('float32') })).y)[0]).toBe(-0);
  });
  it('softplus with alpha/beta is alpha * log(1 + exp(beta * x)) (TensorRT)', async () => {
    const got = await ort(act('softplus', 'float32', 2, 0.5), { x: x('float32') });
    toNumbers(got.y).forEach((v, i) => expect(v).toBeCloseTo(2 * Math.log1p(Math.exp(0.5 * toNumbers(x('float32'))[i])), 4));
  });
});

describe('matmul', () => {
  const mm = (opA: 'none' | 'transpose' | 'vector', opB: 'none' | 'transpose' | 'vector', sa: number[], sb: number[], d: DType = 'float32') =>
    net1(`mm_${opA}_${opB}`, [['a', d, sa], ['b', d, sb]], (net, [a, b]) => ({ y: one(net, { kind: 'matmul', inputs: [a.id, b.id], opA, opB }) }));
  it('every operand op (transpose → Transpose, vector → Unsqueeze/Squeeze), batched and broadcast', async () => {
    const cases: [Parameters<typeof mm>[0], Parameters<typeof mm>[1], number[], number[]][] = [
      ['none', 'none', [2, 3], [3, 4]],
      ['transpose', 'none', [3, 2], [3, 4]],
      ['none', 'transpose', [2, 3], [4, 3]],
      ['transpose', 'transpose', [2, 3, 2], [2, 4, 3]],
      ['vector', 'none', [3], [3, 4]],
      ['none', 'vector', [2, 3], [3]],
      ['vector', 'vector', [2, 3], [2, 3]],
      ['vector', 'transpose', [2, 3], [2, 4, 3]],
      ['none', 'none', [2, 1, 2, 3], [1, 3, 3, 4]],
    ];
    for (const [opA, opB, sa, sb] of cases) await agree(mm(opA, opB, sa, sb), { a: randn('float32', sa, 1), b: randn('float32', sb, 2) }, { atol: 1e-5 });
  });
  it('float16, bfloat16 (computed in float32) and int32', async () => {
    for (const d of ['float16', 'bfloat16', 'int32', 'int64', 'int8'] as const) await agree(mm('none', 'transpose', [2, 5], [3, 5], d), { a: randn(d, [2, 5], 3), b: randn(d, [3, 5], 4) });
  });
});

describe('softmax', () => {
  it('along each axis (opset 13+ Softmax normalizes one axis)', async () => {
    for (const axis of [0, 1, 2])
      for (const d of ['float32', 'float16', 'bfloat16'] as const) {
        const g = net1(`sm${axis}`, [['x', d, [2, 3, 4]]], (net, [x]) => ({ y: one(net, { kind: 'softmax', inputs: [x.id], axis }) }));
        await agree(g, { x: randn(d, [2, 3, 4], axis, 5) });
      }
  });
});

describe('topk', () => {
  const topk = (op: 'max' | 'min', k: number, axis: number, d: DType, shape: number[]) => {
    const net = new Network(`topk_${op}`);
    const x = net.input('x', d, shape);
    covered.add('topk');
    const [v, i] = net.addLayer({ kind: 'topk', inputs: [x.id], op, k, axis });
    net.markOutput(v, 'v');
    net.markOutput(i, 'i');
    return net.toGraph();
  };
  it('max and min, int32 indices, along each axis, several dtypes', async () => {
    for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8'] as const)
      for (const op of ['max', 'min'] as const)
        for (const axis of [0, 1]) {
          const got = await agree(topk(op, 2, axis, d, [3, 4]), { x: randn(d, [3, 4], 7) });
          expect(got.i.dtype).toBe('int32');
        }
  });
  it('ties resolve to the lower index, as TensorRT and the interpreter (ORT does the same)', async () => {
    const x = t('float32', [1, 6], [1, 3, 2, 3, 1, 3]);
    const max = await agree(topk('max', 4, 1, 'float32', [1, 6]), { x });
    expect(toNumbers(max.i)).toEqual([1, 3, 5, 2]);
    const min = await agree(topk('min', 3, 1, 'float32', [1, 6]), { x });
    expect(toNumbers(min.i)).toEqual([0, 4, 2]);
    const ints = await agree(topk('max', 3, 0, 'int64', [5]), { x: t('int64', [5], [4, 9, 4, 9, 4]) });
    expect(toNumbers(ints.i)).toEqual([1, 3, 0]);
  });
});

describe('reduce', () => {
  const OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min', 'avg'];
  const red = (op: ReduceOp, axes: number[], keepDims: boolean, d: DType, shape: (number | string)[] = [2, 3, 4]) =>
    net1(`reduce_${op}`, [['x', d, shape]], (net, [x]) => ({ y: one(net, { kind: 'reduce', op, axes, keepDims, inputs: [x.id] }) }));
  it('every op, axes and keepDims, at opsets 17 and 18 (axes attribute vs input)', async () => {
    for (const opset of [17, 18])
      for (const op of OPS)
        for (const [axes, keep] of [[[1], false], [[0, 2], true], [[0, 1, 2], false], [[2], true]] as [number[], boolean][])
          await agree(red(op, axes, keep, 'float32'), { x: randn('float32', [2, 3, 4], 9, 1.5) }, {}, { opset });
  });
  it('integer, half and bool dtypes', async () => {
    for (const d of ['int32', 'int64', 'int8', 'float16', 'bfloat16'] as const)
      for (const op of OPS) await agree(red(op, [1], false, d), { x: randn(d, [2, 3, 4], 10, 1) });
    for (const op of ['max', 'min', 'sum'] as const) await agree(red(op, [0], false, 'bool'), { x: randn('bool', [2, 3, 4], 3) });
  });
  it('integer mean truncates like sum / count, also with symbolic dims', async () => {
    const got = await agree(red('avg', [1], false, 'int32', ['n', 'm']), { x: t('int32', [2, 3], [1, 2, 2, -1, -2, -2]) });
    expect(toNumbers(got.y)).toEqual([1, -1]);
  });
  it('no axes reduces nothing (ONNX would reduce all)', async () => {
    const got = await agree(red('sum', [], false, 'float32'), { x: randn('float32', [2, 3, 4]) });
    expect(got.y.shape).toEqual([2, 3, 4]);
  });
});

describe('select', () => {
  it('Where with broadcasting, for every dtype (bfloat16/int8/bool through a cast)', async () => {
    for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool'] as const) {
      const g = net1(`select_${d}`, [['c', 'bool', [2, 1]], ['a', d, [2, 3]], ['b', d, [1, 3]]], (net, [c, a, b]) => ({ y: one(net, { kind: 'select', inputs: [c.id, a.id, b.id] }) }));
      await agree(g, { c: t('bool', [2, 1], [1, 0]), a: randn(d, [2, 3], 1), b: randn(d, [1, 3], 2) });
    }
  });
});

describe('fill', () => {
  const fill = (dims: number[], dtype: DType, alpha: number, beta: number) =>
    net1(`fill_${dtype}`, [], (net) => ({ y: one(net, { kind: 'fill', inputs: [], dims, dtype, alpha, beta }) }));
  it('static dims: small fills fold into a constant, large ones use Range', async () => {
    for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool'] as const) {
      await agree(fill([7], d, d === 'int8' ? -3 : 0.5, d === 'int8' ? 1 : 0.25), {});
      await agree(fill([5000], d, 1, d === 'int8' || d === 'bool' ? 0 : 3), {});
    }
    await agree(fill([2, 3000], 'int32', 2.5, 0.5), {});
  });
  it('run-time dims from a shape tensor', async () => {
    for (const [d, alpha, beta] of [['int64', 0, 1], ['int32', 3, -2], ['float32', 0.1, 0.3], ['float16', -1, 0.5], ['int32', 0.5, 0.75]] as [DType, number, number][]) {
      const g = net1(`fill_dyn_${d}`, [['x', 'float32', ['n']]], (net, [x]) => {
        const s = one(net, { kind: 'shape', inputs: [x.id] });
        return { y: one(net, { kind: 'fill', inputs: [s.id], dims: { tensor: s.id }, dtype: d, alpha, beta }) };
      });
      await agree(g, { x: randn('float32', [9]) });
      await agree(g, { x: randn('float32', [0]) });
    }
  });
});

describe('cumulative', () => {
  it('CumSum with exclusive/reverse on every axis and dtype', async () => {
    for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8'] as const)
      for (const exclusive of [false, true])
        for (const reverse of [false, true])
          for (const axis of [0, 1]) {
            const g = net1('cumsum', [['x', d, [3, 4]]], (net, [x]) => ({ y: one(net, { kind: 'cumulative', op: 'sum', inputs: [x.id], axis, exclusive, reverse }) }));
            await agree(g, { x: randn(d, [3, 4], 13, 2) });
          }
  });
});

describe('cast', () => {
  const DTS = ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool'] as const;
  const values: Record<DType, (number | bigint)[]> = {
    float32: [-2.75, -1.5, -0.5, 0, 0.4, 1.5, 2.75, 100.25, 70000.5, 1e-8],
    float16: [-2.75, -1.5, -0.5, 0, 0.4, 1.5, 2.75, 100.25, 60000, 1e-4],
    bfloat16: [-2.75, -1.5, -0.5, 0, 0.4, 1.5, 2.75, 100.5, 70000, 1e-8],
    int32: [-3, -1, 0, 1, 2, 127, 128, -129, 100000, 2147483647],
    int64: [-3n, -1n, 0n, 1n, 2n, 127n, 2n ** 31n + 5n, -(2n ** 40n) - 1n, 2n ** 60n, 300n],
    int8: [-3, -1, 0, 1, 2, 127, -128, 5, 100, -100],
    bool: [1, 0, 1, 1, 0, 0, 1, 0, 1, 1],
  };
  it('every pair of dtypes (float → int truncates toward zero in both)', async () => {
    for (const from of DTS)
      for (const to of DTS) {
        const g = net1(`cast_${from}_${to}`, [['x', from, [10]]], (net, [x]) => ({ y: one(net, { kind: 'cast', inputs: [x.id], dtype: to }) }));
        const narrowInt = (to === 'int8' && from !== 'bool' && from !== 'int8') || (to === 'int32' && from === 'int64') || (to === 'float16' && from !== 'bool');
        // Out-of-range float → int is undefined in C++ (and so in ORT); keep those in range.
        const v = (isFloatDtype(from) && narrowInt) || (to === 'float16' && (from === 'float32' || from === 'bfloat16')) ? values[from].slice(0, 8).concat([3, 4]) : values[from];
        await agree(g, { x: t(from, [10], v) });
      }
  });
  it('float → int truncates toward zero', async () => {
    const g = net1('trunc', [['x', 'float32', [4]]], (net, [x]) => ({ y: one(net, { kind: 'cast', inputs: [x.id], dtype: 'int32' }) }));
    expect(toNumbers((await agree(g, { x: t('float32', [4], [-2.75, -1.5, 2.75, 0.9]) })).y)).toEqual([-2, -1, 2, 0]);
  });
  it('float → bool maps NaN to false (ONNX Cast makes it true)', async () => {
    const g = net1('nanbool', [['x', 'float32', [3]]], (net, [x]) => ({ y: one(net, { kind: 'cast', inputs: [x.id], dtype: 'bool' }) }));
    expect(toNumbers((await agree(g, { x: t('float32', [3], [NaN, 0, -0.5]) })).y)).toEqual([0, 0, 1]);
  });
  it('float32 → float16/bfloat16 rounds to nearest even', async () => {
    const g = net1('round16', [['x', 'float32', [3]]], (net, [x]) => ({
      h: one(net, { kind: 'cast', inputs: [x.id], dtype: 'float16' }),
      b: one(net, { kind: 'cast', inputs: [x.id], dtype: 'bfloat16' }),
    }));
    const v = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8];
    const got = await agree(g, { x: t('float32', [3], v) });
    expect(Array.from(got.h.data as Uint16Array)).toEqual(v.map(f32ToF16));
    expect(Array.from(got.b.data as Uint16Array)).toEqual(v.map(f32ToBf16));
  });
});
const isFloatDtype = (d: DType) => d === 'float32' || d === 'float16' || d === 'bfloat16';

describe('scatter', () => {
  it('element mode (ScatterElements) with int32 and negative indices', async () => {
    const g = net1('se', [['d', 'float32', [3, 4]], ['i', 'int32', [2, 4]], ['u', 'float32', [2, 4]]], (net, [d, i, u]) => ({
      y: one(net, { kind: 'scatter', mode: 'element', axis: 0, inputs: [d.id, i.id, u.id] }),
    }));
    await agree(g, { d: randn('float32', [3, 4]), i: t('int32', [2, 4], [0, 1, 2, -1, 1, 2, 0, 0]), u: randn('float32', [2, 4], 5) });
  });
  it('nd mode (ScatterND, indices cast to int64), bfloat16 and int64 data', async () => {
    for (const d of ['bfloat16', 'int64', 'bool'] as const) {
      const g = net1('snd', [['d', d, [3, 2, 2]], ['i', 'int32', [2, 2]], ['u', d, [2, 2]]], (net, [data, i, u]) => ({
        y: one(net, { kind: 'scatter', mode: 'nd', axis: 0, inputs: [data.id, i.id, u.id] }),
      }));
      await agree(g, { d: randn(d, [3, 2, 2], 1), i: t('int32', [2, 2], [0, 1, 2, 0]), u: randn(d, [2, 2], 2) });
    }
  });
});

describe('nonzero', () => {
  it('int64 [rank, count] indices for every dtype', async () => {
    for (const d of ['float32', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'bool'] as const) {
      const g = net1(`nz_${d}`, [['x', d, [3, 4]]], (net, [x]) => ({ y: one(net, { kind: 'nonzero', inputs: [x.id] }) }));
      const got = await agree(g, { x: t(d, [3, 4], [0, 1, 0, 0, 2, 0, 0, -1, 0, 0, 0, 1]) });
      expect(got.y.shape).toEqual([2, 4]);
    }
  });
});

describe('fused layers (opset 23/24 ops and the decomposition)', () => {
  it('attention (GQA, mask with a fully masked row), rotary_embedding, kv_cache_update, rms_norm', async () => {
    const g = net1('fused', [['q', 'float32', [1, 4, 3, 4]], ['k', 'float32', [1, 2, 5, 4]], ['m', 'bool', [1, 1, 3, 5]], ['c', 'float32', [1, 5, 2]], ['w', 'int64', [1]], ['cache', 'float32', [1, 4, 6, 4]]], (net, [q, k, m, c, w, cache]) => {
      const r = one(net, { kind: 'rotary_embedding', inputs: [k.id, c.id, c.id], interleaved: false, rotaryDim: 0 });
      const n = one(net, { kind: 'rms_norm', inputs: [q.id], eps: 1e-6 });
      const a = one(net, { kind: 'attention', inputs: [n.id, r.id, k.id, m.id], scale: 0.5, causal: 'none' });
      return { a, kv: one(net, { kind: 'kv_cache_update', inputs: [cache.id, a.id, w.id] }) };
    });
    const inputs = { q: randn('float32', [1, 4, 3, 4], 1), k: randn('float32', [1, 2, 5, 4], 2), m: t('bool', [1, 1, 3, 5], [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]), c: randn('float32', [1, 5, 2], 3), w: t('int64', [1], [2]), cache: randn('float32', [1, 4, 6, 4], 4) };
    await agree(g, inputs, {}, { fusedLayers: 'onnx' });
    await agree(g, inputs, {}, { fusedLayers: 'decompose' });
  });
});

describe('quantize / dequantize (QuantizeLinear / DequantizeLinear, opset 21)', () => {
  it('per tensor, per channel and block-wise, int8 / int4 / fp8, float and half inputs (test/quant.test.ts has the property tests)', async () => {
    for (const d of ['float32', 'float16'] as const) {
      const g = net1(`qdq_${d}`, [['x', d, [4, 6]]], (net, [x]) => {
        const st = net.constant([0.25], d, []);
        const sc = net.constant([0.5, 1, 0.125, 2], 'float32', [4]);
        const sb = net.constant(Array.from({ length: 12 }, (_, i) => 0.1 * (i + 1)), d, [4, 3]);
        const q8 = one(net, { kind: 'quantize', inputs: [x.id, st.id], axis: 0, dtype: 'int8' });
        const qc = one(net, { kind: 'quantize', inputs: [x.id, sc.id], axis: 0, dtype: 'int8' });
        const q4 = one(net, { kind: 'quantize', inputs: [x.id, sb.id], axis: 1, dtype: 'int4' });
        const qf = one(net, { kind: 'quantize', inputs: [x.id, st.id], axis: 0, dtype: 'float8e4m3' });
        return {
          q8,
          a: one(net, { kind: 'dequantize', inputs: [q8.id, st.id], axis: 0, dtype: d }),
          b: one(net, { kind: 'dequantize', inputs: [qc.id, sc.id], axis: 0, dtype: 'float32' }),
          c: one(net, { kind: 'dequantize', inputs: [q4.id, sb.id], axis: 1, dtype: d }),
          f: one(net, { kind: 'dequantize', inputs: [qf.id, st.id], axis: 0, dtype: d }),
        };
      });
      await agree(g, { x: randn(d, [4, 6], 21, 40) }, { atol: 0, rtol: 0 });
    }
  });
});

describe('collective', () => {
  // ONNX Runtime's CPU build cannot run a collective: the kind exports as a com.redraft
  // custom-domain node (README: Tensor parallelism), the session is refused naming why, and what
  // the node computes is checked on the multi-rank simulator against hand-worked values.
  it('exports as com.redraft AllReduce / AllGather / Broadcast; ONNX Runtime refuses it; the simulator computes it', async () => {
    const rankGraph = (rank: number) => {
      const net = new Network(`collective_r${rank}`);
      net.rank = rank;
      const x = net.input('x', 'float32', [2, 2]);
      const base = { inputs: [x.id], root: 0, group: [0, 1], rank };
      net.markOutput(one(net, { kind: 'collective', op: 'all_reduce', reduce: 'sum', ...base }), 'sum');
      net.markOutput(one(net, { kind: 'collective', op: 'all_reduce', reduce: 'max', ...base }), 'max');
      net.markOutput(one(net, { kind: 'collective', op: 'all_gather', reduce: 'none', ...base }), 'gathered');
      net.markOutput(one(net, { kind: 'collective', op: 'broadcast', reduce: 'none', ...base, root: 1 }), 'from1');
      return net.toGraph();
    };
    const [g0, g1] = [rankGraph(0), rankGraph(1)];
    const m = onnx.ModelProto.decode(exportOnnx(g0).model);
    expect(m.graph!.node!.filter((n) => n.domain === 'com.redraft').map((n) => n.opType)).toEqual(['AllReduce', 'AllReduce', 'AllGather', 'Broadcast']);
    await expect(sessionForGraph(g0)).rejects.toThrow(/ONNX Runtime's CPU build cannot run it/);
    const x0 = t('float32', [2, 2], [1, -2, 3, 4]);
    const x1 = t('float32', [2, 2], [10, 20, -30, 0.5]);
    const { outputs } = runRanks([{ graph: g0, inputs: { x: x0 } }, { graph: g1, inputs: { x: x1 } }]);
    for (const o of outputs) {
      expect(toNumbers(o.sum)).toEqual([11, 18, -27, 4.5]);
      expect(toNumbers(o.max)).toEqual([10, 20, 3, 4]);
      expect(o.gathered.shape).toEqual([4, 2]);
      expect(toNumbers(o.gathered)).toEqual([1, -2, 3, 4, 10, 20, -30, 0.5]);
      expect(toNumbers(o.from1)).toEqual([10, 20, -30, 0.5]);
    }
  });
});

describe('coverage', () => {
  it('every IR layer kind is exercised above', () => {
    expect([...covered].sort()).toEqual([...LAYER_KINDS].sort());
  });
});
