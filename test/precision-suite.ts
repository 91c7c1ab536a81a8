/**
 * Half precision, checked by invariants rather than by backends agreeing with each other
 * (two backends following one wrong graph agree perfectly):
 * - lossless: greedy ReDrafter == greedy autoregressive decoding in the same dtype, token for
 *   token, on every backend (interpreter, ONNX Runtime, TensorRT plan executor);
 * - finite: no NaN/Inf in any step-graph output for any valid input;
 * - agreement with float32: float16 tokens equal the PyTorch float32 goldens.
 */
import fc from 'fast-check';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DType } from '../dsl/dtype.js';
import { hostTensor, type HostTensor } from '../dsl/host.js';
import { autoregressiveGenerate, redrafterGenerate } from '../builders/generate/loop.js';
import { findCases, loadCase } from '../builders/conformance/load.js';
import { loadAnyModel } from '../builders/conformance/env.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { mulberry32 } from '../dsl/random.js';
import { GOLDEN } from './golden-root.js';
import { BACKENDS, generationShape, nonFinite, randomPair, runner, unpadded, type BackendName } from './precision-util.js';

const rowsOf = (t: HostTensor): bigint[][] => Array.from({ length: t.shape[0]! }, (_, b) => Array.from((t.data as BigInt64Array).subarray(b * t.shape[1]!, (b + 1) * t.shape[1]!)));

/**
 * Rows agree on their common length, and speculative decoding added tokens to every row (under
 * the reference's stopping a row may hold fewer than maxLength real tokens).
 */
function expectLossless(speculative: string[], autoregressive: string[], promptLens: number[], what: string): void {
  speculative.forEach((row, b) => {
    const got = row.split(' ');
    const want = autoregressive[b]!.split(' ');
    const n = Math.min(got.length, want.length);
    expect(got.length, `${what} row ${b}`).toBeGreaterThan(promptLens[b]!);
    expect(got.slice(0, n).join(' '), `${what} row ${b}: speculative vs autoregressive`).toBe(want.slice(0, n).join(' '));
  });
}

const generateCases = findCases(path.join(GOLDEN, 'generate')).map(loadCase);

/** The invariants for one dtype (one test file per dtype, so vitest runs them in parallel). */
export function precisionSuite(dtype: DType): void {
  describe.each(BACKENDS)('on %s', (backend: BackendName) => {
    it('golden generate: speculative equals autoregressive; float32 and float16 equal the float32 golden', async () => {
      expect(generateCases.length).toBeGreaterThanOrEqual(6);
      const run = runner(backend);
      for (const c of generateCases) {
        const def = redrafterModel(loadAnyModel(path.resolve(GOLDEN, c.models!.llm!)), loadAnyModel(path.resolve(GOLDEN, c.models!.drafter!)), { name: c.name });
        const W = Number(c.attrs.beam_width);
        const L = Number(c.attrs.beam_length);
        const maxLength = Number(c.attrs.max_length);
        // The golden prompts are left-padded with 0 (their pad id): the loop takes the rows without it.
        const prompt = rowsOf(c.inputs.input_ids!).map((r) => r.slice(r.findIndex((t) => t !== 0n)));
        const o = { dtype, beamWidth: W, beamLength: L, maxBatch: prompt.length, maxSeq: maxLength + W * L + 1 };
        const s = { ...generationShape(def, W, L, maxLength, dtype), stopping: 'reference' as const, padTokenId: 0 };
        const rd = await redrafterGenerate(def.stepGraph(o), run, prompt, s);
        const ar = await autoregressiveGenerate(def.llmGraph(o), run, prompt, s);
        const got = unpadded(rd.outputIds);
        expectLossless(rd.sequences.map((r) => r.join(' ')), ar.map((r) => r.join(' ')), prompt.map((r) => r.length), c.name);
        // bfloat16 keeps 8 significant bits: rounding these models' weights alone moves logits by
        // more than their smallest float32 top-2 margins (README: the precision contract), so its
        // tokens are held to the lossless invariant, not to float32's tokens.
        if (dtype !== 'bfloat16') expect(got, `${c.name}: ${dtype} vs the float32 golden`).toEqual(unpadded(rowsOf(c.outputs.output_ids!)));
      }
    });

    it('random models, prompts, beam shapes and mixed batches: speculative equals autoregressive', async () => {
      const run = runner(backend);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 100_000 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 2, max: 4 }),
          // Ragged rows of any ids, 0 (the config's pad_token_id) included.
          fc.array(fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 }),
          async (seed, W, L, rows) => {
            const { llm, drafter } = randomPair(seed);
            const def = redrafterModel(llm, drafter, { name: 'prop' });
            const n = Math.max(...rows.map((r) => r.length));
            const prompt = rows.map((r) => r.map(BigInt));
            const maxLength = n + 7;
            const o = { dtype, beamWidth: W, beamLength: L, maxBatch: prompt.length, maxSeq: maxLength + W * L + 1 };
            const s = generationShape(def, W, L, maxLength, dtype);
            // Each row stops at its own max length: the rows are equal, token for token and in length.
            const rd = (await redrafterGenerate(def.stepGraph(o), run, prompt, s)).sequences.map((r) => r.join(' '));
            const ar = (await autoregressiveGenerate(def.llmGraph(o), run, prompt, s)).map((r) => r.join(' '));
            expect(rd, `seed ${seed}`).toEqual(ar);
            rd.forEach((r) => expect(r.split(' ').length).toBe(maxLength));
          },
        ),
        { numRuns: backend === 'interp' ? 5 : 2 },
      );
    });

    it('step graph outputs are finite: mixed rows, any prompt and cache lengths, empty caches, limits', async () => {
      const run = runner(backend);
      const W = 3;
      const L = 3;
      const maxBatch = 3;
      const maxSeq = 24;
      const { llm, drafter } = randomPair(7, 16, 8, 2);
      const def = redrafterModel(llm, drafter, { name: 'finite' });
      const step = def.stepGraph({ dtype, beamWidth: W, beamLength: L, maxBatch, maxSeq });
      const c = def.llmConfig;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: maxBatch }),
          fc.integer({ min: 1, max: maxSeq }),
          fc.constantFrom(0, 1, 5, maxSeq - 1),
          fc.integer({ min: 0, max: 2 ** 31 }),
          async (B, T, P, seed) => {
            const rand = mulberry32(seed);
            const int = (n: number) => Math.floor(rand() * n);
            // Rows: context (a prompt chunk of 1..T tokens after 0..P cached), or generation (0..P cached).
            const isContext = Array.from({ length: B }, () => int(3) < 2);
            const promptLens = isContext.map((ctx) => (ctx ? 1 + int(T) : 0));
            // A sequence fits the profile: cache + prompt slot <= max_seq, capacity <= max_seq + W·L.
            const past = Math.min(P, maxSeq - T);
            const cacheLens = isContext.map((ctx) => (ctx ? int(past + 1) : Math.min(1 + int(Math.max(1, past)), maxSeq - T)));
            const C = Math.min(Math.max(...cacheLens) + T + W * L + int(3), maxSeq + W * L);
            const cache = () => hostTensor(dtype, [B, c.numKvHeads, C, c.headDim], Array.from({ length: B * c.numKvHeads * C * c.headDim }, () => rand() * 4 - 2));
            const inputs: Record<string, HostTensor> = {
              is_context: hostTensor('bool', [B], isContext),
              input_ids: hostTensor('int64', [B, T], Array.from({ length: B * T }, () => int(16))),
              prompt_lengths: hostTensor('int64', [B], promptLens),
              beams: hostTensor('int64', [B, W, L], Array.from({ length: B * W * L }, () => int(16))),
              cache_lengths: hostTensor('int64', [B], cacheLens),
            };
            for (let l = 0; l < c.numLayers; l++) [inputs[`k_cache_${l}`], inputs[`v_cache_${l}`]] = [cache(), cache()];
            const out = await run(step, inputs);
            expect(nonFinite(out), `B=${B} T=${T} P=${P} seed=${seed}`).toEqual([]);
            expect(Array.from(out.next_cache_lengths!.data as BigInt64Array, Number)).toEqual(cacheLens.map((n, b) => n + (isContext[b] ? promptLens[b]! : Number((out.n_accepted!.data as BigInt64Array)[b]) + 1)));
          },
        ),
        { numRuns: backend === 'interp' ? 10 : 4 },
      );
    });
  });
}
