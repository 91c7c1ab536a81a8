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

describe('tiny ReDrafter graphs in ONNX Runtime', () => {
  for (const dtype of ['float32', 'bfloat16'] as DType[]) {
    it(`step graph (${dtype}): context and generation calls match the interpreter`, async () => {
      const g = buildStepGraph(llm, drafter, shape(dtype));
      const r = rng(7);
      const [B, T, P] = [2, 4, 3];
      for (const ctx of [1, 0]) {
        const inputs = {
          is_context: hostTensor('bool', [B], [ctx, ctx]),
          input_ids: hostTensor('int64', [B, T], [0, 5, 6, 7, 8, 9, 10, 11]),
          beams: hostTensor('int64', [B, 2, 3], Array.from({ length: 12 }, () => 3 + Math.floor(r() * 60))),
          past_padding_mask: hostTensor('int64', [B, P], [0, 1, 1, 1, 1, 1]),
          past_kv: hostTensor(dtype, [2, 2, B, 2, P, 8], Array.from({ length: 2 * 2 * B * 2 * P * 8 }, () => r() - 0.5)),
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
      attention_mask: hostTensor('bool', [B, T, P + T], Array.from({ length: B * T * (P + T) }, (_, i) => +(i % (P + T) <= P + (Math.floor(i / (P + T)) % T)))),
      position_ids: hostTensor('int64', [B, T], Array.from({ length: B * T }, (_, i) => P + (i % T))),
      past_kv: hostTensor('float16', [2, 2, B, 2, P, 8], Array.from({ length: 2 * 2 * B * 2 * P * 8 }, () => r() - 0.5)),
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
