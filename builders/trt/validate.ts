/**
 * Validates a graph against TensorRT's documented constraints before any TensorRT call is
 * planned, so a CPU-only CI job catches what TensorRT would refuse. The rules themselves are
 * TensorRT's contract per layer kind, kept with the op vocabulary (ops/trt.ts); builders never
 * import ops, so callers pass the rule set in (the CLI passes `TRT_RULES`). Each violation
 * names the layer, the rule and the user's call site; the validator also evaluates every
 * tensor at the optimization profile's maximum (tensor volumes).
 */
import type { Dim, DimRange } from '../../dsl/dim.js';
import { evalDim } from '../../dsl/dim.js';
import type { Graph, Layer, LayerKind, TensorId, TensorInfo } from '../../dsl/ir.js';
import { ModelError } from '../../dsl/errors.js';
import * as planModule from './plan.js';

/**
 * The graph as the plan lowers it for TensorRT (fused layers TensorRT lacks as their primitive
 * layers, builders/trt/plan.ts graphForTrt), so the rules see the tensors TensorRT will see —
 * e.g. the attention scores of a decomposed attention. (Looked up on the module so this file
 * also compiles against a plan.ts without fused layers, where the graph is lowered as it is.)
 */
function graphAsLowered(g: Graph, trtVersion?: unknown): Graph {
  const forTrt = (planModule as unknown as { graphForTrt?: (g: Graph, v?: unknown) => Graph }).graphForTrt;
  return forTrt ? forTrt(g, trtVersion) : g;
}

/** A tensor as a rule sees it (structurally the same as ops/trt.ts's TrtTensorView). */
export interface RuleTensor extends TensorInfo {
  max?: number[];
}
export interface RuleLayer {
  layer: Layer;
  inputs: RuleTensor[];
  outputs: RuleTensor[];
}
export interface LayerRule {
  id: string;
  doc: string;
  check(v: RuleLayer): string | undefined;
}
export interface TensorRule {
  id: string;
  doc: string;
  check(t: RuleTensor, symbols: Record<string, DimRange>): string | undefined;
}
export interface RuleSet {
  layers: { readonly [K in LayerKind]?: readonly LayerRule[] };
  tensors: readonly TensorRule[];
}

export interface TrtViolation {
  /** The layer's name (op name + counter), or the network input's name. */
  layer: string;
  kind: LayerKind | 'input';
  rule: string;
  message: string;
  /** The user's file:line:col of the op call that made the layer. */
  site?: string;
  /** Tensor the rule is about (tensor rules). */
  tensor?: string;
}

/** Dims of `shape` at the profile maximum; undefined when a dim has no range (data-dependent). */
export function maxShape(shape: readonly Dim[], symbols: Record<string, DimRange>): number[] | undefined {
  const out: number[] = [];
  for (const d of shape) {
    const v = evalDim(d, (n) => symbols[n]?.max);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/**
 * Every TensorRT rule the graph breaks, in layer order (network inputs first), checked on the
 * graph as the plan lowers it (for `opts.trtVersion`, as lowerToPlan takes it).
 */
export function validateTrt(source: Graph, rules: RuleSet, opts: { trtVersion?: unknown } = {}): TrtViolation[] {
  const g = graphAsLowered(source, opts.trtVersion);
  const out: TrtViolation[] = [];
  const views = new Map<TensorId, RuleTensor>();
  const view = (id: TensorId): RuleTensor => {
    let v = views.get(id);
    if (!v) {
      const t = g.tensors[id];
      v = { ...t, max: maxShape(t.shape, g.symbols) };
      views.set(id, v);
    }
    return v;
  };
  const inputNames = new Map(g.inputs.map((b) => [b.id, b.name]));
  const outputNames = new Map(g.outputs.map((b) => [b.id, b.name]));
  const tensorChecks = (id: TensorId, layer: string, kind: LayerKind | 'input', site?: string) => {
    for (const r of rules.tensors) {
      const msg = r.check(view(id), g.symbols);
      if (msg) {
        const name = inputNames.get(id) ?? outputNames.get(id) ?? g.tensors[id].name;
        const what = kind === 'input' ? `network input '${name}'` : `output ${name ? `'${name}'` : `#${id}`} of ${layer}`;
        out.push({ layer, kind, rule: r.id, message: `${what}: ${msg}`, site, tensor: name });
      }
    }
  };
  for (const b of g.inputs) tensorChecks(b.id, b.name, 'input');
  for (const l of g.layers) {
    const v: RuleLayer = { layer: l, inputs: l.inputs.map(view), outputs: l.outputs.map(view) };
    const seen = new Set<string>();
    for (const r of rules.layers[l.kind] ?? []) {
      const msg = r.check(v);
      // One violation per rule and layer (a rule on both inputs of a layer reports the first).
      if (msg && !seen.has(r.id)) {
        seen.add(r.id);
        out.push({ layer: l.name, kind: l.kind, rule: r.id, message: msg, site: l.site });
      }
    }
    for (const id of l.outputs) tensorChecks(id, l.name, l.kind, l.site);
  }
  return out;
}

/** One line per violation: layer, rule, message and call site. */
export function formatViolations(vs: readonly TrtViolation[]): string {
  return vs.map((v) => `  ${v.layer} [${v.rule}]: ${v.message}${v.site ? `\n    at ${v.site}` : ''}`).join('\n');
}

/** Thrown by `assertTrtValid`: exit 4 (a bad model), every violation in the message and in `violations`. */
export class TrtValidationError extends ModelError {
  readonly violations: TrtViolation[];
  constructor(graph: string, violations: TrtViolation[]) {
    super(
      `TensorRT would refuse graph '${graph}': ${violations.length} violation${violations.length === 1 ? '' : 's'} of TensorRT's documented constraints\n${formatViolations(violations)}`,
      'change the model lines named above (or lower --max-batch/--max-seq for volume limits); --target onnx builds this model as it is',
    );
    this.violations = violations;
  }
}

/** Validates and throws TrtValidationError (exit 4) listing every violation. */
export function assertTrtValid(g: Graph, rules: RuleSet, opts: { trtVersion?: unknown } = {}): void {
  const vs = validateTrt(g, rules, opts);
  if (vs.length) throw new TrtValidationError(g.name, vs);
}
