/**
 * The values a call of a step graph on the per-layer KV cache contract (redrafter_step,
 * llm_step) needs, checked on the host before any backend runs: the graph itself would read
 * out of range (ONNX Runtime's GatherND, the interpreter's gather) or, worse, write a wrong
 * next_cache_lengths without a word. checkInputs (builders/interp) has already checked names,
 * dtypes and shapes; this checks lengths against the tensors they index.
 */
import type { HostTensor } from '../../dsl/host.js';
import type { Graph } from '../../dsl/ir.js';
import { UsageError } from '../../dsl/errors.js';

/** Whether `g` is a step graph of the per-layer cache contract (its inputs carry lengths into caches). */
export function isStepContract(g: Graph): boolean {
  const names = new Set(g.inputs.map((b) => b.name));
  return ['input_ids', 'prompt_lengths', 'cache_lengths', 'k_cache_0'].every((n) => names.has(n));
}

/**
 * The vocabulary the ids index: next_log_probs' last dim (redrafter_step), else the rows of
 * the token embedding's weight (the `embedding` gather); undefined when neither is there.
 */
export function stepVocabSize(g: Graph): number | undefined {
  const lp = g.outputs.find((b) => b.name === 'next_log_probs');
  const last = lp && g.tensors[lp.id]!.shape.at(-1);
  if (typeof last === 'number') return last;
  const emb = g.layers.find((l) => l.kind === 'gather' && /^embedding(_\d+)?$/.test(l.name));
  const rows = emb && g.tensors[emb.inputs[0]!]!.shape[0];
  return typeof rows === 'number' ? rows : undefined;
}

/**
 * Refuses (UsageError, exit 2) step inputs the contract does not allow, naming the tensor, the
 * row, the value and the bound: 0 <= prompt_lengths[b] <= prompt width (>= 1 on a context row;
 * every llm_step row is one; 0 on a generation row), 0 <= cache_lengths[b], cache_lengths[b] + prompt width + W·L <=
 * capacity (a call writes its prompt slot and its draft slots after the cache), and every id
 * of input_ids and beams in [0, vocab): the graph embeds every slot, those past a row's
 * prompt_lengths and a context row's beams too, although it reads nothing from them.
 * Graphs off the contract pass untouched.
 */
export function checkStepInputs(g: Graph, inputs: Record<string, HostTensor>): void {
  if (!isStepContract(g)) return;
  const ids = inputs.input_ids!;
  const [B, T] = ids.shape as [number, number];
  const capacity = inputs.k_cache_0!.shape[2]!;
  const beams = inputs.beams;
  const [W, L] = beams ? (beams.shape.slice(1) as [number, number]) : [0, 0];
  const N = W * L;
  const vocab = stepVocabSize(g);
  const ctx = inputs.is_context;
  const num = (t: HostTensor, i: number) => Number(t.data[i]);
  for (let b = 0; b < B; b++) {
    const isCtx = ctx ? ctx.data[b] !== 0 : true;
    const pl = num(inputs.prompt_lengths!, b);
    if (pl < 0 || pl > T) throw new UsageError(`input 'prompt_lengths' row ${b} is ${pl}, outside [0, ${T}]: input_ids holds ${T} slots per row`, `pass the number of real tokens of row ${b}'s input_ids, 0..${T}`);
    if (isCtx && pl < 1)
      throw new UsageError(
        ctx ? `input 'prompt_lengths' row ${b} is 0, but is_context marks row ${b} as a context row, which needs at least 1 prompt token` : `input 'prompt_lengths' row ${b} is 0: every row of '${g.name}' processes a prompt chunk, at least 1 token`,
        ctx ? `pass prompt_lengths >= 1 for row ${b}, or is_context false for a generation row` : `pass 1..${T} for row ${b}`,
      );
    // A generation row reads no prompt: next_cache_lengths is cache_lengths + n_accepted + 1, and
    // a nonzero prompt_lengths there would be ignored without a word.
    if (!isCtx && pl !== 0)
      throw new UsageError(`input 'prompt_lengths' row ${b} is ${pl}, but is_context marks row ${b} as a generation row, whose prompt_lengths must be 0`, `pass prompt_lengths 0 for row ${b}, or is_context true for a context row`);
    const cl = num(inputs.cache_lengths!, b);
    if (cl < 0) throw new UsageError(`input 'cache_lengths' row ${b} is ${cl}, below 0`, `pass the number of tokens already in row ${b}'s cache (0 for a new sequence)`);
    const need = cl + T + N;
    const slots = `${cl} + ${T} (prompt width)${N ? ` + ${N} (W·L)` : ''}`;
    if (need > capacity)
      throw new UsageError(
        `input 'cache_lengths' row ${b} is ${cl}: a call writes ${slots} = ${need} slots, beyond the caches' capacity ${capacity} (dim 2 of k_cache_<l>, v_cache_<l>)`,
        capacity - T - N >= 0 ? `pass cache_lengths <= ${capacity - T - N} for row ${b}, or caches of capacity >= ${need}` : `pass caches of capacity >= ${need}`,
      );
  }
  if (vocab === undefined) return;
  const checkIds = (name: 'input_ids' | 'beams', t: HostTensor, where: (i: number) => string, why: (i: number) => string) => {
    for (let i = 0; i < t.data.length; i++) {
      const v = num(t, i);
      if (v < 0 || v >= vocab) throw new UsageError(`input '${name}' ${where(i)} is ${v}, not a token id in [0, ${vocab})`, why(i));
    }
  };
  checkIds('input_ids', ids, (i) => `row ${Math.floor(i / T)} slot ${i % T}`, (i) =>
    i % T < num(inputs.prompt_lengths!, Math.floor(i / T)) ? 'pass token ids of the model\'s vocabulary' : `slot ${i % T} is past row ${Math.floor(i / T)}'s prompt_lengths, so it is not read, but the graph still embeds it: fill padding with any id in [0, ${vocab}), e.g. 0`);
  if (beams)
    checkIds('beams', beams, (i) => `row ${Math.floor(i / N)} beam ${Math.floor((i % N) / L)} slot ${i % L}`, (i) =>
      ctx && ctx.data[Math.floor(i / N)] !== 0 ? `a context row's beams are not read, but the graph still embeds them: send zeros` : 'pass the previous call\'s next_beams');
}
