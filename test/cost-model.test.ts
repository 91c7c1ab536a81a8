/**
 * The cost model of `redraft inspect` (builders/inspect.ts stepCost) on the Llama-2-7B-shaped
 * ReDrafter engine in float16 (W=8, L=5, weights not materialized): bytes one generation step
 * moves against the floor (weights + KV read once). Prints the table the README quotes.
 */
import { describe, expect, it } from 'vitest';
import { stepCost, summarize, formatSummary } from '../builders/inspect.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { DRAFTER_7B, LLAMA_7B, drafterShapes, lazyWeights, llamaShapes } from './bench/scenarios.js';

const GB = 1e9;


describe('cost model: the 7B-shaped ReDrafter step in float16', () => {
  const llm = { dir: 'llama-7b-shaped', config: LLAMA_7B, weights: lazyWeights('llama-7b', llamaShapes(LLAMA_7B), 'float16') };
  const drafter = { dir: 'drafter-7b-shaped', config: DRAFTER_7B, weights: lazyWeights('drafter-7b', drafterShapes(DRAFTER_7B), 'float16') };
  const g = redrafterModel(llm, drafter, { name: 'llama-2-7b-shaped' }).build({ dtype: 'float16', beamWidth: 8, beamLength: 5, maxBatch: 8, maxSeq: 4096 });

  it('batch 1, past 2048 (a generation step: one prompt slot): weights, KV, host bytes, floor and ratio within 1.2x', () => {
    const rows: string[] = [];
    for (const [batch, past] of [[1, 2048], [1, 1024], [8, 1023]] as const) {
      const c = stepCost(g, { batch, past, prompt: 1 });
      rows.push(`batch ${batch} past ${past}: FLOPs ${(c.flops / 1e12).toFixed(2)}T, weights ${(c.weightBytes / GB).toFixed(2)} GB, KV read ${(c.kvReadBytes / GB).toFixed(3)} GB, KV written ${(c.kvWriteBytes / GB).toFixed(3)} GB, host ${(c.hostBytes.total / GB).toFixed(3)} GB (${c.hostBytes.largest.map((x) => `${x.name} ${(x.bytes / GB).toFixed(3)}`).join(', ')}), floor ${(c.floorBytes / GB).toFixed(2)} GB, moved ${(c.movedBytes / GB).toFixed(2)} GB, ratio ${c.ratio.toFixed(3)}`);
      // Weights: LLM (6.74e9 parameters) + drafter, 2 bytes each.
      expect(c.weightBytes).toBeGreaterThan(13.4 * GB);
      // The per-layer cache contract: attention reads every slot of the cache, whose capacity the
      // host sizes as past + prompt slot + W·L draft slots.
      expect(c.dims.capacity).toBe(past + 1 + 40);
      // KV read: 32 layers x (k, v) x batch x 32 heads x capacity x 128 x 2 bytes, plus the L = 5
      // entries of the chosen beam the compaction gathers back.
      const entry = 32 * 2 * batch * 32 * 128 * 2; // one slot of every layer's k and v
      expect(c.kvReadBytes).toBe(entry * (past + 1 + 40 + 5));
      // KV written in place: the prompt slot and the draft slots (1 + 40), then the chosen beam (5).
      expect(c.kvWriteBytes).toBe(entry * (1 + 40 + 5));
      // Caches stay on the device: the host sends beams and lengths, reads tokens and the draft log-probs.
      expect(c.hostBytes.largest.map((x) => x.name)).not.toContain('k_cache_0');
      expect(c.hostBytes.largest[0].name).toBe('next_log_probs');
      expect(c.hostBytes.total).toBeLessThan(batch * 5e6);
      expect(c.movedBytes).toBe(c.weightBytes + c.kvReadBytes + c.kvWriteBytes + c.hostBytes.total);
      // The modeled goal: within 1.2x of the floor (weights + KV read once).
      expect(c.ratio).toBeLessThan(1.2);
    }
    console.log(['cost model (7B-shaped ReDrafter, float16, W=8, L=5):', ...rows].join('\n'));
    const s = summarize(g, { batch: 1, past: 2048, prompt: 1 });
    expect(formatSummary(s)).toMatch(/moved \/ floor .* = 1\.\d+x/);
  }, 120_000);
});
