/**
 * Before/after benchmark of the engine's KV contract (issue 17), runnable against any checkouts:
 *
 *   npx tsx test/bench/kv-contract.ts [--root DIR]... [--json]
 *
 * DIR defaults to this checkout; pass an old one too (e.g. `git worktree add /tmp/before 89a7c04`
 * with node_modules linked) to measure the old contract (past_kv concatenated in the graph, the
 * cache re-assembled on the host) with the same model and prompt, in the same process: the step
 * timings of the checkouts alternate, so a busy machine slows them alike. Reports, for one generation on ONNX Runtime:
 * - host bytes per generated token (draft–verify steps; the context call is left out): bytes of the inputs the host built for each call (outputs
 *   fed back untouched not counted: they are not copied) — the old loop rebuilds the cache;
 * - host↔device bytes per generated token on a device runtime: every input and output, except
 *   in-place outputs (Graph.aliases) and their inputs, which stay on the device, and (new
 *   contract) next_log_probs, which redraft's TensorRT runner keeps there unless --check-finite
 *   reads it (`...CheckFinite`: with it);
 * and the ONNX Runtime time of one generation call at past 1024 and of the context call over
 * the 1024-token prompt (min / median / max, the checkouts alternating).
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type HostTensor = { dtype: string; shape: number[]; data: ArrayBufferView };
type Graph = { name: string; inputs: { name: string }[]; aliases?: Record<string, string> };
type Run = (g: Graph, i: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>;

const args = process.argv.slice(2);
const given = args.flatMap((a, i) => (a === '--root' ? [path.resolve(args[i + 1]!)] : []));
const roots = given.length ? given : [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')];

// A 4-layer Llama-shaped model (hidden 512, 8 heads of 64, vocab 8000) and its drafter; W = 8, L = 5 as the goal.
const H = 512;
const V = 8000;
const W = 8;
const L = 5;
const PAST = 1024;
const llmCfg = { vocab_size: V, hidden_size: H, intermediate_size: 2 * H, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000, pad_token_id: 0 };
const drCfg = { model_type: 'recurrent_drafting_drafter', vocab_size: V, hidden_size: H, exit_dim: 2 * H, num_draft_layers: 1, num_lookback_tokens: 1, rnn: true };

async function prepare(root: string) {
  const load = (p: string) => import(pathToFileURL(path.join(root, p)).href);
  const { randomModel, llamaShapes, drafterShapes } = await load('test/bench/scenarios.ts');
  const { redrafterModel } = await load('models/redrafter/engine.ts');
  const { redrafterGenerate } = await load('builders/generate/loop.ts');
  const { sessionForGraph, runGraphOnnx } = await load('builders/onnx/env.ts');
  const def = redrafterModel(randomModel('llm', llamaShapes(llmCfg), llmCfg, 11), randomModel('drafter', drafterShapes(drCfg), drCfg, 12), { name: 'bench' });
  const step: Graph = def.stepGraph({ dtype: 'float32', beamWidth: W, beamLength: L, maxBatch: 1, maxSeq: 2048 });
  const old = step.inputs.some((b) => b.name === 'past_kv');
  const session = await sessionForGraph(step);
  const ort: Run = (g, i) => runGraphOnnx(session, g, i);
  const c = def.llmConfig;

  // 1. One generation from a PAST-token prompt, 32 new tokens, counting what the host moves.
  // Weak: holding every output of the generation (the new contract's are whole caches) would slow the run it measures.
  const seen = new WeakSet<ArrayBufferView>();
  let built = 0;
  let crossing = 0;
  const onDevice = new Set([...Object.keys(step.aliases ?? {}), ...Object.values(step.aliases ?? {})]);
  // redraft's TensorRT runner also leaves next_log_probs on the device (bin/engine.ts): greedy
  // decoding never reads it; --check-finite (the default) does, which `checkedBytes` adds.
  const lazy = old ? new Set<string>() : new Set(['next_log_probs']);
  let lazyBytes = 0;
  // The context call (which allocates the caches once, and yields one token) is left out: per
  // token means per token of the draft–verify steps.
  let calls = 0;
  const callMs: number[] = [];
  const counted: Run = async (g, inputs) => {
    const steady = calls++ > 0;
    for (const [n, t] of Object.entries(inputs)) {
      if (steady && !seen.has(t.data)) built += t.data.byteLength;
      if (steady && !onDevice.has(n)) crossing += t.data.byteLength;
    }
    const t0 = performance.now();
    const out = await ort(g, inputs);
    if (steady) callMs.push(performance.now() - t0);
    for (const [n, t] of Object.entries(out)) {
      seen.add(t.data);
      if (steady && lazy.has(n)) lazyBytes += t.data.byteLength;
      else if (steady && !onDevice.has(n)) crossing += t.data.byteLength;
    }
    return out;
  };
  const prompt = [Array.from({ length: PAST }, (_, i) => BigInt(1 + ((i * 7919) % (V - 1))))];
  const shape = { beamWidth: W, beamLength: L, maxLength: PAST + 32, padTokenId: 0, eosTokenIds: [], numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim, kvDtype: 'float32' };
  const t0 = performance.now();
  const r = await redrafterGenerate(step, counted, prompt, shape);
  const genMs = performance.now() - t0;
  const rows: bigint[][] = r.sequences ?? r.outputIds;
  const generated = rows[0]!.length - PAST - 1; // after the context call's token

  // 2. One generation call at past PAST, timed.
  const i64 = (shape: number[], v: number[]) => ({ dtype: 'int64', shape, data: BigInt64Array.from(v.map(BigInt)) });
  const rnd = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const beams = i64([1, W, L], Array.from({ length: W * L }, (_, i) => 1 + ((i * 31) % (V - 1))));
  const inputs: Record<string, HostTensor> = old
    ? {
        is_context: { dtype: 'bool', shape: [1], data: new Uint8Array(1) },
        input_ids: i64([1, 1], [0]),
        beams,
        past_padding_mask: i64([1, PAST], Array(PAST).fill(1)),
        past_kv: { dtype: 'float32', shape: [c.numLayers, 2, 1, c.numKvHeads, PAST, c.headDim], data: rnd(c.numLayers * 2 * c.numKvHeads * PAST * c.headDim) },
      }
    : {
        is_context: { dtype: 'bool', shape: [1], data: new Uint8Array(1) },
        input_ids: i64([1, 1], [0]),
        prompt_lengths: i64([1], [0]),
        beams,
        cache_lengths: i64([1], [PAST]),
        ...Object.fromEntries(
          Array.from({ length: c.numLayers }, (_, l) => ['k', 'v'].map((kv) => [`${kv}_cache_${l}`, { dtype: 'float32', shape: [1, c.numKvHeads, PAST + 1 + W * L, c.headDim], data: rnd(c.numKvHeads * (PAST + 1 + W * L) * c.headDim) }])).flat(),
        ),
      };
  // 3. The context call over the PAST-token prompt (empty cache), timed.
  const ctxInputs: Record<string, HostTensor> = old
    ? { is_context: { dtype: 'bool', shape: [1], data: Uint8Array.of(1) }, input_ids: i64([1, PAST], prompt[0]!.map(Number)), beams, past_padding_mask: i64([1, 0], []), past_kv: { dtype: 'float32', shape: [c.numLayers, 2, 1, c.numKvHeads, 0, c.headDim], data: new Float32Array(0) } }
    : {
        ...inputs,
        is_context: { dtype: 'bool', shape: [1], data: Uint8Array.of(1) },
        input_ids: i64([1, PAST], prompt[0]!.map(Number)),
        prompt_lengths: i64([1], [PAST]),
        cache_lengths: i64([1], [0]),
      };
  await ort(step, inputs); // warm-up
  const timed = (i: Record<string, HostTensor>) => async () => {
    const t = performance.now();
    await ort(step, i);
    return performance.now() - t;
  };
  const timeStep = timed(inputs);
  const timeContext = timed(ctxInputs);
  return {
    timeStep,
    timeContext,
    result: {
      contract: old ? 'old (past_kv, 89a7c04)' : 'per-layer in place',
      root,
      generatedTokens: generated,
      steps: r.steps,
      hostBuiltBytesPerToken: Math.round(built / generated),
      hostDeviceBytesPerToken: Math.round(crossing / generated),
      hostDeviceBytesPerTokenCheckFinite: Math.round((crossing + lazyBytes) / generated),
      generateMs: Math.round(genMs),
      generateCallMs: callMs,
    },
  };
}

async function main(): Promise<void> {
  const runs = [];
  for (const root of roots) runs.push(await prepare(root));
  const ms: number[][] = runs.map(() => []);
  const ctx: number[][] = runs.map(() => []);
  for (let i = 0; i < 15; i++) for (const [k, r] of runs.entries()) ms[k]!.push(await r.timeStep());
  for (let i = 0; i < 5; i++) for (const [k, r] of runs.entries()) ctx[k]!.push(await r.timeContext());
  const stats = (xs: number[]) => {
    const m = [...xs].sort((a, b) => a - b);
    return { min: +m[0]!.toFixed(1), median: +m[m.length >> 1]!.toFixed(1), max: +m[m.length - 1]!.toFixed(1) };
  };
  const results = runs.map((r, k) => ({ ...r.result, generateCallMs: stats(r.result.generateCallMs), ortStepMsAtPast1024: stats(ms[k]!), ortContextMs1024: stats(ctx[k]!) }));
  for (const result of results)
    process.stdout.write(args.includes('--json') ? JSON.stringify(result) + '\n' : Object.entries(result).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n') + '\n\n');
}

void main();
