/**
 * Comparing outputs with a case: floats within atol + rtol·|want|, integers and bools
 * exactly, and the validity rules of the golden README (pack's filler positions are free).
 */
import type { HostTensor } from '../../dsl/host.js';
import { isFloat } from '../../dsl/dtype.js';
import type { GoldenCase } from './types.js';

const strides = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
const unflat = (i: number, shape: number[]) => strides(shape).map((st, d) => Math.floor(i / st) % shape[d]);

function value(t: HostTensor, i: number): number | bigint {
  const v = t.data[i];
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') throw new Error('internal: half outputs are compared as float32');
  return v;
}

/**
 * Compares `got` with `want` at the positions where `valid(index)` holds (all by default).
 * `got` may be wider than `want` in a dim when `valid` restricts positions to `want`'s extent.
 */
export function compareTensor(name: string, want: HostTensor, got: HostTensor, tol: { atol: number; rtol: number }, valid?: (idx: number[]) => boolean): string | undefined {
  if (got.shape.length !== want.shape.length) return `output '${name}': shape [${got.shape}] has rank ${got.shape.length}, want [${want.shape}]`;
  const sameShape = got.shape.every((d, i) => d === want.shape[i]);
  if (!sameShape && !valid) return `output '${name}': shape [${got.shape}], want [${want.shape}]`;
  if (got.shape.some((d, i) => d < want.shape[i])) return `output '${name}': shape [${got.shape}] is smaller than [${want.shape}]`;
  const gs = strides(got.shape);
  const n = want.data.length;
  const float = isFloat(want.dtype);
  for (let i = 0; i < n; i++) {
    const idx = unflat(i, want.shape);
    if (valid && !valid(idx)) continue;
    const gi = idx.reduce((a, d, k) => a + d * gs[k], 0);
    const w = value(want, i);
    const g = value(got, gi);
    let bad: boolean;
    if (float) {
      const wn = Number(w);
      const gn = Number(g);
      bad = !(Math.abs(gn - wn) <= tol.atol + tol.rtol * Math.abs(wn)) && !(Number.isNaN(wn) && Number.isNaN(gn)) && !(wn === gn);
    } else bad = BigInt(typeof g === 'bigint' ? g : Math.trunc(Number(g))) !== BigInt(typeof w === 'bigint' ? w : Math.trunc(Number(w)));
    if (bad) return `output '${name}' index [${idx.join(', ')}]: want ${String(w)}, got ${String(g)}`;
  }
  return undefined;
}

/** Validity rules by fn (README "Validity rules"). */
export function validityRule(c: GoldenCase, output: string, got: Record<string, HostTensor>): ((idx: number[]) => boolean) | undefined {
  if (c.fn === 'pack') {
    const nSel = c.outputs.n_selected;
    const P = c.inputs.padding_mask.shape[1];
    const n = (b: number) => Number(nSel.data[b]);
    if (output === 'packed_beams' || output === 'position_offsets') return ([b, i]) => i < n(b);
    if (output === 'causal_mask') return ([b, i, j]) => i < n(b) && (j < P || j - P < n(b));
  }
  if (c.fn === 'llama_forward' && !('past_kv' in c.inputs)) {
    // Context cases: left-padding positions are not compared.
    const pos = c.inputs.position_ids;
    const pad = (b: number, s: number) => Number(pos.data[b * pos.shape[1] + s]) < 0;
    if (output === 'logits' || output === 'hidden_states') return ([b, s]) => !pad(b, s);
    if (output === 'present_kv') return ([, , b, , s]) => !pad(b, s);
  }
  void got;
  return undefined;
}

