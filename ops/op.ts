/**
 * How an op is declared: a table of operands (allowed dtypes and ranks), then numbered
 * validation steps, then an immediate lowering to IR layers. This file is the only place
 * user-facing shape/dtype checks are phrased, so every op's errors read the same way:
 *   "<op>: argument '<name>' <what> (expected <x>, got <y>)\n  at <user file:line>".
 */
import type { DType } from '../dsl/dtype.js';
import { dtypeList, isPackedQuant } from '../dsl/dtype.js';
import type { Dim } from '../dsl/dim.js';
import { dimEq, shapeToString } from '../dsl/dim.js';
import { DslError } from '../dsl/errors.js';
import { defaultNet, Network, Tensor } from '../dsl/network.js';

/** Rank rule: exact rank, or an inclusive [min, max] range. */
export type RankRule = number | readonly [number, number];

export interface OperandRule {
  /** Allowed dtypes (any when omitted). */
  dtypes?: readonly DType[];
  rank?: RankRule;
}

export interface OpDecl {
  name: string;
  operands: Record<string, OperandRule>;
}

function rankText(r: RankRule): string {
  if (typeof r === 'number') return `rank ${r}`;
  return r[1] >= 64 ? `rank >= ${r[0]}` : `rank ${r[0]}..${r[1]}`;
}

/** Validation helpers bound to one op call; every failure names the op and the argument. */
export class Check {
  readonly op: string;
  constructor(op: string) {
    this.op = op;
  }
  fail(arg: string | undefined, msg: string, hint?: string): never {
    throw new DslError(this.op, arg ? `argument '${arg}' ${msg}` : msg, { hint });
  }
  /** A tensor operand: checks it is a Tensor, then its dtype and rank against the rule. */
  operand(arg: string, t: unknown, rule: OperandRule = {}): Tensor {
    if (!(t instanceof Tensor)) this.fail(arg, `must be a Tensor, got ${describe(t)}`);
    // int4 (packed two per byte) and fp8 are storage for quantize/dequantize only (TensorRT too).
    if (isPackedQuant(t.dtype) && !rule.dtypes?.includes(t.dtype))
      this.fail(arg, `has dtype ${t.dtype} (shape ${shapeToString(t.shape)}), which only dequantize reads`, `dequantize it first: dequantize(${arg}, scale, { dtype: 'float16' })`);
    if (rule.dtypes && !rule.dtypes.includes(t.dtype))
      this.fail(arg, `has dtype ${t.dtype}; expected ${dtypeList(rule.dtypes)} (shape ${shapeToString(t.shape)})`, `cast it first: cast(${arg}, '${rule.dtypes[0]}')`);
    if (rule.rank !== undefined) {
      const r = rule.rank;
      const ok = typeof r === 'number' ? t.rank === r : t.rank >= r[0] && t.rank <= r[1];
      if (!ok) this.fail(arg, `has rank ${t.rank} (shape ${shapeToString(t.shape)}); expected ${rankText(r)}`);
    }
    return t;
  }
  /** Normalises an axis in [-rank, rank) to [0, rank). */
  axis(arg: string, axis: number, rank: number): number {
    if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1))
      this.fail(arg, `is ${axis}, out of range for a tensor of rank ${rank} (expected ${-rank}..${rank - 1})`);
    return axis < 0 ? axis + rank : axis;
  }
  int(arg: string, v: unknown, min = -Infinity, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      this.fail(arg, `must be an integer${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}, got ${describe(v)}`);
    return v;
  }
  sameDtype(argA: string, a: Tensor, argB: string, b: Tensor): void {
    if (a.dtype !== b.dtype) this.fail(undefined, `arguments '${argA}' (${a.dtype}) and '${argB}' (${b.dtype}) must have the same dtype`, `cast one of them with cast(x, '${a.dtype}')`);
  }
  /** Dims that must agree (static mismatch fails; symbolic dims are checked at run time). */
  sameDim(argA: string, a: Dim, argB: string, b: Dim, what: string): void {
    if (typeof a === 'number' && typeof b === 'number' && a !== b) this.fail(undefined, `${what}: '${argA}' has ${a} but '${argB}' has ${b}`);
    if (typeof a !== 'number' && typeof b !== 'number' && !dimEq(a, b)) return; // unknown relation: run-time check
  }
}

export function describe(v: unknown): string {
  if (v instanceof Tensor) return `${v.dtype}${shapeToString(v.shape)} tensor`;
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (v === null) return 'null';
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

/**
 * Declares an op. `validate(c, operands)` runs the rule table over the named operands and
 * returns them typed as tensors (undefined operands are skipped: optional arguments).
 */
export function declareOp<K extends string>(name: string, operands: Record<K, OperandRule>) {
  return {
    name,
    operands,
    check(): Check {
      return new Check(name);
    },
    validate(values: Partial<Record<K, unknown>>): { c: Check } & Record<K, Tensor> {
      const c = new Check(name);
      const out = { c } as { c: Check } & Record<K, Tensor>;
      for (const k of Object.keys(operands) as K[]) {
        if (values[k] === undefined) continue;
        (out as Record<K, Tensor>)[k] = c.operand(k, values[k], operands[k]);
      }
      return out;
    },
  };
}

/** The network of the first tensor among `xs`, else the default network. */
export function netOf(...xs: unknown[]): Network {
  for (const x of xs) {
    if (x instanceof Tensor) return x.net;
    if (Array.isArray(x)) for (const y of x) if (y instanceof Tensor) return y.net;
  }
  return defaultNet();
}

/** Adds one layer and returns its single output. */
export function layer1(net: Network, spec: Parameters<Network['addLayer']>[0]): Tensor {
  return net.addLayer(spec)[0];
}
