/**
 * Dimensions: a number, or a symbolic monomial `coef * f1 * f2 ...` over named dims
 * (`batch`, `seq`). Sums of unlike terms become one opaque factor such as `(past+seq)`, which
 * is enough to carry the shapes of ReDrafter graphs through reshapes and concatenations.
 */
export class SymDim {
  readonly coef: number;
  readonly factors: readonly string[];
  constructor(coef: number, factors: readonly string[]) {
    this.coef = coef;
    this.factors = [...factors].sort();
  }
  toString(): string {
    const f = this.factors.join('*');
    return this.coef === 1 ? f : `${this.coef}*${f}`;
  }
}
export type Dim = number | SymDim;

export function sym(name: string): SymDim {
  return new SymDim(1, [name]);
}
export function isStaticDim(d: Dim): d is number {
  return typeof d === 'number';
}
export function isStaticShape(s: readonly Dim[]): s is number[] {
  return s.every((d) => typeof d === 'number');
}
export function dimToString(d: Dim): string {
  return typeof d === 'number' ? String(d) : d.toString();
}
export function shapeToString(s: readonly Dim[]): string {
  return `[${s.map(dimToString).join(', ')}]`;
}
function norm(c: number, f: readonly string[]): Dim {
  return c === 0 || f.length === 0 ? c : new SymDim(c, f);
}
function sameFactors(a: SymDim, b: SymDim): boolean {
  return a.factors.length === b.factors.length && a.factors.every((x, i) => x === b.factors[i]);
}
export function dimEq(a: Dim, b: Dim): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.coef === b.coef && sameFactors(a, b);
}
export function shapeEq(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => dimEq(d, b[i]));
}
export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 0 || b === 0) return 0;
  const [ac, af] = typeof a === 'number' ? [a, []] : [a.coef, a.factors];
  const [bc, bf] = typeof b === 'number' ? [b, []] : [b.coef, b.factors];
  return norm(ac * bc, [...af, ...bf]);
}
function opaque(a: Dim, op: string, b: Dim): Dim {
  return new SymDim(1, [`(${dimToString(a)}${op}${dimToString(b)})`]);
}
export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  if (typeof a !== 'number' && typeof b !== 'number' && sameFactors(a, b)) return norm(a.coef + b.coef, a.factors);
  return opaque(a, '+', b);
}
export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (b === 0) return a;
  if (typeof a !== 'number' && typeof b !== 'number' && sameFactors(a, b)) return norm(a.coef - b.coef, a.factors);
  return opaque(a, '-', b);
}
/** Exact division, or undefined when it cannot be shown exact at build time. */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  if (typeof b === 'number') {
    if (b === 0) return undefined;
    if (typeof a === 'number') return a % b === 0 ? a / b : undefined;
    return a.coef % b === 0 ? norm(a.coef / b, a.factors) : undefined;
  }
  if (typeof a === 'number') return a === 0 ? 0 : undefined;
  const rest = [...a.factors];
  for (const f of b.factors) {
    const i = rest.indexOf(f);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return a.coef % b.coef === 0 ? norm(a.coef / b.coef, rest) : undefined;
}
/** Floor division of dims (static when both static, opaque otherwise). */
export function dimFloorDiv(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return Math.floor(a / b);
  return dimDiv(a, b) ?? opaque(a, '/', b);
}
export function dimMax(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return Math.max(a, b);
  if (dimEq(a, b)) return a;
  return new SymDim(1, [`max(${dimToString(a)},${dimToString(b)})`]);
}
export function dimMin(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return Math.min(a, b);
  if (dimEq(a, b)) return a;
  return new SymDim(1, [`min(${dimToString(a)},${dimToString(b)})`]);
}
export function volume(s: readonly Dim[]): Dim {
  return s.reduce<Dim>((acc, d) => dimMul(acc, d), 1);
}
/** A fresh opaque dim for data-dependent sizes (NonZero counts). */
let fresh = 0;
export function freshDim(prefix: string): SymDim {
  return sym(`${prefix}#${++fresh}`);
}
/** Parses "batch", "2*batch", "(past+seq)" or a number-string back into a Dim. */
export function parseDim(s: string | number): Dim {
  if (typeof s === 'number') return s;
  if (/^-?\d+$/.test(s)) return Number(s);
  const parts = s.split('*');
  let coef = 1;
  const factors: string[] = [];
  // Factors containing '*' inside parentheses are kept whole.
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === '*' && depth === 0) {
      pushFactor(cur);
      cur = '';
    } else cur += ch;
  }
  pushFactor(cur);
  function pushFactor(f: string) {
    if (/^-?\d+$/.test(f)) coef *= Number(f);
    else factors.push(f);
  }
  void parts;
  return norm(coef, factors);
}

/** min/opt/max of a named dim, as in a TensorRT optimization profile. */
export interface DimRange {
  min: number;
  opt: number;
  max: number;
}

/**
 * The value of a dim for concrete symbol values (`lookup(name)`), or undefined when a symbol is
 * unknown. Opaque factors such as `(past+seq)` or `max(a,b)` are evaluated too.
 */
export function evalDim(d: Dim, lookup: (name: string) => number | undefined): number | undefined {
  if (typeof d === 'number') return d;
  let v = d.coef;
  for (const f of d.factors) {
    const x = evalFactor(f, lookup);
    if (x === undefined) return undefined;
    v *= x;
  }
  return v;
}

/** A tiny recursive-descent evaluator for the factor strings dims are made of. */
function evalFactor(src: string, lookup: (name: string) => number | undefined): number | undefined {
  const direct = lookup(src);
  if (direct !== undefined) return direct;
  const tokens = src.match(/[A-Za-z_][A-Za-z0-9_#]*|\d+|[-+*/(),]/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const atom = (): number | undefined => {
    const t = next();
    if (t === undefined) return undefined;
    if (t === '(') {
      const v = sum();
      next(); // ')'
      return v;
    }
    if (t === '-') {
      const v = atom();
      return v === undefined ? undefined : -v;
    }
    if (/^\d+$/.test(t)) return Number(t);
    if ((t === 'max' || t === 'min') && peek() === '(') {
      next();
      const a = sum();
      next(); // ','
      const b = sum();
      next(); // ')'
      return a === undefined || b === undefined ? undefined : t === 'max' ? Math.max(a, b) : Math.min(a, b);
    }
    return lookup(t);
  };
  const product = (): number | undefined => {
    let v = atom();
    while (peek() === '*' || peek() === '/') {
      const op = next();
      const r = atom();
      if (v === undefined || r === undefined) return undefined;
      v = op === '*' ? v * r : Math.floor(v / r);
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (peek() === '+' || peek() === '-') {
      const op = next();
      const r = product();
      if (v === undefined || r === undefined) return undefined;
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const v = sum();
  return i === tokens.length ? v : undefined;
}
