/**
 * Low-memory ONNX sessions (builders/onnx/env.ts): matmuls against half-precision weights are
 * exported in blocks of output columns, each cast just before it is used. The blocked graph
 * computes what the plain one does, for every operand layout the ops produce.
 */
import { describe, expect, it } from 'vitest';
import { f32ToBf16, f32ToF16 } from '../dsl/dtype.js';
import { buildNetwork } from '../dsl/network.js';
import { mulberry32 } from '../dsl/random.js';
import type { HostTensor } from '../dsl/host.js';
import { linear, matmul } from '../ops/index.js';
import { runGraphOnnx, sessionForGraph } from '../builders/onnx/env.js';
import { exportOnnx } from '../builders/onnx/export.js';
import { onnx } from '../builders/onnx/proto.js';
import { runGraph } from '../builders/interp/index.js';

const rnd = mulberry32(7);
const half = (dtype: 'bfloat16' | 'float16', n: number) => Uint16Array.from({ length: n }, () => (dtype === 'bfloat16' ? f32ToBf16 : f32ToF16)((rnd() - 0.5) * 0.5));
const f32 = (n: number) => Float32Array.from({ length: n }, () => rnd() - 0.5);

async function both(g: ReturnType<typeof buildNetwork>, inputs: Record<string, HostTensor>) {
  const run = async (lowMemory: boolean) => {
    const s = await sessionForGraph(g, { intraOpThreads: 1, lowMemory }, lowMemory ? { halfWeightBlockBytes: 256 } : {});
    try {
      return await runGraphOnnx(s, g, inputs);
    } finally {
      await s.release();
    }
  };
  return { plain: await run(false), blocked: await run(true), interp: runGraph(g, inputs) };
}

describe('blocked half-weight matmuls', () => {
  for (const dtype of ['bfloat16', 'float16'] as const) {
    it(`${dtype}: linear (transposed [N, K] weight) over a batch, matmul with a [K, N] weight, a vector input`, async () => {
      const K = 24;
      const N = 37; // not a multiple of the block size
      const g = buildNetwork(`blocked_${dtype}`, (net) => {
        const x = net.input('x', dtype, ['b', 3, K], { b: { min: 1, opt: 2, max: 4 } });
        const v = net.input('v', dtype, [K]);
        const wt = net.constant(half(dtype, N * K), dtype, [N, K], 'wt');
        const w = net.constant(half(dtype, K * N), dtype, [K, N], 'w');
        net.markOutput(linear(x, wt), 'lin');
        net.markOutput(matmul(x, w), 'mm');
        net.markOutput(matmul(v, w), 'vec');
      });
      const toHalf = (n: number): HostTensor => ({ dtype, shape: [], data: Uint16Array.from(f32(n), dtype === 'bfloat16' ? f32ToBf16 : f32ToF16) });
      const inputs = { x: { ...toHalf(2 * 3 * K), shape: [2, 3, K] }, v: { ...toHalf(K), shape: [K] } };
      const r = await both(g, inputs);
      for (const k of ['lin', 'mm', 'vec']) {
        expect(r.blocked[k]!.shape, k).toEqual(r.plain[k]!.shape);
        expect([...(r.blocked[k]!.data as Uint16Array)], k).toEqual([...(r.plain[k]!.data as Uint16Array)]);
        expect(r.blocked[k]!.shape, k).toEqual(r.interp[k]!.shape);
      }
    });
  }
  it('splits a weight into blocks of at most halfWeightBlockBytes of float32, none of it foldable', () => {
    const g = buildNetwork('blocks', (net) => {
      const x = net.input('x', 'bfloat16', [2, 64]);
      net.markOutput(linear(x, net.constant(half('bfloat16', 100 * 64), 'bfloat16', [100, 64], 'w')), 'y');
    });
    const nodes = onnx.ModelProto.decode(exportOnnx(g, { halfWeightBlockBytes: 64 * 4 * 25 }).model).graph!.node!;
    expect(nodes.filter((n) => n.opType === 'MatMul')).toHaveLength(4);
    // Every Slice of the weight takes its bounds from a value computed at run time.
    for (const n of nodes.filter((n) => n.opType === 'Slice' && n.input![0] === 'w')) expect(n.input![1]).toMatch(/Add/);
    expect(onnx.ModelProto.decode(exportOnnx(g).model).graph!.node!.filter((n) => n.opType === 'MatMul')).toHaveLength(1);
  });
});
