/**
 * The generation loop: interpreter and ONNX Runtime agree, half-precision drafters stay close to
 * float32, sampling, in-flight batching and end of sequence. (Lossless vs greedy decoding, over
 * random models in every dtype and backend: test/precision-*.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { autoregressiveGenerate, finishedRows, redrafterGenerate, type GenerationShape } from '../builders/generate/loop.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { generationShape, randomPair } from './precision-util.js';
import { buildNetwork } from '../dsl/network.js';
import { hostTensor, toNumbers } from '../dsl/host.js';
import { compute_logits, drafterConfigFromHf, drafterWeights } from '../models/redrafter/drafter.js';

const interp = async (g: Parameters<typeof runGraph>[0], i: Parameters<typeof runGraph>[1]) => runGraph(g, i);

const models = (seed: number, vocab: number, hidden: number, layers: number) => randomPair(seed, vocab, hidden, layers);
const shapeOf = (def: ReturnType<typeof redrafterModel>, W: number, L: number, maxLength: number): GenerationShape => generationShape(def, W, L, maxLength, 'float32');

describe('greedy ReDrafter equals greedy decoding', () => {
  // The lossless property over random models runs in test/precision-*.test.ts, in every dtype and backend.
  it('interpreter and ONNX Runtime generate the same tokens', async () => {
    const { llm, drafter } = models(42, 16, 8, 1);
    const def = redrafterModel(llm, drafter, { name: 'x' });
    const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 40 };
    const prompt = [[3n, 4n, 5n], [0n, 6n, 7n]];
    const s = shapeOf(def, 2, 3, 14);
    const env = onnxEnv();
    const a = await redrafterGenerate(def.stepGraph(o), interp, prompt, s);
    const b = await redrafterGenerate(def.stepGraph(o), env.run, prompt, s);
    expect(b.outputIds).toEqual(a.outputIds);
    expect(b.lengthsPerStep).toEqual(a.lengthsPerStep);
  });
});

describe('half-precision drafter builds', () => {
  for (const dtype of ['float16', 'bfloat16'] as const) {
    it(`${dtype} compute_logits stays close to float32`, async () => {
      const { drafter } = models(7, 16, 8, 1);
      const cfg = drafterConfigFromHf(drafter.config);
      const run = (dt: 'float32' | typeof dtype) => {
        const g = buildNetwork('d', (net) => {
          const x = net.input('x', dt, [1, 2, 16]);
          net.markOutput(compute_logits(drafterWeights(net, cfg, drafter.weights, dt), x), 'y');
        });
        const xs = Array.from({ length: 32 }, (_, i) => Math.sin(i));
        return toNumbers(runGraph(g, { x: hostTensor(dt, [1, 2, 16], xs) }).y);
      };
      const ref = run('float32');
      const half = run(dtype);
      const tol = dtype === 'float16' ? 0.05 : 0.3;
      half.forEach((v, i) => {
        if (ref[i] > -1000) expect(Math.abs(v - ref[i])).toBeLessThan(tol * (1 + Math.abs(ref[i])));
      });
    });
  }
});

describe('speculative sampling', () => {
  it('is reproducible for a seed, and at a tiny temperature equals greedy decoding', async () => {
    const { llm, drafter } = models(5, 16, 8, 1);
    const def = redrafterModel(llm, drafter, { name: 's' });
    const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 40 };
    const prompt = [[3n, 4n, 5n]];
    const base = shapeOf(def, 2, 3, 16);
    const step = def.stepGraph(o, true);
    const sample = (temperature: number, seed: number) => redrafterGenerate(step, interp, prompt, { ...base, sampling: { temperature, seed, vocabSize: 16 } });
    const a = await sample(1, 7);
    const b = await sample(1, 7);
    expect(b.outputIds).toEqual(a.outputIds);
    expect(a.outputIds[0].every((t) => t >= 0n && t < 16n)).toBe(true);
    const cold = await sample(1e-4, 3);
    const greedy = await redrafterGenerate(def.stepGraph(o), interp, prompt, base);
    expect(cold.outputIds).toEqual(greedy.outputIds);
  });
});

describe('in-flight batching', () => {
  it('a batch mixing a context row and a generation row gives each row its solo result', async () => {
    const { llm, drafter } = models(9, 16, 8, 1);
    const def = redrafterModel(llm, drafter, { name: 'mix' });
    const W = 2;
    const L = 3;
    const step = def.stepGraph({ dtype: 'float32', beamWidth: W, beamLength: L, maxBatch: 2, maxSeq: 40 });
    const c = def.llmConfig;
    const kv = (B: number, S: number, data?: ArrayLike<number>) => hostTensor('float32', [c.numLayers, 2, B, c.numKvHeads, S, c.headDim], data ?? new Array(c.numLayers * 2 * B * c.numKvHeads * S * c.headDim).fill(0));
    const noBeams = (B: number) => hostTensor('int64', [B, W, L], new Array(B * W * L).fill(0));
    // Row B first processes its prompt alone, giving it a cache and beams.
    const promptB = [7, 8, 9];
    const ctxB = runGraph(step, { is_context: hostTensor('bool', [1], [1]), input_ids: hostTensor('int64', [1, 3], promptB), beams: noBeams(1), past_padding_mask: hostTensor('int64', [1, 0], []), past_kv: kv(1, 0) });
    const genInputs = (T: number) => ({ beams: ctxB.next_beams, past_padding_mask: hostTensor('int64', [1, 3], [1, 1, 1]), past_kv: ctxB.prompt_kv, pad: T });
    const soloB = runGraph(step, { is_context: hostTensor('bool', [1], [0]), input_ids: hostTensor('int64', [1, 1], [0]), beams: genInputs(1).beams, past_padding_mask: genInputs(1).past_padding_mask, past_kv: ctxB.prompt_kv });
    const promptA = [3, 4, 5, 6];
    const soloA = runGraph(step, { is_context: hostTensor('bool', [1], [1]), input_ids: hostTensor('int64', [1, 4], promptA), beams: noBeams(1), past_padding_mask: hostTensor('int64', [1, 0], []), past_kv: kv(1, 0) });
    // Mixed: row 0 = A (context, no history), row 1 = B (generation); the past is B's cache.
    const pastB = Array.from(ctxB.prompt_kv.data as Float32Array);
    const perRow = c.numKvHeads * 3 * c.headDim;
    const mixedPast: number[] = [];
    for (let lk = 0; lk < c.numLayers * 2; lk++) mixedPast.push(...new Array(perRow).fill(0), ...pastB.slice(lk * perRow, (lk + 1) * perRow));
    const beamsB = Array.from(ctxB.next_beams.data as BigInt64Array);
    const mixed = runGraph(step, {
      is_context: hostTensor('bool', [2], [1, 0]),
      input_ids: hostTensor('int64', [2, 4], [...promptA, 0, 0, 0, 0]),
      beams: hostTensor('int64', [2, W, L], [...new Array(W * L).fill(0n), ...beamsB]),
      past_padding_mask: hostTensor('int64', [2, 3], [0, 0, 0, 1, 1, 1]),
      past_kv: kv(2, 3, mixedPast),
    });
    const row = (t: { data: ArrayLike<unknown>; shape: number[] }, b: number) => Array.from(t.data).slice((b * t.data.length) / t.shape[0], ((b + 1) * t.data.length) / t.shape[0]);
    expect(row(mixed.next_beams, 0)).toEqual(row(soloA.next_beams, 0));
    expect(row(mixed.next_beams, 1)).toEqual(row(soloB.next_beams, 0));
    expect(row(mixed.n_accepted, 1)).toEqual(row(soloB.n_accepted, 0));
    expect(row(mixed.accepted_tokens, 1)).toEqual(row(soloB.accepted_tokens, 0));
  });
});

describe('end of sequence', () => {
  it('finishedRows strips left padding and cuts each row after its first EOS past its prompt', () => {
    const rows = [
      [0n, 0n, 5n, 2n, 7n, 2n, 9n], // prompt [5, 2]: the 2 inside the prompt is not an EOS
      [0n, 4n, 6n, 8n, 3n, 3n, 1n],
    ];
    const prompt = [
      [0n, 5n, 2n],
      [4n, 6n, 8n],
    ];
    expect(finishedRows(rows, prompt, 0, [2, 3])).toEqual([
      [5n, 2n, 7n, 2n],
      [4n, 6n, 8n, 3n],
    ]);
    expect(finishedRows(rows, prompt, 0, [])).toEqual([
      [5n, 2n, 7n, 2n, 9n],
      [4n, 6n, 8n, 3n, 3n, 1n],
    ]);
  });
  it('generation stops once every row has an EOS, and each row ends at its own', async () => {
    const { llm, drafter } = models(41, 24, 16, 1);
    const def = redrafterModel(llm, drafter, { name: 'eos' });
    const opts = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 };
    const step = def.stepGraph(opts);
    const prompt = [
      [0n, 3n, 4n],
      [5n, 6n, 7n],
    ];
    const free = await redrafterGenerate(step, interp, prompt, shapeOf(def, 2, 3, 24));
    const plain = finishedRows(free.outputIds, prompt, 0, []);
    const eos = Number(plain[0]![2]); // row 0's first generated token
    const stopped = await redrafterGenerate(step, interp, prompt, { ...shapeOf(def, 2, 3, 24), eosTokenIds: [eos] });
    const rows = finishedRows(stopped.outputIds, prompt, 0, [eos]);
    expect(rows[0]).toEqual(plain[0]!.slice(0, 3)); // prompt + the EOS
    rows.forEach((r, b) => expect(plain[b]!.slice(0, r.length)).toEqual(r)); // same tokens up to each row's end
    if (stopped.steps < free.steps) rows.forEach((r, b) => expect(r.slice(b === 0 ? 2 : 3)).toContain(BigInt(eos)));
  });
});
