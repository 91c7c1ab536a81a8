/**
 * The host side of generation: drives the ReDrafter step graph call by call, keeps the KV
 * cache between calls (append the accepted entries, drop the rest, re-align rows to the right
 * with left padding exactly as the reference's `_update_kv_cache_and_input_ids`), and stops
 * at max length or when every row has produced EOS. Also plain greedy decoding with the
 * LLM-only graph, for comparison. Graph execution is injected (interpreter or ONNX Runtime).
 */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { allocate } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { mulberry32 } from '../../dsl/random.js';
import { yieldToSignals } from '../atomic.js';

export type Runner = (graph: Graph, inputs: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>;

export interface GenerationShape {
  beamWidth: number;
  beamLength: number;
  maxLength: number;
  padTokenId: number;
  eosTokenIds: number[];
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  kvDtype: DType;
  /** Speculative sampling instead of greedy (the step graph must be built with sampling). */
  sampling?: { temperature: number; seed: number; vocabSize: number };
}

export interface GenerationResult {
  /** Rows right-aligned, left-padded with the pad id; at most maxLength long. */
  outputIds: bigint[][];
  /** Padded sequence length after each draft–verify step. */
  lengthsPerStep: number[];
  /** Drafted tokens accepted per row at each step. */
  acceptedPerStep: number[][];
  steps: number;
}

/** A KV cache on the host: (layers, 2, B, kvh, S, hd) in one typed array. */
class KvCache {
  constructor(readonly s: GenerationShape, readonly B: number, public S: number, public data: TypedArray) {}
  static empty(s: GenerationShape, B: number): KvCache {
    return new KvCache(s, B, 0, allocate(s.kvDtype, 0));
  }
  get tensor(): HostTensor {
    return { dtype: this.s.kvDtype, shape: [this.s.numLayers, 2, this.B, this.s.numKvHeads, this.S, this.s.headDim], data: this.data };
  }
  /** Rebuilds the cache with each row b made of `pick(b)`: a list of [source, seqStart, count] runs placed after `pad(b)` empty slots. */
  static assemble(s: GenerationShape, B: number, S: number, rows: { pad: number; runs: { src: HostTensor; start: number; count: number }[] }[]): KvCache {
    const hd = s.headDim;
    const out = allocate(s.kvDtype, s.numLayers * 2 * B * s.numKvHeads * S * hd);
    for (let l = 0; l < s.numLayers * 2; l++)
      for (let b = 0; b < B; b++)
        for (let h = 0; h < s.numKvHeads; h++) {
          let pos = rows[b].pad;
          const dst = (((l * B + b) * s.numKvHeads + h) * S) * hd;
          for (const r of rows[b].runs) {
            const srcS = r.src.shape[4];
            const srcB = r.src.shape[2];
            const base = (((l * srcB + b) * s.numKvHeads + h) * srcS + r.start) * hd;
            (out as Float32Array).set((r.src.data as Float32Array).subarray(base, base + r.count * hd), dst + pos * hd);
            pos += r.count;
          }
        }
    return new KvCache(s, B, S, out);
  }
}

const i64 = (shape: number[], v: bigint[]): HostTensor => ({ dtype: 'int64', shape, data: BigInt64Array.from(v) });

function leftPads(row: bigint[], pad: bigint): number {
  let n = 0;
  while (n < row.length && row[n] === pad) n++;
  return n;
}

function hasEos(rows: bigint[][], from: number, eos: number[]): boolean {
  if (!eos.length) return false;
  const set = new Set(eos.map(BigInt));
  return rows.every((r) => r.slice(from).some((t) => set.has(t)));
}

/**
 * ReDrafter greedy generation. `prompt` rows are left-padded to one length.
 * `onStep(step, length, accepted, rows)` reports progress; `rows` are the sequences so far
 * (left-padded, possibly past maxLength until the result truncates them), for streaming.
 */
export async function redrafterGenerate(step: Graph, run: Runner, prompt: bigint[][], s: GenerationShape, onStep?: (step: number, length: number, accepted: number[], rows: readonly bigint[][]) => void): Promise<GenerationResult> {
  const B = prompt.length;
  const T = prompt[0].length;
  const { beamWidth: W, beamLength: L } = s;
  // Sampling: uniforms from a seeded generator so a run is reproducible.
  const rand = mulberry32(s.sampling?.seed ?? 0);
  const uniforms = (n: number): HostTensor['data'] => Float32Array.from({ length: n }, rand);
  const samplingInputs = (prevLogProbs?: HostTensor): Record<string, HostTensor> =>
    s.sampling
      ? {
          temperature: { dtype: 'float32', shape: [B], data: new Float32Array(B).fill(s.sampling.temperature) },
          prev_log_probs: prevLogProbs ?? { dtype: 'float32', shape: [B, W, L - 1, s.sampling.vocabSize], data: new Float32Array(B * W * (L - 1) * s.sampling.vocabSize) },
          uniform_accept: { dtype: 'float32', shape: [B, W, L - 1], data: uniforms(B * W * (L - 1)) },
          uniform_sample: { dtype: 'float32', shape: [B], data: uniforms(B) },
        }
      : {};
  const pad = BigInt(s.padTokenId);
  const flat = (rows: bigint[][]) => rows.flat();
  // Context call: every row processes its prompt.
  const ctx = await run(step, {
    is_context: { dtype: 'bool', shape: [B], data: new Uint8Array(B).fill(1) },
    input_ids: i64([B, T], flat(prompt)),
    beams: i64([B, W, L], Array(B * W * L).fill(0n)),
    past_padding_mask: i64([B, 0], []),
    past_kv: KvCache.empty(s, B).tensor,
    ...samplingInputs(),
  });
  let cache = KvCache.assemble(s, B, T, prompt.map(() => ({ pad: 0, runs: [{ src: ctx.prompt_kv, start: 0, count: T }] })));
  let ids = prompt.map((r) => [...r]);
  // Left padding per row, counted once from the prompts (which never hold the pad id) and then
  // kept: a generated token equal to the pad id is an ordinary token, not padding.
  let pads = prompt.map((r) => leftPads(r, pad));
  let beams = ctx.next_beams;
  let logProbs = ctx.next_log_probs;
  const nextToken = (bm: HostTensor) => Array.from({ length: B }, (_, b) => (bm.data as BigInt64Array)[b * W * L]);
  let output = ids.map((r, b) => [...r, nextToken(beams)[b]]);
  let seqLen = T;
  const lengthsPerStep: number[] = [];
  const acceptedPerStep: number[][] = [];
  while (seqLen < s.maxLength) {
    await yieldToSignals(); // each step is synchronous work: let Ctrl-C in between steps
    const S = ids[0].length;
    const r = await run(step, {
      is_context: { dtype: 'bool', shape: [B], data: new Uint8Array(B) },
      input_ids: i64([B, 1], Array(B).fill(pad)),
      beams,
      past_padding_mask: i64([B, S], ids.flatMap((row, b) => row.map((_, j) => (j < pads[b]! ? 0n : 1n)))),
      past_kv: cache.tensor,
      ...samplingInputs(logProbs),
    });
    const n = Array.from(r.n_accepted.data as BigInt64Array, Number);
    const accepted = r.accepted_tokens.data as BigInt64Array;
    // Append the chosen beam's first n+1 tokens (its first is the previous call's next token).
    const prevPads = pads;
    const lens = ids.map((row, b) => row.length - prevPads[b] + n[b] + 1);
    const maxLen = Math.max(...lens);
    const newIds = ids.map((row, b) => [...Array(maxLen - lens[b]).fill(pad), ...row.slice(prevPads[b]), ...Array.from(accepted.subarray(b * L, b * L + n[b] + 1))]);
    cache = KvCache.assemble(
      s,
      B,
      maxLen,
      ids.map((_, b) => ({ pad: maxLen - lens[b], runs: [{ src: cache.tensor, start: prevPads[b], count: S - prevPads[b] }, { src: r.selected_kv, start: 0, count: n[b] + 1 }] })),
    );
    ids = newIds;
    pads = lens.map((len) => maxLen - len);
    beams = r.next_beams;
    logProbs = r.next_log_probs;
    const next = nextToken(beams);
    output = ids.map((row, b) => [...row, next[b]]);
    seqLen = output[0].length;
    lengthsPerStep.push(Math.min(seqLen, s.maxLength)); // the reference yields output truncated to max_length
    acceptedPerStep.push(n);
    onStep?.(lengthsPerStep.length, seqLen, n, output);
    if (hasEos(output, T, s.eosTokenIds)) break;
  }
  return { outputIds: output.map((row) => row.slice(0, s.maxLength)), lengthsPerStep, acceptedPerStep, steps: lengthsPerStep.length };
}

/**
 * Each row without its left padding, ending at its first EOS after its prompt (inclusive).
 * The loop itself stops only when every row has an EOS, as the reference does; a row that
 * finished earlier went on decoding, and what it produced after its EOS is dropped here.
 * `prompt` holds the (left-padded) prompt rows the generation started from.
 */
export function finishedRows(rows: readonly bigint[][], prompt: readonly bigint[][], padTokenId: number, eosTokenIds: readonly number[]): bigint[][] {
  const pad = BigInt(padTokenId);
  const eos = new Set(eosTokenIds.map(BigInt));
  return rows.map((row, b) => {
    const r = row.slice(leftPads(row, pad));
    const promptLen = prompt[b]!.length - leftPads(prompt[b]!, pad);
    const at = r.findIndex((t, i) => i >= promptLen && eos.has(t));
    return at >= 0 ? r.slice(0, at + 1) : r;
  });
}

/** Plain greedy decoding with the LLM-only graph (one token per call); `onToken(rows)` after each token. */
export async function autoregressiveGenerate(llm: Graph, run: Runner, prompt: bigint[][], s: GenerationShape, onToken?: (rows: readonly bigint[][]) => void): Promise<bigint[][]> {
  const B = prompt.length;
  const T = prompt[0].length;
  const pad = BigInt(s.padTokenId);
  const pads = prompt.map((r) => leftPads(r, pad));
  // Context: causal over real tokens.
  const mask = new Uint8Array(B * T * T);
  for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) mask[(b * T + i) * T + j] = j >= pads[b]! ? 1 : 0;
  const pos = prompt.flatMap((r, b) => r.map((_, i) => BigInt(i - pads[b])));
  let res = await run(llm, {
    input_ids: i64([B, T], prompt.flat()),
    attention_mask: { dtype: 'bool', shape: [B, T, T], data: mask },
    position_ids: i64([B, T], pos),
    past_kv: KvCache.empty(s, B).tensor,
  });
  const rows = prompt.map((r) => [...r]);
  let cache = res.present_kv;
  for (;;) {
    const next = Array.from(res.next_token.data as BigInt64Array);
    rows.forEach((r, b) => r.push(next[b]));
    onToken?.(rows);
    if (rows[0].length >= s.maxLength || hasEos(rows, T, s.eosTokenIds)) break;
    await yieldToSignals();
    const S = cache.shape[4];
    const m = new Uint8Array(B * (S + 1));
    // Only the left padding is masked: a generated token equal to the pad id stays visible.
    for (let b = 0; b < B; b++) for (let j = 0; j <= S; j++) m[b * (S + 1) + j] = j < S ? (j >= pads[b]! ? 1 : 0) : 1;
    res = await run(llm, {
      input_ids: i64([B, 1], next),
      attention_mask: { dtype: 'bool', shape: [B, 1, S + 1], data: m },
      position_ids: i64([B, 1], rows.map((r, b) => BigInt(S - pads[b]))),
      past_kv: cache,
    });
    cache = res.present_kv;
  }
  return rows.map((r) => r.slice(0, s.maxLength));
}
