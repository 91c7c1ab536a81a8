/** Golden program for the generate suite: the whole draft–verify loop, greedy. */
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { redrafterModel } from '../redrafter/engine.js';
import { attrNumber, type GoldenProgram } from './types.js';

/** What the caller injects as `env.generate` (builders/generate, wrapped). */
export interface GenerateHook {
  redrafter(step: Graph, prompt: bigint[][], shape: GenerateShapeLike): Promise<{ outputIds: bigint[][]; lengthsPerStep: number[] }>;
  autoregressive(llm: Graph, prompt: bigint[][], shape: GenerateShapeLike): Promise<bigint[][]>;
}
export interface GenerateShapeLike {
  beamWidth: number;
  beamLength: number;
  maxLength: number;
  eosTokenIds: number[];
  /** Apple's reference loop: the golden cases come from it. */
  stopping: 'reference';
  padTokenId: number;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  kvDtype: 'float32';
}

const rowsOf = (t: HostTensor): bigint[][] => Array.from({ length: t.shape[0] }, (_, b) => Array.from((t.data as BigInt64Array).subarray(b * t.shape[1], (b + 1) * t.shape[1])));
const toTensor = (rows: bigint[][], pad: bigint): HostTensor => {
  const n = Math.max(...rows.map((r) => r.length));
  const padded = rows.map((r) => [...Array(n - r.length).fill(pad), ...r]);
  return { dtype: 'int64', shape: [rows.length, n], data: BigInt64Array.from(padded.flat()) };
};

export const generatePrograms: Record<string, GoldenProgram> = {
  redrafter_generate_greedy: async (c, env) => {
    const hook = env.generate as GenerateHook | undefined;
    if (!hook) throw new Error('this backend offers no generation loop (env.generate)');
    const llm = env.loadModel(c.models.llm);
    const drafter = env.loadModel(c.models.drafter);
    const def = redrafterModel(llm, drafter, { name: c.name });
    const W = attrNumber(c, 'beam_width');
    const L = attrNumber(c, 'beam_length');
    const maxLength = attrNumber(c, 'max_length');
    const pad = attrNumber(c, 'pad_token_id', def.llmConfig.padTokenId);
    const eos = typeof c.attrs.eos_token_id === 'number' ? [c.attrs.eos_token_id] : [];
    // The reference's prompts are left-padded: the host loop takes ragged rows, so strip the
    // padding here (the reference itself counts leading pad ids as padding).
    const prompt = rowsOf(c.inputs.input_ids).map((r) => {
      let n = 0;
      while (n < r.length && r[n] === BigInt(pad)) n++;
      return r.slice(n);
    });
    const opts = { dtype: 'float32' as const, beamWidth: W, beamLength: L, maxBatch: prompt.length, maxSeq: maxLength + W * L + 1 };
    const shape: GenerateShapeLike = { beamWidth: W, beamLength: L, maxLength, stopping: 'reference', padTokenId: pad, eosTokenIds: eos, numLayers: def.llmConfig.numLayers, numKvHeads: def.llmConfig.numKvHeads, headDim: def.llmConfig.headDim, kvDtype: 'float32' };
    const r = await hook.redrafter(def.stepGraph(opts), prompt, shape);
    const ar = await hook.autoregressive(def.llmGraph(opts), prompt, shape);
    return {
      output_ids: toTensor(r.outputIds, BigInt(pad)),
      lengths_per_step: { dtype: 'int64', shape: [r.lengthsPerStep.length], data: BigInt64Array.from(r.lengthsPerStep.map(BigInt)) },
      autoregressive_ids: toTensor(ar, BigInt(pad)),
    };
  },
};
