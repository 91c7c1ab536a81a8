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
import { graphForTrt, minTrtVersion, nativeFusedKinds, type TrtVersion } from './plan.js';
import { FUSED_KINDS } from '../../dsl/ir.js';

/**
 * Which lowering TensorRT `v` gets: the version's name, the fused kinds it builds natively and
 * those lowered to primitives (only kinds the graph has), and the layer count of the graph as lowered.
 */
export function describeLowering(g: Graph, v: TrtVersion | undefined): { version: string; native: string[]; primitive: string[]; layers: number; summary: string; rulesFor: string } {
  const has = new Set(g.layers.map((l) => l.kind as string));
  const nat = new Set<string>(nativeFusedKinds(v));
  const native = FUSED_KINDS.filter((k) => has.has(k) && nat.has(k));
  const primitive = FUSED_KINDS.filter((k) => has.has(k) && !nat.has(k));
  const lowered = graphForTrt(g, v);
  const parts = [native.length ? `native ${native.join(', ')}` : '', primitive.length ? `${primitive.join(', ')} as primitive layers` : ''].filter(Boolean);
  // No version: the plan runs on the oldest TensorRT with every call it makes, and says which.
  const min = v ? undefined : minTrtVersion(lowered);
  const minName = min && `TensorRT ${min.version.major}.${min.version.minor}`;
  if (min) parts.push(`needs ${minName} or newer${min.needs.length ? ` (${min.needs.join(', ')})` : ' (every call is in 10.0)'}`);
  return {
    version: v ? `TensorRT ${v.major}.${v.minor}` : 'no TensorRT version',
    native,
    primitive,
    layers: lowered.layers.length,
    summary: parts.length ? parts.join('; ') : 'no fused layers',
    rulesFor: v ? `TensorRT ${v.major}.${v.minor}` : `${minName} (the minimum this graph needs)`,
  };
}

/** A tensor as a rule sees it (structurally the same as ops/trt.ts's TrtTensorView). */
export interface RuleTensor extends TensorInfo {
  max?: number[];
  /** Every path into it starts at a constant: TensorRT's "weights" ("rooted at an IConstantLayer"). */
  fromWeights?: boolean;
}
export interface RuleLayer {
  layer: Layer;
  inputs: RuleTensor[];
  outputs: RuleTensor[];
  /** The TensorRT version the graph is validated for: the one given, else the graph's minimum (trtMinimum). */
  trtVersion?: TrtVersion;
  /** No version was given: trtVersion is the oldest that has every layer of the graph (minTrtVersion). */
  trtMinimum?: boolean;
}
export interface LayerRule {
  id: string;
  doc: string;
  check(v: RuleLayer): string | undefined;
  fix?(v: RuleLayer): string | undefined;
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
  /** What to do about it, where the rule knows better than "change the model" (version rules: --trt-version). */
  fix?: string;
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
 * graph as the plan lowers it for `opts.trtVersion` (builders/trt/plan.ts graphForTrt: fused
 * layers that version lacks as their primitive layers, so the rules see the tensors TensorRT
 * will see, e.g. the scores of a decomposed attention), with that version's rules.
 */
export function validateTrt(source: Graph, rules: RuleSet, opts: { trtVersion?: TrtVersion } = {}): TrtViolation[] {
  const g = graphForTrt(source, opts.trtVersion);
  // No version given: the version-gated rules apply against the oldest TensorRT with every layer (the plan says it).
  const trtVersion = opts.trtVersion ?? minTrtVersion(g).version;
  const trtMinimum = !opts.trtVersion;
  const out: TrtViolation[] = [];
  // A tensor is weights when no path reaches a network input: one pass in layer (topological) order, on first use.
  let rooted: Map<TensorId, boolean> | undefined;
  const fromWeights = (id: TensorId): boolean => {
    if (!rooted) {
      rooted = new Map(g.inputs.map((b) => [b.id, false]));
      for (const l of g.layers) {
        const r = l.inputs.every((i) => rooted!.get(i) ?? true);
        for (const o of l.outputs) rooted.set(o, r);
      }
    }
    return rooted.get(id) ?? true;
  };
  const views = new Map<TensorId, RuleTensor>();
  const view = (id: TensorId): RuleTensor => {
    let v = views.get(id);
    if (!v) {
      const t = g.tensors[id];
      const self = { ...t, max: maxShape(t.shape, g.symbols) } as RuleTensor;
      // Computed when a rule asks (most never do).
      Object.defineProperty(self, 'fromWeights', { get: () => fromWeights(id), enumerable: false });
      v = self;
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
    const v: RuleLayer = { layer: l, inputs: l.inputs.map(view), outputs: l.outputs.map(view), trtVersion, trtMinimum };
    const seen = new Set<string>();
    for (const r of rules.layers[l.kind] ?? []) {
      const msg = r.check(v);
      // One violation per rule and layer (a rule on both inputs of a layer reports the first).
      if (msg && !seen.has(r.id)) {
        seen.add(r.id);
        const fix = r.fix?.(v);
        out.push({ layer: l.name, kind: l.kind, rule: r.id, message: msg, site: l.site, ...(fix ? { fix } : {}) });
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

/** The hint: each rule's own fix once (a version rule names --trt-version), else changing the model lines. */
function fixOf(vs: readonly TrtViolation[]): string {
  const own = [...new Set(vs.flatMap((v) => (v.fix ? [v.fix] : [])))];
  const generic = vs.some((v) => !v.fix) ? ['change the model lines named above (or lower --max-batch/--max-seq for volume limits)'] : [];
  return [...own.map((f, i) => (own.length + generic.length > 1 ? `(${i + 1}) ${f}` : f)), ...generic.map((g) => (own.length ? `(${own.length + 1}) ${g}` : g))].join('; ') + '; --target onnx builds this model as it is';
}

/** Thrown by `assertTrtValid`: exit 4 (a bad model), every violation in the message and in `violations`. */
export class TrtValidationError extends ModelError {
  readonly violations: TrtViolation[];
  constructor(graph: string, violations: TrtViolation[]) {
    super(
      `TensorRT would refuse graph '${graph}': ${violations.length} violation${violations.length === 1 ? '' : 's'} of TensorRT's documented constraints\n${formatViolations(violations)}`,
      fixOf(violations),
    );
    this.violations = violations;
  }
}

/** Validates and throws TrtValidationError (exit 4) listing every violation. */
export function assertTrtValid(g: Graph, rules: RuleSet, opts: { trtVersion?: TrtVersion } = {}): void {
  const vs = validateTrt(g, rules, opts);
  if (vs.length) throw new TrtValidationError(g.name, vs);
}
