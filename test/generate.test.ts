/**
 * The generation loop: interpreter and ONNX Runtime agree, half-precision drafters stay close to
 * float32, sampling, in-flight batching and end of sequence. (Lossless vs greedy decoding, over
 * random models in every dtype and backend: test/precision-*.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInputs, runGraph } from '../builders/interp/index.js';
import { onnxEnv } from '../builders/onnx/env.js';
import { autoregressiveGenerate, finishedRows, redrafterGenerate, type GenerationShape } from '../builders/generate/loop.js';
import { checkFinite } from '../builders/generate/finite.js';
import { checkStepInputs, stepVocabSize } from '../builders/generate/step-inputs.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { generationShape, randomPair } from './precision-util.js';
import { buildNetwork } from '../dsl/network.js';
import { hostTensor, toNumbers, type HostTensor } from '../dsl/host.js';
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
    const prompt = [[3n, 4n, 5n], [0n, 6n]];
    const s = shapeOf(def, 2, 3, 14);
    const env = onnxEnv();
    const a = await redrafterGenerate(def.stepGraph(o), interp, prompt, s);
    const b = await redrafterGenerate(def.stepGraph(o), env.run, prompt, s);
    expect(b.sequences).toEqual(a.sequences);
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
    expect(a.sequences[0].every((t) => t >= 0n && t < 16n)).toBe(true);
    const cold = await sample(1e-4, 3);
    const greedy = await redrafterGenerate(def.stepGraph(o), interp, prompt, base);
    expect(cold.outputIds).toEqual(greedy.outputIds);
  });
});

describe('in-flight batching and chunked prefill on the per-layer cache contract', () => {
  const { llm, drafter } = models(9, 16, 8, 2);
  const def = redrafterModel(llm, drafter, { name: 'mix' });
  const W = 2;
  const L = 3;
  const C = 16; // capacity
  const step = def.stepGraph({ dtype: 'float32', beamWidth: W, beamLength: L, maxBatch: 2, maxSeq: 40 });
  const c = def.llmConfig;
  const perRow = c.numKvHeads * C * c.headDim;
  const cacheNames = Array.from({ length: c.numLayers }, (_, l) => [`k_cache_${l}`, `v_cache_${l}`]).flat();
  const zeros = (B: number) => Object.fromEntries(cacheNames.map((n) => [n, hostTensor('float32', [B, c.numKvHeads, C, c.headDim], new Array(B * perRow).fill(0))]));
  const fed = (out: Record<string, HostTensor>) => Object.fromEntries(cacheNames.map((n) => [n, out[`${n}_out`]!]));
  const noBeams = (B: number) => hostTensor('int64', [B, W, L], new Array(B * W * L).fill(0));
  const ctx = (ids: number[], cached: number, caches: Record<string, HostTensor>, pad = 0) =>
    runGraph(step, { is_context: hostTensor('bool', [1], [1]), input_ids: hostTensor('int64', [1, ids.length + pad], [...ids, ...new Array(pad).fill(13)]), prompt_lengths: hostTensor('int64', [1], [ids.length]), beams: noBeams(1), cache_lengths: hostTensor('int64', [1], [cached]), ...caches });
  const row = (t: { data: ArrayLike<unknown>; shape: number[] }, b: number) => Array.from(t.data).slice((b * t.data.length) / t.shape[0], ((b + 1) * t.data.length) / t.shape[0]);
  /** The first `n` cache slots of row b of every layer cache. */
  const kept = (out: Record<string, HostTensor>, b: number, n: number) =>
    cacheNames.map((name) => {
      const d = row(out[`${name}_out`]!, b) as number[];
      return Array.from({ length: c.numKvHeads }, (_, h) => d.slice(h * C * c.headDim, (h * C + n) * c.headDim)).flat();
    });

  it('a batch mixing a context row and a generation row gives each row its solo result', () => {
    // Row B first processes its prompt alone, giving it a cache and beams.
    const ctxB = ctx([7, 8, 9], 0, zeros(1));
    expect(row(ctxB.next_cache_lengths, 0)).toEqual([3n]);
    const soloB = runGraph(step, { is_context: hostTensor('bool', [1], [0]), input_ids: hostTensor('int64', [1, 1], [5]), prompt_lengths: hostTensor('int64', [1], [0]), beams: ctxB.next_beams, cache_lengths: hostTensor('int64', [1], [3]), ...fed(ctxB) });
    const promptA = [3, 4, 5, 6];
    const soloA = ctx(promptA, 0, zeros(1));
    // Mixed: row 0 = A (context, empty cache), row 1 = B (generation on its cache). Row 1's prompt slot holds any ids.
    const caches = Object.fromEntries(cacheNames.map((n) => [n, hostTensor('float32', [2, c.numKvHeads, C, c.headDim], [...new Array(perRow).fill(0), ...(ctxB[`${n}_out`]!.data as Float32Array)])]));
    const mixed = runGraph(step, {
      is_context: hostTensor('bool', [2], [1, 0]),
      input_ids: hostTensor('int64', [2, 4], [...promptA, 11, 12, 13, 14]),
      prompt_lengths: hostTensor('int64', [2], [4, 0]),
      beams: hostTensor('int64', [2, W, L], [...new Array(W * L).fill(0n), ...(ctxB.next_beams.data as BigInt64Array)]),
      cache_lengths: hostTensor('int64', [2], [0, 3]),
      ...caches,
    });
    expect(row(mixed.next_beams, 0)).toEqual(row(soloA.next_beams, 0));
    expect(row(mixed.next_beams, 1)).toEqual(row(soloB.next_beams, 0));
    expect(row(mixed.n_accepted, 1)).toEqual(row(soloB.n_accepted, 0));
    expect(row(mixed.accepted_tokens, 1)).toEqual(row(soloB.accepted_tokens, 0));
    const nB = Number(row(soloB.next_cache_lengths, 0)[0]);
    expect(row(mixed.next_cache_lengths, 0)).toEqual([4n]);
    expect(row(mixed.next_cache_lengths, 1)).toEqual([BigInt(nB)]);
    expect(nB).toBe(3 + Number(row(soloB.n_accepted, 0)[0]) + 1);
    // The caches the rows keep are their solo caches (history, then the chosen beam compacted in place).
    expect(kept(mixed, 0, 4)).toEqual(kept(soloA, 0, 4));
    kept(mixed, 1, nB).forEach((got, i) => got.forEach((v, j) => expect(v).toBeCloseTo(kept(soloB, 0, nB)[i]![j]!, 5)));
  });

  it('a prompt in two chunks (a context row with a non-empty cache) equals the prompt in one call; slots past prompt_lengths are ignored', () => {
    const prompt = [3, 0, 5, 6, 2];
    const whole = ctx(prompt, 0, zeros(1));
    const first = ctx(prompt.slice(0, 2), 0, zeros(1), 2); // two ignored slots after the chunk
    const second = ctx(prompt.slice(2), 2, fed(first));
    expect(row(second.next_cache_lengths, 0)).toEqual([5n]);
    expect(row(second.next_beams, 0)).toEqual(row(whole.next_beams, 0));
    kept(second, 0, 5).forEach((got, i) => got.forEach((v, j) => expect(v).toBeCloseTo(kept(whole, 0, 5)[i]![j]!, 5)));
  });
});

describe('the host loop', () => {
  it('rows of different lengths each reach their own max length, and equal their solo runs and greedy decoding', async () => {
    const { llm, drafter } = models(23, 16, 8, 1);
    const def = redrafterModel(llm, drafter, { name: 'ragged' });
    const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 3, maxSeq: 40 };
    const prompt = [[3n, 4n], [0n, 0n, 15n, 9n, 6n, 5n, 4n], [0n]];
    const s = shapeOf(def, 2, 3, 13);
    const r = await redrafterGenerate(def.stepGraph(o), interp, prompt, s);
    expect(r.sequences.map((x) => x.length)).toEqual([13, 13, 13]);
    r.sequences.forEach((x, b) => expect(x.slice(0, prompt[b]!.length)).toEqual(prompt[b]));
    const ar = await autoregressiveGenerate(def.llmGraph(o), interp, prompt, s);
    expect(r.sequences).toEqual(ar);
    for (const [b, p] of prompt.entries()) expect((await redrafterGenerate(def.stepGraph(o), interp, [p], s)).sequences[0]).toEqual(r.sequences[b]);
  });

  it('under the reference stopping the padded width bounds the loop: outputs left-padded, truncated to max length', async () => {
    const { llm, drafter } = models(23, 16, 8, 1);
    const def = redrafterModel(llm, drafter, { name: 'ref' });
    const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 40 };
    const prompt = [[3n, 4n], [1n, 14n, 9n, 6n, 5n]];
    const s = { ...shapeOf(def, 2, 3, 12), stopping: 'reference' as const, padTokenId: 15 };
    const r = await redrafterGenerate(def.stepGraph(o), interp, prompt, s);
    expect(r.outputIds.every((x) => x.length === 12)).toBe(true);
    r.outputIds.forEach((x, b) => expect(x.slice(x.length - r.sequences[b]!.length)).toEqual(r.sequences[b]));
    expect(r.sequences[1]!.length).toBe(12); // the longest row bounds the loop
    expect(r.lengthsPerStep[r.lengthsPerStep.length - 1]).toBe(12);
    // Row 0 stops short of 12 (its pad fills the width) and agrees with its own greedy tokens.
    const ar = await autoregressiveGenerate(def.llmGraph(o), interp, [prompt[0]!], shapeOf(def, 2, 3, 12));
    expect(ar[0]!.slice(0, r.sequences[0]!.length)).toEqual(r.sequences[0]);
  });

  it('redraft generate: --prompt-ids 0,0,17,42 stays 0,0,17,42, and each row of a mixed batch runs to its own --max-length or EOS, as greedy decoding', () => {
    const root = path.resolve(__dirname, '..');
    const cli = (...a: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'redraft.js'), 'generate', '--model', 'tiny-redrafter', '--prompt-ids', '0,0,17,42;5', '--max-length', '12', '--json', ...a], { cwd: root, encoding: 'utf8' });
    const spec = cli();
    expect(spec.status, spec.stderr).toBe(0);
    const rows = (JSON.parse(spec.stdout) as { tokens: number[][] }).tokens;
    expect(rows[0]!.slice(0, 4)).toEqual([0, 0, 17, 42]);
    expect(rows[1]![0]).toBe(5);
    // Each row runs to its own max length or its EOS (tiny-redrafter's eos_token_id is 2): row 1 stops at its EOS, row 0 goes on to 12.
    expect(rows[0]!.length).toBe(12);
    expect(rows[1]![rows[1]!.length - 1]).toBe(2);
    const greedy = cli('--autoregressive');
    expect(greedy.status, greedy.stderr).toBe(0);
    expect((JSON.parse(greedy.stdout) as { tokens: number[][] }).tokens).toEqual(rows);
  });

  it('the host sends beams and lengths, and feeds the caches back untouched', async () => {
    const { llm, drafter } = models(3, 16, 8, 2);
    const def = redrafterModel(llm, drafter, { name: 'fed' });
    const step = def.stepGraph({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 40 });
    expect(step.aliases).toEqual({ k_cache_0_out: 'k_cache_0', v_cache_0_out: 'v_cache_0', k_cache_1_out: 'k_cache_1', v_cache_1_out: 'v_cache_1' });
    let last: Record<string, HostTensor> | undefined;
    let calls = 0;
    const traffic = { sentBytes: 0, readBytes: 0 };
    const watched = async (g: Parameters<typeof runGraph>[0], i: Record<string, HostTensor>) => {
      if (last) for (const [o, n] of Object.entries(g.aliases!)) expect(i[n]).toBe(last[o]);
      if (last) expect(i.beams).toBe(last.next_beams);
      calls++;
      return (last = runGraph(g, i));
    };
    const r = await redrafterGenerate(step, watched, [[5n, 6n, 7n]], shapeOf(def, 2, 3, 20), undefined, traffic);
    expect(calls).toBe(r.steps + 1);
    // As on TensorRT, where the caches stay on the device: the loops (and --check-finite) never read them.
    const real = new WeakMap<object, HostTensor>();
    const resident = (run: (g: Parameters<typeof runGraph>[0], i: Record<string, HostTensor>) => Record<string, HostTensor>) => async (g: Parameters<typeof runGraph>[0], i: Record<string, HostTensor>) => {
      const out = run(g, Object.fromEntries(Object.entries(i).map(([k, t]) => [k, real.get(t) ?? t])));
      for (const o of Object.keys(g.aliases ?? {})) {
        const t = { dtype: out[o]!.dtype, shape: out[o]!.shape, get data(): never { throw new Error(`the loop read ${o}`); } } as HostTensor;
        real.set(t, out[o]!);
        out[o] = t;
      }
      return out;
    };
    const onDevice = await redrafterGenerate(step, checkFinite(resident(runGraph)), [[5n, 6n, 7n]], shapeOf(def, 2, 3, 20));
    expect(onDevice.sequences).toEqual(r.sequences);
    const llmStep = def.llmGraph({ dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 1, maxSeq: 40 });
    expect(await autoregressiveGenerate(llmStep, resident(runGraph), [[5n, 6n, 7n]], shapeOf(def, 2, 3, 20))).toEqual(r.sequences);
    // Per generation call: is_context, input_ids, prompt_lengths, cache_lengths, beams (1 row) and the tokens read back.
    const perCall = 1 + 8 + 8 + 8 + 2 * 3 * 8;
    expect(traffic.sentBytes).toBe(1 + 3 * 8 + 8 + 2 * 3 * 8 + 8 + r.steps * perCall);
  });
});

describe('end of sequence', () => {
  it('finishedRows cuts each row after its first EOS past its prompt (rows are unpadded: a leading 0 is a token)', () => {
    const rows = [
      [0n, 5n, 2n, 7n, 2n, 9n], // prompt [0, 5, 2]: the 2 inside the prompt is not an EOS
      [4n, 6n, 8n, 3n, 3n, 1n],
    ];
    const prompt = [
      [0n, 5n, 2n],
      [4n, 6n, 8n],
    ];
    expect(finishedRows(rows, prompt, [2, 3])).toEqual([
      [0n, 5n, 2n, 7n, 2n],
      [4n, 6n, 8n, 3n],
    ]);
    expect(finishedRows(rows, prompt, [])).toEqual(rows);
  });
  it('generation stops once every row has an EOS, and each row ends at its own', async () => {
    const { llm, drafter } = models(41, 24, 16, 1);
    const def = redrafterModel(llm, drafter, { name: 'eos' });
    const opts = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 };
    const step = def.stepGraph(opts);
    const prompt = [
      [3n, 4n],
      [5n, 6n, 7n],
    ];
    const free = await redrafterGenerate(step, interp, prompt, shapeOf(def, 2, 3, 24));
    const plain = free.sequences;
    const eos = Number(plain[0]![2]); // row 0's first generated token
    const stopped = await redrafterGenerate(step, interp, prompt, { ...shapeOf(def, 2, 3, 24), eosTokenIds: [eos] });
    const rows = stopped.sequences;
    expect(rows[0]).toEqual(plain[0]!.slice(0, 3)); // prompt + the EOS
    rows.forEach((r, b) => expect(plain[b]!.slice(0, r.length)).toEqual(r)); // same tokens up to each row's end
    rows.forEach((r, b) => expect(r.length === 24 || r.slice(prompt[b]!.length).includes(BigInt(eos))).toBe(true));
    expect(finishedRows(rows, prompt, [eos])).toEqual(rows);
  });
});

describe('step inputs checked on the host (run --inputs)', () => {
  const { llm, drafter } = models(23, 16, 8, 1);
  const def = redrafterModel(llm, drafter, { name: 'checked' });
  const o = { dtype: 'float32' as const, beamWidth: 2, beamLength: 3, maxBatch: 3, maxSeq: 40 };
  const i64 = (shape: number[], v: number[]): HostTensor => ({ dtype: 'int64', shape, data: BigInt64Array.from(v.map(BigInt)) });
  const caches = (B: number, C: number) => Object.fromEntries(['k_cache_0', 'v_cache_0'].map((n) => [n, { dtype: 'float32', shape: [B, 1, C, 4], data: new Float32Array(B * C * 4) } as HostTensor]));

  it('every call the host loop makes passes (redrafter_step and llm_step, both stoppings)', async () => {
    const checked = (g: Parameters<typeof runGraph>[0], i: Parameters<typeof runGraph>[1]) => {
      checkStepInputs(g, i);
      return interp(g, i);
    };
    const prompt = [[3n, 4n], [0n, 0n, 15n, 9n, 6n, 5n, 4n], [0n]];
    const step = def.stepGraph(o);
    expect(stepVocabSize(step)).toBe(16);
    expect(stepVocabSize(def.llmGraph(o))).toBe(16);
    await redrafterGenerate(step, checked, prompt, shapeOf(def, 2, 3, 13));
    await redrafterGenerate(step, checked, prompt, { ...shapeOf(def, 2, 3, 12), stopping: 'reference' });
    await autoregressiveGenerate(def.llmGraph(o), checked, prompt, shapeOf(def, 2, 3, 10));
  });

  it('refuses lengths and ids the graph would read out of range, naming the tensor, row, value and bound', () => {
    const step = def.stepGraph(o);
    const good = (over: Record<string, HostTensor> = {}, C = 3 + 6) => ({
      is_context: { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) } as HostTensor,
      input_ids: i64([2, 3], [5, 6, 7, 0, 0, 0]),
      prompt_lengths: i64([2], [3, 0]),
      beams: i64([2, 2, 3], Array(12).fill(1)),
      cache_lengths: i64([2], [0, 0]),
      ...caches(2, C),
      ...over,
    });
    expect(() => checkStepInputs(step, good())).not.toThrow();
    const cases: [Record<string, HostTensor>, number, RegExp][] = [
      [{ prompt_lengths: i64([2], [5, 0]) }, 9, /'prompt_lengths' row 0 is 5, outside \[0, 3\]/],
      [{ prompt_lengths: i64([2], [-1, 0]) }, 9, /'prompt_lengths' row 0 is -1, outside \[0, 3\]/],
      [{ prompt_lengths: i64([2], [0, 0]) }, 9, /'prompt_lengths' row 0 is 0, but is_context marks row 0 as a context row/],
      [{ prompt_lengths: i64([2], [3, 2]) }, 9, /'prompt_lengths' row 1 is 2, but is_context marks row 1 as a generation row, whose prompt_lengths must be 0[\s\S]*fix: pass prompt_lengths 0 for row 1/],
      [{ cache_lengths: i64([2], [0, -2]) }, 9, /'cache_lengths' row 1 is -2, below 0/],
      [{ cache_lengths: i64([2], [0, 100]) }, 9, /'cache_lengths' row 1 is 100: a call writes 100 \+ 3 \(prompt width\) \+ 6 \(W·L\) = 109 slots, beyond the caches' capacity 9/],
      [{}, 4, /'cache_lengths' row 0 is 0: a call writes 0 \+ 3 \(prompt width\) \+ 6 \(W·L\) = 9 slots, beyond the caches' capacity 4/],
      [{ input_ids: i64([2, 3], [5, 16, 7, 0, 0, 0]) }, 9, /'input_ids' row 0 slot 1 is 16, not a token id in \[0, 16\)/],
      [{ input_ids: i64([2, 3], [5, 6, 7, 0, -1, 0]) }, 9, /'input_ids' row 1 slot 1 is -1, not a token id in \[0, 16\)[\s\S]*still embeds it/],
      [{ beams: i64([2, 2, 3], [...Array(10).fill(1), 99, 1]) }, 9, /'beams' row 1 beam 1 slot 1 is 99, not a token id in \[0, 16\)/],
    ];
    for (const [over, C, message] of cases) {
      let err: unknown;
      try {
        checkStepInputs(step, good(over, C));
      } catch (e) {
        err = e;
      }
      expect(err, String(message)).toMatchObject({ exitCode: 2 });
      expect((err as Error).message).toMatch(message);
    }
    // llm_step: every row is a prompt chunk (no is_context), and no draft slots.
    const llm = def.llmGraph(o);
    const ll = (pl: number[], cl: number[], C: number) => ({ input_ids: i64([1, 2], [3, 4]), prompt_lengths: i64([1], pl), cache_lengths: i64([1], cl), ...caches(1, C) });
    expect(() => checkStepInputs(llm, ll([2], [3], 5))).not.toThrow();
    expect(() => checkStepInputs(llm, ll([0], [0], 5))).toThrow(/every row of 'llm_step' processes a prompt chunk/);
    expect(() => checkStepInputs(llm, ll([2], [4], 5))).toThrow(/4 \+ 2 \(prompt width\) = 6 slots, beyond the caches' capacity 5/);
  });

  it('a dim beyond the profile names the build flag and the value it needs', () => {
    const step = def.stepGraph(o); // --max-seq 40, --max-batch 3
    const cap = step.symbols.capacity!;
    const seqMax = (step.symbols.prompt ?? step.symbols.seq)!.max;
    expect(seqMax).toBe(40);
    const inputs = (B: number, C: number) => ({
      is_context: { dtype: 'bool', shape: [B], data: new Uint8Array(B).fill(1) } as HostTensor,
      input_ids: i64([B, 3], Array(3 * B).fill(1)),
      prompt_lengths: i64([B], Array(B).fill(3)),
      beams: i64([B, 2, 3], Array(6 * B).fill(1)),
      cache_lengths: i64([B], Array(B).fill(0)),
      ...caches(B, C),
    });
    expect(() => checkInputs(step, inputs(1, cap.max + 5))).toThrow(new RegExp(`'capacity'\\) is ${cap.max + 5}, outside[\\s\\S]*fix: pass caches of capacity ${cap.max} or less, or rebuild with --max-seq ${seqMax + 5} or more`));
    expect(() => checkInputs(step, inputs(4, 9))).toThrow(/\('batch'\) is 4, outside the declared range \[1, 3\][\s\S]*fix: pass at most 3 rows, or rebuild with --max-batch 4 or more/);
  });
});
