/**
 * Shape building shared by the data-movement ops. A dim is a number where static, else a 0-D
 * int64 tensor read from shape(x) at run time (TensorRT-LLM's `shape(x, i)` idiom). The infer
 * step tracks the values of these small tensors, so outputs keep symbolic shapes.
 */
import type { Dim } from '../dsl/dim.js';
import { INDEX_DTYPES } from '../dsl/dtype.js';
import type { DimsOrTensor, SliceMode } from '../dsl/ir.js';
import { evalDim, shapeToString } from '../dsl/dim.js';
import type { Network } from '../dsl/network.js';
import { Tensor } from '../dsl/network.js';
import { type Check, describe, layer1 } from './op.js';

/** One dim: a static number or a 0-D / 1-element int tensor. */
export type DimPart = number | Tensor;

/** Each dim of `x`: the number when static, else gathered from one shape layer. */
export function dimParts(x: Tensor): DimPart[] {
  let s: Tensor | undefined;
  return x.shape.map((d, i) => {
    if (typeof d === 'number') return d;
    s ??= layer1(x.net, { kind: 'shape', inputs: [x.id] });
    const idx = x.net.constant([i], 'int32', []);
    return layer1(x.net, { kind: 'gather', inputs: [s.id, idx.id], mode: 'default', axis: 0, nbElementWiseDims: 0, name: 'shape' });
  });
}

/** A part as a 0-D int64 tensor. */
export function partScalar(net: Network, p: DimPart): Tensor {
  if (typeof p === 'number') return net.constant([p], 'int64', []);
  let t = p.dtype === 'int64' ? p : layer1(net, { kind: 'cast', inputs: [p.id], dtype: 'int64' });
  if (t.rank === 1) t = layer1(net, { kind: 'shuffle', inputs: [t.id], reshape: [], zeroIsPlaceholder: false });
  return t;
}

/** a * b (a constant fold when both are numbers). */
export function mulPart(net: Network, a: DimPart, b: DimPart): DimPart {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  const x = partScalar(net, a);
  const y = partScalar(net, b);
  return layer1(net, { kind: 'elementwise', op: 'prod', inputs: [x.id, y.id] });
}

/** The build-time value of a part, if known (numbers, or tensors with tracked values). */
export function partValue(p: DimPart): Dim | undefined {
  return typeof p === 'number' ? p : p.values?.[0];
}

/** A 1-D int64 tensor of the parts; runs of numbers become one constant. */
export function partsTensor(net: Network, parts: readonly DimPart[]): Tensor {
  const pieces: Tensor[] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length) pieces.push(net.constant(run, 'int64', [run.length]));
    run = [];
  };
  for (const p of parts) {
    if (typeof p === 'number') run.push(p);
    else {
      flush();
      let t = p.dtype === 'int64' ? p : layer1(net, { kind: 'cast', inputs: [p.id], dtype: 'int64' });
      if (t.rank === 0) t = layer1(net, { kind: 'shuffle', inputs: [t.id], reshape: [1], zeroIsPlaceholder: false });
      pieces.push(t);
    }
  }
  flush();
  if (pieces.length === 0) return net.constant([], 'int64', [0]);
  if (pieces.length === 1) return pieces[0];
  return layer1(net, { kind: 'concatenation', inputs: pieces.map((t) => t.id), axis: 0 });
}

/**
 * A layer parameter from parts: static when every value is known at build time (numbers, or
 * tensors whose tracked values are numbers, e.g. shape(x, i) of a static dim), else a shape tensor.
 */
export function dimsParam(net: Network, parts: readonly DimPart[] | Tensor): { param: DimsOrTensor; ids: number[] } {
  const vals = parts instanceof Tensor ? (parts.values?.length === parts.size(0) ? parts.values : undefined) : parts.map(partValue);
  if (vals && vals.every((v) => typeof v === 'number')) return { param: vals as number[], ids: [] };
  const t = parts instanceof Tensor ? parts : partsTensor(net, parts);
  return { param: { tensor: t.id }, ids: [t.id] };
}

/** Reshapes `x` to the parts (no 0-placeholders: every part is the dim itself). */
export function reshapeTo(x: Tensor, parts: readonly DimPart[], name: string): Tensor {
  const { param, ids } = dimsParam(x.net, parts);
  return layer1(x.net, { kind: 'shuffle', inputs: [x.id, ...ids], reshape: param, zeroIsPlaceholder: false, name });
}

/** Whether every dim of `x` is >= 1 for every size its profile allows (WRAP reads need one). */
function neverEmpty(x: Tensor): boolean {
  const symbols = x.net.toGraph().symbols;
  return x.shape.every((d) => (evalDim(d, (n) => symbols[n]?.min) ?? 0) >= 1);
}

/**
 * An ISliceLayer; dynamic parameters are listed as inputs in start, size, stride order.
 *
 * TensorRT: "CLAMP, FILL and REFLECT modes do not support int64 or bfloat16" (ops/trt.ts), so
 * those combinations are lowered to documented ones with the same values: bfloat16 slices in
 * float32 (both casts are exact), and an int64 FILL slice reads in WRAP mode and selects the
 * fill value where a FILL slice of an int32 mask says the coordinate is out of bounds (when no
 * dim of the input can be empty: WRAP needs one element to read). An int64 CLAMP slice, or an
 * int64 FILL slice of a possibly empty input, is left as it is and reported by the validator.
 */
export function sliceLayer(
  x: Tensor,
  start: readonly DimPart[] | Tensor,
  size: readonly DimPart[] | Tensor,
  stride: readonly DimPart[] | Tensor,
  name: string,
  mode: SliceMode = 'strict',
  fillValue?: number,
): Tensor {
  const net = x.net;
  const st = dimsParam(net, start);
  const sz = dimsParam(net, size);
  const sd = dimsParam(net, stride);
  const emit = (t: Tensor, m: SliceMode, fv?: number) =>
    layer1(net, {
      kind: 'slice',
      inputs: [t.id, ...st.ids, ...sz.ids, ...sd.ids],
      start: st.param,
      size: sz.param,
      stride: sd.param,
      mode: m,
      ...(m === 'fill' ? { fillValue: fv ?? 0 } : {}),
      name,
    });
  if ((mode === 'clamp' || mode === 'fill') && x.dtype === 'bfloat16') {
    const wide = layer1(net, { kind: 'cast', inputs: [x.id], dtype: 'float32', name });
    return layer1(net, { kind: 'cast', inputs: [emit(wide, mode, fillValue).id], dtype: 'bfloat16', name });
  }
  if (mode === 'fill' && x.dtype === 'int64' && neverEmpty(x)) {
    // ones in x's shape (int32): equal(x, x) is all true for integers.
    const same = layer1(net, { kind: 'elementwise', op: 'equal', inputs: [x.id, x.id], name });
    const ones = layer1(net, { kind: 'cast', inputs: [same.id], dtype: 'int32', name });
    const inside = layer1(net, { kind: 'cast', inputs: [emit(ones, 'fill', 0).id], dtype: 'bool', name });
    const fill = net.constant([Math.trunc(fillValue ?? 0)], 'int64', new Array<number>(x.rank).fill(1));
    return layer1(net, { kind: 'select', inputs: [inside.id, emit(x, 'wrap').id, fill.id], name });
  }
  return emit(x, mode, fillValue);
}

/**
 * Validates a per-dim argument (slice starts, expand shape): an int 1-D tensor of static
 * length `n`, or an array of `n` integers / 0-D or 1-element int tensors.
 */
export function checkParts(c: Check, arg: string, v: unknown, n: number, what: string): DimPart[] | Tensor {
  if (v instanceof Tensor) {
    const t = c.operand(arg, v, { dtypes: INDEX_DTYPES, rank: 1 });
    if (t.size(0) !== n) c.fail(arg, `has ${what} ${shapeToString(t.shape)}; expected length ${n} (one entry per dim)`);
    return t;
  }
  if (!Array.isArray(v)) return c.fail(arg, `must be a Tensor or an array of numbers/Tensors, got ${describe(v)}`);
  if (v.length !== n) c.fail(arg, `has ${v.length} entries; expected ${n} (one per dim of the input)`);
  return v.map((p: unknown, i: number) => {
    if (typeof p === 'number') return c.int(`${arg}[${i}]`, p);
    const t = c.operand(`${arg}[${i}]`, p, { dtypes: INDEX_DTYPES, rank: [0, 1] });
    if (t.rank === 1 && t.size(0) !== 1) c.fail(`${arg}[${i}]`, `has shape ${shapeToString(t.shape)}; expected a 0-D or 1-element tensor`);
    return t;
  });
}

/** Build-time values of a checked per-dim argument, entry by entry (undefined where unknown). */
export function partValues(p: DimPart[] | Tensor, n: number): (Dim | undefined)[] {
  if (p instanceof Tensor) return Array.from({ length: n }, (_, i) => p.values?.[i]);
  return p.map(partValue);
}
