/**
 * The precision table: max |logit − float32 golden| of the golden `llama` cases (PyTorch,
 * float32) when the same Llama is built in float16 and bfloat16, per backend. Context cases
 * skip left-padding positions, as the golden README says. The run prints the README's table.
 */
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../dsl/dtype.js';
import { f32ToBf16, f32ToF16 } from '../dsl/dtype.js';
import type { HostTensor } from '../dsl/host.js';
import { buildNetwork } from '../dsl/network.js';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { loadAnyModel } from '../builders/conformance/env.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { GOLDEN } from './golden-root.js';
import { BACKENDS, runner, type BackendName } from './precision-util.js';

/** float32 host data in `dtype` (half types rounded to nearest even). */
function inDtype(t: HostTensor, dtype: DType): HostTensor {
  if (dtype === 'float32') return t;
  const conv = dtype === 'float16' ? f32ToF16 : f32ToBf16;
  return { dtype, shape: t.shape, data: Uint16Array.from(t.data as Float32Array, conv) };
}

/** Max abs logit error of every golden llama case in `dtype` on `backend`, and the largest golden |logit|. */
export async function logitError(dtype: DType, backend: BackendName): Promise<{ maxAbs: number; maxLogit: number; cases: number }> {
  const run = runner(backend);
  let maxAbs = 0;
  let maxLogit = 0;
  const cases = findCases(path.join(GOLDEN, 'llama')).map(loadCase);
  for (const c of cases) {
    const m = loadAnyModel(path.resolve(GOLDEN, c.models!.llm!));
    const cfg = llamaConfigFromHf(m.config);
    const ins = c.inputs;
    const g = buildNetwork(`${c.name}_${dtype}`, (net) => {
      const input_ids = net.input('input_ids', 'int64', ins.input_ids!.shape);
      const attention_mask = net.input('attention_mask', 'bool', ins.attention_mask!.shape);
      const position_ids = net.input('position_ids', 'int64', ins.position_ids!.shape);
      const past_kv = ins.past_kv ? net.input('past_kv', dtype, ins.past_kv.shape) : undefined;
      const out = llama_forward(cfg, llamaWeights(net, cfg, m.weights, dtype), { input_ids, attention_mask, position_ids, past_kv });
      net.markOutput(out.logits, 'logits');
    });
    const feeds: Record<string, HostTensor> = { input_ids: ins.input_ids!, attention_mask: ins.attention_mask!, position_ids: ins.position_ids! };
    if (ins.past_kv) feeds.past_kv = inDtype(ins.past_kv, dtype);
    const got = (await run(g, feeds)).logits!.data as Float32Array;
    const want = c.outputs.logits!.data as Float32Array;
    const [B, q, V] = c.outputs.logits!.shape as [number, number, number];
    const ids = ins.input_ids!.data as BigInt64Array;
    const pad = BigInt(cfg.padTokenId);
    for (let b = 0; b < B; b++) {
      // Left padding (context cases) is not compared.
      let first = 0;
      if (!ins.past_kv) while (first < q && ids[b * q + first] === pad) first++;
      for (let i = first; i < q; i++)
        for (let v = 0; v < V; v++) {
          const k = (b * q + i) * V + v;
          maxAbs = Math.max(maxAbs, Math.abs(got[k]! - want[k]!));
          maxLogit = Math.max(maxLogit, Math.abs(want[k]!));
        }
    }
  }
  return { maxAbs, maxLogit, cases: cases.length };
}

/** Bounds the README states: float32 as the goldens' own tolerance; half as measured, with headroom. */
export const LOGIT_TOLERANCE: Record<DType, number> = { float32: 1e-4, float16: 8e-2, bfloat16: 2.5e-1 } as Record<DType, number>;

describe('max |logit error| against the float32 golden llama cases', () => {
  const rows: string[] = [];
  describe.each(['float32', 'float16', 'bfloat16'] as DType[])('%s', (dtype) => {
    it.each(BACKENDS)(`on %s is within the stated bound`, async (backend) => {
      const r = await logitError(dtype, backend);
      expect(r.cases).toBeGreaterThanOrEqual(6);
      rows.push(`${dtype} ${backend} ${r.maxAbs.toExponential(2)} (largest |logit| ${r.maxLogit.toFixed(2)})`);
      expect(r.maxAbs).toBeLessThanOrEqual(LOGIT_TOLERANCE[dtype]);
    });
  });
  afterAll(() => console.log(`precision table:\n${rows.join('\n')}`));
});
