/** Backends for the conformance runner and the generation loop, built from builders only. */
import { runGraph } from '../interp/index.js';
import { loadModelDir } from '../model-dir.js';
import { readConfigJson } from '../model-dir.js';
import { UsageError } from '../../dsl/errors.js';
import type { CaseEnv } from './types.js';
import { autoregressiveGenerate, redrafterGenerate, type GenerationShape } from '../generate/loop.js';

/** Adds the host generation loop (env.generate) on top of a backend's graph runner. */
export function withGenerate(env: CaseEnv): CaseEnv {
  return {
    ...env,
    generate: {
      redrafter: (step, prompt, shape) => redrafterGenerate(step, env.run, prompt, shape as GenerationShape),
      autoregressive: (llm, prompt, shape) => autoregressiveGenerate(llm, env.run, prompt, shape as GenerationShape),
    },
  };
}

/** Loads a model directory, telling a drafter from a base model by its config. */
export function loadAnyModel(dir: string) {
  const raw = readConfigJson(dir);
  return loadModelDir(dir, raw.model_type === 'recurrent_drafting_drafter' ? 'drafter' : 'llama');
}

/** The reference interpreter as a backend. */
export function interpEnv(): CaseEnv {
  const cache = new Map<string, ReturnType<typeof loadAnyModel>>();
  return withGenerate({
    run: async (graph, inputs) => runGraph(graph, inputs),
    loadModel: (dir) => {
      let m = cache.get(dir);
      if (!m) cache.set(dir, (m = loadAnyModel(dir)));
      return m;
    },
  });
}

/** The backend named on the command line. */
export async function backendEnv(name: string): Promise<CaseEnv> {
  if (name === 'interp') return interpEnv();
  if (name === 'onnx') {
    const { onnxEnv } = await import('../onnx/env.js');
    return withGenerate(onnxEnv());
  }
  throw new UsageError(`unknown backend '${name}'`, 'use --backend interp or --backend onnx');
}
