/**
 * `generate --check-finite`: a runner that fails on the first NaN or ±Inf in any float output,
 * naming the call (0 is the context call) and the output, instead of letting garbage become
 * tokens. It reads every output once per call, on the host: cheap next to the step itself —
 * except the in-place outputs (Graph.aliases: the KV caches), which stay on the device (reading
 * them would copy every cache to the host each call). A non-finite cache entry still surfaces:
 * the next call's attention reads it, and its logits and next_log_probs turn non-finite.
 */
import type { DType } from '../../dsl/dtype.js';
import { firstNonFinite, type HostTensor } from '../../dsl/host.js';
import { ModelError } from '../../dsl/errors.js';
import type { Runner } from './loop.js';

/** Row-major flat index → [i, j, ...] for messages. */
function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/**
 * Wraps `run` so each call's float outputs are checked. `dtype` is the dtype the graphs compute
 * in (for the fix in the message: their outputs may be float32 either way).
 */
export function checkFinite(run: Runner, dtype: DType = 'float32'): Runner {
  const label = (n: number) => (n === 0 ? 'the context call' : `step ${n}`);
  let call = 0;
  return async (graph, inputs) => {
    const out = await run(graph, inputs);
    const n = call++;
    for (const [name, t] of Object.entries(out) as [string, HostTensor][]) {
      if (graph.aliases?.[name]) continue;
      const i = firstNonFinite(t);
      if (i < 0) continue;
      throw new ModelError(
        `${label(n)} of ${graph.name}: output '${name}' (${t.dtype} [${t.shape.join(', ')}]) holds a non-finite value at [${unravel(i, t.shape).join(', ')}]`,
        dtype === 'float32' ? 'the model overflows even in float32: check its weights (redraft build --strict refuses NaN/Inf weights)' : `the model overflows in ${dtype}: try --dtype ${dtype === 'float16' ? 'bfloat16 (float32\'s range)' : 'float32'}`,
      );
    }
    return out;
  };
}
