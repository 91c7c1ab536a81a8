/**
 * The host side of generation: drives the ReDrafter step graph call by call on the per-layer KV
 * cache contract. Prompts are ragged rows (no padding, no special id). The host allocates the
 * caches once per generation, sends beams and lengths, reads tokens, and feeds every
 * `<x>_out` back as `<x>` untouched: it appends, copies and re-aligns nothing. Also plain
 * greedy decoding with the LLM-only graph, for comparison. Graph execution is injected
 * (interpreter, ONNX Runtime, TensorRT).
 */
import type { DType } from '../../dsl/dtype.js';
import { allocate } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { ExitCode, RedraftError } from '../../dsl/errors.js';
import { mulberry32 } from '../../dsl/random.js';
import { yieldToSignals } from '../atomic.js';

export type Runner = (graph: Graph, inputs: Record<string, HostTensor>) => Promise<Record<string, HostTensor>>;

/**
 * When generation stops:
 * - `row` (default): each row stops at its own max length (prompt included) or its first EOS
 *   after its prompt; the loop ends when every row has stopped.
 * - `reference`: Apple's reference loop exactly: the rows are thought of as one left-padded
 *   batch, its width (the longest row) bounds the loop, it ends when every row holds an EOS
 *   after the padded prompt width, and `outputIds` are left-padded, truncated to maxLength.
 */
export type Stopping = 'row' | 'reference';

export interface GenerationShape {
  beamWidth: number;
  beamLength: number;
  maxLength: number;
  eosTokenIds: number[];
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  kvDtype: DType;
  stopping?: Stopping;
  /** The id `reference` outputs are left-padded with (never read from prompts); default 0. */
  padTokenId?: number;
  /** Speculative sampling instead of greedy (the step graph must be built with sampling). */
  sampling?: { temperature: number; seed: number; vocabSize: number };
}

export interface GenerationResult {
  /**
   * Per row: prompt then generated tokens, no padding. `row` stopping: at most maxLength tokens,
   * ending at the first EOS after the prompt. `reference`: what the row holds of `outputIds`.
   */
  sequences: bigint[][];
  /** `reference`: rows left-padded with padTokenId to one width, truncated to maxLength; `row`: the sequences. */
  outputIds: bigint[][];
  /** Longest row (reference: the padded width) after each draft–verify step, at most maxLength. */
  lengthsPerStep: number[];
  /** Drafted tokens accepted per row at each step. */
  acceptedPerStep: number[][];
  steps: number;
}

/** Host-side traffic of one generation, for benchmarks: bytes the host built and sent, and read back. */
export interface HostTraffic {
  /** Input bytes the host wrote for each call (fed-back outputs excluded). */
  sentBytes: number;
  /** Output bytes the host read (tokens, lengths; outputs fed back untouched excluded). */
  readBytes: number;
}

const i64 = (shape: number[], v: ArrayLike<number | bigint>): HostTensor => ({ dtype: 'int64', shape, data: BigInt64Array.from(Array.from(v, BigInt)) });
const bytesOf = (t: HostTensor): number => (t.data as ArrayBufferView).byteLength;

/** The per-layer caches k_cache_<l>, v_cache_<l> of `capacity` slots, zeroed (masked slots must be finite). */
function emptyCaches(s: GenerationShape, B: number, capacity: number): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  const shape = [B, s.numKvHeads, capacity, s.headDim];
  for (let l = 0; l < s.numLayers; l++)
    for (const kv of ['k', 'v']) out[`${kv}_cache_${l}`] = { dtype: s.kvDtype, shape, data: allocate(s.kvDtype, B * s.numKvHeads * capacity * s.headDim) };
  return out;
}

/** The in-place outputs of a call, renamed to the inputs they replace (`<x>_out` → `<x>`). */
function fedBack(graph: Graph, out: Record<string, HostTensor>): Record<string, HostTensor> {
  const r: Record<string, HostTensor> = {};
  for (const [o, i] of Object.entries(graph.aliases ?? {})) {
    const t = out[o];
    if (!t) throw new Error(`${graph.name}: the runner returned no '${o}' (in place of '${i}')`);
    r[i] = t;
  }
  return r;
}

/** Left-aligned rows padded with 0 to the longest (slots past each row's length are ignored). */
function leftAligned(rows: readonly (readonly bigint[])[]): HostTensor {
  const T = Math.max(1, ...rows.map((r) => r.length));
  const data = new BigInt64Array(rows.length * T);
  rows.forEach((r, b) => data.set(r, b * T));
  return { dtype: 'int64', shape: [rows.length, T], data };
}

function checkPrompt(prompt: readonly (readonly bigint[])[]): void {
  if (!prompt.length) throw new Error('generation needs at least one prompt row');
  prompt.forEach((r, b) => {
    if (!r.length) throw new Error(`prompt row ${b} is empty`);
  });
}

/** Index of the first EOS at or after `from`, or -1. */
function eosAt(row: readonly bigint[], from: number, eos: ReadonlySet<bigint>): number {
  for (let i = from; i < row.length; i++) if (eos.has(row[i]!)) return i;
  return -1;
}

/** A finished row: at most maxLength tokens, ending at its first EOS after the prompt. */
function finish(row: readonly bigint[], promptLen: number, maxLength: number, eos: ReadonlySet<bigint>): bigint[] {
  const r = row.slice(0, maxLength);
  const at = eosAt(r, promptLen, eos);
  return at >= 0 ? r.slice(0, at + 1) : r;
}

/**
 * The reference's view of ragged rows: each left-padded to the longest; generation stops once
 * every padded row holds an EOS at or after `from` (the padded prompt width).
 */
function padded(rows: readonly (readonly bigint[])[], pad: bigint): bigint[][] {
  const n = Math.max(...rows.map((r) => r.length));
  return rows.map((r) => [...Array<bigint>(n - r.length).fill(pad), ...r]);
}
const allHaveEos = (rows: readonly (readonly bigint[])[], from: number, eos: ReadonlySet<bigint>) => eos.size > 0 && rows.every((r) => eosAt(r, from, eos) >= 0);

/**
 * ReDrafter generation (greedy, or speculative sampling with `s.sampling`). `prompt` holds one
 * ragged row of token ids per batch row; every id is an ordinary token.
 * `onStep(step, length, accepted, rows)` reports progress; `rows` are each row's tokens so far
 * (possibly past maxLength until the result truncates them), for streaming.
 * `traffic`, when given, is filled with the host's bytes per call (benchmarks).
 */
export async function redrafterGenerate(
  step: Graph,
  run: Runner,
  prompt: bigint[][],
  s: GenerationShape,
  onStep?: (step: number, length: number, accepted: number[], rows: readonly bigint[][]) => void,
  traffic?: HostTraffic,
): Promise<GenerationResult> {
  checkPrompt(prompt);
  const B = prompt.length;
  const { beamWidth: W, beamLength: L } = s;
  const reference = s.stopping === 'reference';
  const eos = new Set(s.eosTokenIds.map(BigInt));
  const promptLens = prompt.map((r) => r.length);
  const T = Math.max(...promptLens);
  // One capacity for the whole generation: a call writes its prompt slot (T, then 1) and W·L
  // draft entries after the longest cache (at most maxLength - 1 tokens before a call).
  const capacity = Math.max(T, s.maxLength - 1) + W * L;
  // Sampling: uniforms from a seeded generator so a run is reproducible.
  const rand = mulberry32(s.sampling?.seed ?? 0);
  const uniforms = (n: number): HostTensor['data'] => Float32Array.from({ length: n }, rand);
  const samplingInputs = (prevLogProbs?: HostTensor): Record<string, HostTensor> =>
    s.sampling
      ? {
          temperature: { dtype: 'float32', shape: [B], data: new Float32Array(B).fill(s.sampling.temperature) },
          ...(prevLogProbs ? {} : { prev_log_probs: { dtype: 'float32', shape: [B, W, L - 1, s.sampling.vocabSize], data: new Float32Array(B * W * (L - 1) * s.sampling.vocabSize) } as HostTensor }),
          uniform_accept: { dtype: 'float32', shape: [B, W, L - 1], data: uniforms(B * W * (L - 1)) },
          uniform_sample: { dtype: 'float32', shape: [B], data: uniforms(B) },
        }
      : {};
  const call = async (sent: Record<string, HostTensor>, kept: Record<string, HostTensor>) => {
    if (traffic) for (const t of Object.values(sent)) traffic.sentBytes += bytesOf(t);
    const out = await run(step, { ...sent, ...kept });
    if (traffic) for (const k of ['n_accepted', 'accepted_tokens', 'next_beams', 'next_cache_lengths']) if (out[k]) traffic.readBytes += bytesOf(out[k]!);
    return out;
  };
  // Context call: every row processes its whole prompt into an empty cache.
  const ctxSent = {
    is_context: { dtype: 'bool', shape: [B], data: new Uint8Array(B).fill(1) } as HostTensor,
    input_ids: leftAligned(prompt),
    prompt_lengths: i64([B], promptLens),
    beams: i64([B, W, L], new Array(B * W * L).fill(0)),
    cache_lengths: i64([B], new Array(B).fill(0)),
    ...samplingInputs(),
  };
  let res = await call(ctxSent, emptyCaches(s, B, capacity));
  // ids[b]: the tokens in row b's cache; next[b]: the token after them (column 0 of next_beams).
  const ids = prompt.map((r) => [...r]);
  const nextOf = (bm: HostTensor) => Array.from({ length: B }, (_, b) => (bm.data as BigInt64Array)[b * W * L]!);
  let next = nextOf(res.next_beams!);
  const rows = () => ids.map((r, b) => [...r, next[b]!]);
  const active = promptLens.map((n, b) => !(n + 1 >= s.maxLength || eos.has(next[b]!)));
  const pad = BigInt(s.padTokenId ?? 0);
  let seqLen = T; // reference: the padded batch width
  const lengthsPerStep: number[] = [];
  const acceptedPerStep: number[][] = [];
  const genSent = (): Record<string, HostTensor> => ({
    is_context: { dtype: 'bool', shape: [B], data: new Uint8Array(B) },
    input_ids: i64([B, 1], new Array(B).fill(0)),
    prompt_lengths: i64([B], new Array(B).fill(0)),
    // A stopped row (row stopping) runs on at length 0: its result is ignored and its cache no longer read.
    cache_lengths: i64([B], ids.map((r, b) => (reference || active[b] ? r.length : 0))),
  });
  const more = () => (reference ? seqLen < s.maxLength : active.some(Boolean));
  while (more()) {
    await yieldToSignals(); // each step is synchronous work: let Ctrl-C in between steps
    const sent = { ...genSent(), ...samplingInputs(res.next_log_probs) };
    // Outputs fed back untouched: the caches (in place), the beams and their log-probs.
    const kept = { ...fedBack(step, res), beams: res.next_beams!, ...(s.sampling ? { prev_log_probs: res.next_log_probs! } : {}) };
    if (traffic) traffic.sentBytes += bytesOf(kept.beams);
    res = await call(sent, kept);
    const n = Array.from(res.n_accepted!.data as BigInt64Array, Number);
    const accepted = res.accepted_tokens!.data as BigInt64Array;
    const lens = res.next_cache_lengths!.data as BigInt64Array;
    const newNext = nextOf(res.next_beams!);
    for (let b = 0; b < B; b++) {
      if (!reference && !active[b]) continue;
      ids[b]!.push(...accepted.subarray(b * L, b * L + n[b]! + 1));
      next[b] = newNext[b]!;
      if (Number(lens[b]) !== ids[b]!.length) throw new RedraftError(`the engine broke the KV contract at step ${lengthsPerStep.length + 1}: row ${b}'s next_cache_lengths is ${lens[b]}, the host counted ${ids[b]!.length} tokens (cache_lengths + n_accepted + 1)`, {
          exitCode: ExitCode.badModel,
          hint: 'the engine is not this redraft\'s step graph: rebuild it with `redraft build` (on redraft\'s TensorRT double this is expected: its outputs are a pattern, not the model\'s)',
        });
      const out = ids[b]!.length + 1;
      if (out >= s.maxLength || eosAt([...ids[b]!, next[b]!], promptLens[b]!, eos) >= 0) active[b] = false;
    }
    seqLen = Math.max(...ids.map((r) => r.length)) + 1;
    lengthsPerStep.push(Math.min(seqLen, s.maxLength)); // the reference yields output truncated to max_length
    acceptedPerStep.push(n);
    const grown = rows();
    onStep?.(lengthsPerStep.length, seqLen, n, grown);
    if (reference && allHaveEos(padded(grown, pad), T, eos)) break;
  }
  const final = rows();
  if (reference) {
    const outputIds = padded(final, pad).map((r) => r.slice(0, s.maxLength));
    const width = Math.max(...final.map((r) => r.length));
    // What each row holds of the truncated padded matrix: its tokens after its left padding.
    const sequences = final.map((r) => r.slice(0, Math.max(0, s.maxLength - (width - r.length))));
    return { sequences, outputIds, lengthsPerStep, acceptedPerStep, steps: lengthsPerStep.length };
  }
  const sequences = final.map((r, b) => finish(r, promptLens[b]!, s.maxLength, eos));
  return { sequences, outputIds: sequences, lengthsPerStep, acceptedPerStep, steps: lengthsPerStep.length };
}

/**
 * Each row ending at its first EOS after its prompt (inclusive). Under `reference` stopping the
 * loop stops only when every row has an EOS, as the reference does; a row that finished earlier
 * went on decoding, and what it produced after its EOS is dropped here. `prompt` holds the
 * prompt rows the generation started from (ragged, as passed to the loop).
 */
export function finishedRows(rows: readonly (readonly bigint[])[], prompt: readonly (readonly bigint[])[], eosTokenIds: readonly number[]): bigint[][] {
  const eos = new Set(eosTokenIds.map(BigInt));
  return rows.map((row, b) => {
    const at = eosAt(row, prompt[b]!.length, eos);
    return at >= 0 ? row.slice(0, at + 1) : [...row];
  });
}

/**
 * Plain greedy decoding with the LLM-only graph (one token per call), on the same cache
 * contract; `onToken(rows)` after each token. Returns each row's tokens (prompt included):
 * `row` stopping as for redrafterGenerate; `reference`: every row decodes until the padded
 * width reaches maxLength or every row has an EOS, each row truncated to the padded maxLength.
 */
export async function autoregressiveGenerate(llm: Graph, run: Runner, prompt: bigint[][], s: GenerationShape, onToken?: (rows: readonly bigint[][]) => void): Promise<bigint[][]> {
  checkPrompt(prompt);
  const B = prompt.length;
  const reference = s.stopping === 'reference';
  const eos = new Set(s.eosTokenIds.map(BigInt));
  const promptLens = prompt.map((r) => r.length);
  const T = Math.max(...promptLens);
  const capacity = Math.max(T, s.maxLength);
  let res = await run(llm, { input_ids: leftAligned(prompt), prompt_lengths: i64([B], promptLens), cache_lengths: i64([B], new Array(B).fill(0)), ...emptyCaches(s, B, capacity) });
  const rows = prompt.map((r) => [...r]);
  const active = new Array<boolean>(B).fill(true);
  let width = T;
  for (;;) {
    const next = res.next_token!.data as BigInt64Array;
    rows.forEach((r, b) => {
      if (!active[b] && !reference) return;
      r.push(next[b]!);
      if (r.length >= s.maxLength || eosAt(r, promptLens[b]!, eos) >= 0) active[b] = false;
    });
    width++;
    onToken?.(rows);
    if (reference ? width >= s.maxLength || allHaveEos(padded(rows, 0n), T, eos) : !active.some(Boolean)) break;
    await yieldToSignals();
    // Each row feeds its last token (a stopped row too: its result is ignored, it stays within capacity).
    const last = rows.map((r) => r[r.length - 1]!);
    res = await run(llm, { input_ids: i64([B, 1], last), prompt_lengths: i64([B], new Array(B).fill(1)), cache_lengths: i64([B], rows.map((r) => r.length - 1)), ...fedBack(llm, res) });
  }
  if (reference) return rows.map((r) => r.slice(0, Math.max(0, s.maxLength - (width - r.length))));
  return rows.map((r, b) => finish(r, promptLens[b]!, s.maxLength, eos));
}
