/** The real graphs: the tiny ReDrafter step graph and the LLM step graph, ONNX Runtime vs the interpreter. */
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { exportOnnx } from '../builders/onnx/export.js';
import type { DType } from '../dsl/dtype.js';
import { hostTensor } from '../dsl/host.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import { buildLlmStepGraph, buildStepGraph } from '../models/redrafter/engine.js';
import { expectClose, ort, rng } from './onnx-util.js';

const llm = tinyLlama();
const drafter = tinyDrafter();
const shape = (dtype: DType) => ({ beamWidth: 2, beamLength: 3, maxBatch: 4, maxSeq: 64, dtype });
const TOL = { atol: 2e-3, rtol: 1e-2 };
/** The tiny model's per-layer caches (2 layers, 2 kv heads, head dim 8), random. */
const caches = (dtype: DType, B: number, C: number, r: () => number) =>
  Object.fromEntries([0, 1].flatMap((l) => ['k', 'v'].map((kv) => [`${kv}_cache_${l}`, hostTensor(dtype, [B, 2, C, 8], Array.from({ length: B * 2 * C * 8 }, () => r() - 0.5))])));

describe('tiny ReDrafter graphs in ONNX Runtime', () => {
  for (const dtype of ['float32', 'bfloat16'] as DType[]) {
    it(`step graph (${dtype}): context and generation calls match the interpreter`, async () => {
      const g = buildStepGraph(llm, drafter, shape(dtype));
      const r = rng(7);
      const [B, T, P] = [2, 4, 3];
      const C = P + T + 6; // cache + prompt slot + W·L draft slots
      for (const ctx of [1, 0]) {
        // Context: a whole prompt and a chunk after 3 cached tokens; generation: caches of 3 and 2.
        const inputs = {
          is_context: hostTensor('bool', [B], [ctx, ctx]),
          input_ids: hostTensor('int64', [B, T], [0, 5, 6, 7, 8, 9, 10, 11]),
          prompt_lengths: hostTensor('int64', [B], ctx ? [4, 2] : [0, 0]),
          beams: hostTensor('int64', [B, 2, 3], Array.from({ length: 12 }, () => 3 + Math.floor(r() * 60))),
          cache_lengths: hostTensor('int64', [B], ctx ? [0, 3] : [3, 2]),
          ...caches(dtype, B, C, r),
        };
        const want = runGraph(g, inputs);
        const got = await ort(g, inputs);
        for (const b of g.outputs) expectClose(got[b.name], want[b.name], `${b.name} (context=${ctx})`, TOL);
      }
    });
  }
  it('LLM step graph (float16) matches the interpreter', async () => {
    const g = buildLlmStepGraph(llm, shape('float16'));
    const r = rng(3);
    const [B, T, P] = [2, 3, 2];
    const inputs = {
      input_ids: hostTensor('int64', [B, T], Array.from({ length: B * T }, () => 3 + Math.floor(r() * 60))),
      prompt_lengths: hostTensor('int64', [B], [3, 2]),
      cache_lengths: hostTensor('int64', [B], [P, 1]),
      ...caches('float16', B, P + T + 1, r),
    };
    const want = runGraph(g, inputs);
    const got = await ort(g, inputs);
    for (const b of g.outputs) expectClose(got[b.name], want[b.name], b.name, TOL);
  });
  it('exports deterministically: two builds of the step graph give the same bytes', () => {
    const a = exportOnnx(buildStepGraph(llm, drafter, shape('float32'))).model;
    const b = exportOnnx(buildStepGraph(llm, drafter, shape('float32'))).model;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});
