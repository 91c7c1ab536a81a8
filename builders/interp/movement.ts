/** Data-movement kernels: shuffle, concatenation, gather, slice, scatter, nonzero, fill, cast, select. */
import type { DType } from '../../dsl/dtype.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { ConcatenationLayer, FillLayer, GatherLayer, ScatterLayer, SliceLayer } from '../../dsl/ir.js';
import { asF64, asInts, broadcastStrides, forEachIndex, gatherOffsets, numel, strides, tensor } from './tensor.js';

export class KernelError extends Error {}

export function transpose(x: HostTensor, perm: readonly number[]): HostTensor {
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]);
  const s = strides(x.shape);
  const ps = perm.map((p) => s[p]);
  const offsets = new Int32Array(numel(shape));
  forEachIndex(shape, (f, idx) => {
    let o = 0;
    for (let d = 0; d < idx.length; d++) o += idx[d] * ps[d];
    offsets[f] = o;
  });
  return gatherOffsets(x, shape, offsets);
}

/** TensorRT reshape dims: 0 copies the input dim (when zeroIsPlaceholder), one -1 is inferred. */
export function reshapeTo(inShape: readonly number[], dims: readonly number[], zeroIsPlaceholder: boolean, where: string): number[] {
  const out = dims.map((d, i) => (zeroIsPlaceholder && d === 0 ? inShape[i] : d));
  const total = numel(inShape);
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const known = numel(out.filter((_, i) => i !== neg));
    if (known === 0 || total % known !== 0) throw new KernelError(`${where}: cannot reshape [${inShape}] into [${dims}]`);
    out[neg] = total / known;
  }
  if (numel(out) !== total || out.some((d) => d < 0 || !Number.isInteger(d))) throw new KernelError(`${where}: cannot reshape [${inShape}] (${total} elements) into [${dims}]`);
  return out;
}

export function concatenation(l: ConcatenationLayer, xs: HostTensor[]): HostTensor {
  const axis = l.axis;
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((a, t) => a + t.shape[axis], 0);
  for (const t of xs)
    if (t.shape.length !== shape.length || t.shape.some((d, i) => i !== axis && d !== shape[i]))
      throw new KernelError(`concatenation '${l.name}': input shapes [${xs.map((x) => `[${x.shape}]`).join(', ')}] differ outside axis ${axis}`);
  const out = tensor(xs[0].dtype, shape);
  const outer = numel(shape.slice(0, axis));
  const inner = numel(shape.slice(axis + 1));
  const o = out.data as Float32Array;
  let pos = 0;
  for (let b = 0; b < outer; b++) {
    for (const t of xs) {
      const block = t.shape[axis] * inner;
      o.set((t.data as Float32Array).subarray(b * block, (b + 1) * block), pos);
      pos += block;
    }
  }
  return out;
}

function checkIndex(i: number, n: number, what: string): number {
  const j = i < 0 ? i + n : i;
  if (!(j >= 0 && j < n)) throw new KernelError(`${what}: index ${i} is out of range for a dim of size ${n}`);
  return j;
}

export function gather(l: GatherLayer, data: HostTensor, indices: HostTensor): HostTensor {
  const idx = asInts(indices);
  const where = `gather '${l.name}'${l.site ? ` (${l.site})` : ''}`;
  if (l.mode === 'default') {
    const axis = l.axis;
    const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
    const outer = numel(data.shape.slice(0, axis));
    const inner = numel(data.shape.slice(axis + 1));
    const n = data.shape[axis];
    const out = tensor(data.dtype, shape);
    const s = data.data as Float32Array;
    const o = out.data as Float32Array;
    let pos = 0;
    for (let b = 0; b < outer; b++)
      for (const i of idx) {
        const j = checkIndex(i, n, where);
        const start = (b * n + j) * inner;
        o.set(s.subarray(start, start + inner), pos);
        pos += inner;
      }
    return out;
  }
  if (l.mode === 'element') {
    const axis = l.axis;
    const ds = strides(data.shape);
    const n = data.shape[axis];
    const offsets = new Int32Array(idx.length);
    forEachIndex(indices.shape, (f, ix) => {
      let o = 0;
      for (let d = 0; d < ix.length; d++) o += (d === axis ? checkIndex(idx[f], n, where) : ix[d]) * ds[d];
      offsets[f] = o;
    });
    return gatherOffsets(data, indices.shape, offsets);
  }
  // nd: batch dims b matched element-wise; the last index dim addresses k dims of data.
  const b = l.nbElementWiseDims;
  const k = indices.shape[indices.shape.length - 1];
  const shape = [...indices.shape.slice(0, -1), ...data.shape.slice(b + k)];
  const inner = numel(data.shape.slice(b + k));
  const ds = strides(data.shape);
  const batchShape = indices.shape.slice(0, b);
  const perBatch = numel(indices.shape.slice(b, -1));
  const out = tensor(data.dtype, shape);
  const s = data.data as Float32Array;
  const o = out.data as Float32Array;
  let pos = 0;
  let q = 0;
  forEachIndex(batchShape, (_f, bi) => {
    let base = 0;
    for (let d = 0; d < b; d++) base += bi[d] * ds[d];
    for (let p = 0; p < perBatch; p++) {
      let off = base;
      for (let j = 0; j < k; j++) off += checkIndex(idx[q++], data.shape[b + j], where) * ds[b + j];
      o.set(s.subarray(off, off + inner), pos);
      pos += inner;
    }
  });
  return out;
}

export function slice(l: SliceLayer, x: HostTensor, start: number[], size: number[], stride: number[]): HostTensor {
  const where = `slice '${l.name}'${l.site ? ` (${l.site})` : ''}`;
  const xs = strides(x.shape);
  const out = tensor(x.dtype, size);
  const src = x.data as Float32Array;
  const o = out.data as Float32Array;
  const fill = l.fillValue ?? 0;
  const fillValue: number | bigint = x.dtype === 'int64' ? BigInt(Math.trunc(fill)) : x.dtype === 'bool' ? (fill ? 1 : 0) : fill;
  forEachIndex(size, (f, idx) => {
    let off = 0;
    let outside = false;
    for (let d = 0; d < idx.length; d++) {
      let j = start[d] + idx[d] * stride[d];
      const n = x.shape[d];
      if (j < 0 || j >= n) {
        if (l.mode === 'wrap') j = ((j % n) + n) % n;
        else if (l.mode === 'clamp') j = Math.min(Math.max(j, 0), n - 1);
        else if (l.mode === 'fill') outside = true;
        else throw new KernelError(`${where}: position ${j} on axis ${d} is outside [0, ${n}) (start ${start[d]}, stride ${stride[d]}, size ${size[d]})`);
      }
      off += j * xs[d];
    }
    (o as unknown as (number | bigint)[])[f] = outside ? (x.dtype === 'float16' ? f32ToF16(fill) : x.dtype === 'bfloat16' ? f32ToBf16(fill) : fillValue) : src[off];
  });
  return out;
}

export function scatter(l: ScatterLayer, data: HostTensor, indices: HostTensor, updates: HostTensor): HostTensor {
  const where = `scatter '${l.name}'${l.site ? ` (${l.site})` : ''}`;
  const out = tensor(data.dtype, data.shape, data.data.slice() as HostTensor['data']);
  const o = out.data as Float32Array;
  const u = updates.data as Float32Array;
  const idx = asInts(indices);
  const ds = strides(data.shape);
  if (l.mode === 'element') {
    const axis = l.axis;
    forEachIndex(indices.shape, (f, ix) => {
      let off = 0;
      for (let d = 0; d < ix.length; d++) off += (d === axis ? checkIndex(idx[f], data.shape[axis], where) : ix[d]) * ds[d];
      o[off] = u[f];
    });
    return out;
  }
  const k = indices.shape[indices.shape.length - 1];
  const inner = numel(data.shape.slice(k));
  const count = numel(indices.shape.slice(0, -1));
  for (let p = 0; p < count; p++) {
    let off = 0;
    for (let j = 0; j < k; j++) off += checkIndex(idx[p * k + j], data.shape[j], where) * ds[j];
    o.set(u.subarray(p * inner, (p + 1) * inner), off);
  }
  return out;
}

export function nonzero(x: HostTensor): HostTensor {
  const pos: number[][] = [];
  const d = x.data;
  forEachIndex(x.shape, (f, idx) => {
    const v = d[f];
    if (typeof v === 'bigint' ? v !== 0n : v !== 0) pos.push([...idx]);
  });
  const r = x.shape.length;
  const out = tensor('int64', [r, pos.length]);
  const o = out.data as BigInt64Array;
  for (let i = 0; i < pos.length; i++) for (let a = 0; a < r; a++) o[a * pos.length + i] = BigInt(pos[i][a]);
  return out;
}

export function fill(l: FillLayer, dims: number[]): HostTensor {
  const n = numel(dims);
  const vals = new Float64Array(n);
  // Linspace over the flattened output (TensorRT: alpha + index * beta along one dim; 1-D here).
  for (let i = 0; i < n; i++) vals[i] = l.alpha + i * l.beta;
  const out = tensor(l.dtype, dims);
  storeNumbers(out, vals);
  return out;
}

/** Stores JS numbers into `out` converting as a cast would (float→int truncates). */
export function storeNumbers(out: HostTensor, v: ArrayLike<number>): void {
  const o = out.data;
  const n = v.length;
  switch (out.dtype) {
    case 'float16':
      for (let i = 0; i < n; i++) (o as Uint16Array)[i] = f32ToF16(v[i]);
      return;
    case 'bfloat16':
      for (let i = 0; i < n; i++) (o as Uint16Array)[i] = f32ToBf16(v[i]);
      return;
    case 'int64':
      for (let i = 0; i < n; i++) (o as BigInt64Array)[i] = BigInt(Number.isFinite(v[i]) ? Math.trunc(v[i]) : 0);
      return;
    case 'bool':
      for (let i = 0; i < n; i++) (o as Uint8Array)[i] = v[i] !== 0 && !Number.isNaN(v[i]) ? 1 : 0;
      return;
    case 'int32':
    case 'int8':
      for (let i = 0; i < n; i++) (o as Int32Array)[i] = Number.isFinite(v[i]) ? Math.trunc(v[i]) : 0;
      return;
    default:
      (o as Float32Array).set(v);
  }
}

export function cast(x: HostTensor, dtype: DType): HostTensor {
  if (x.dtype === dtype) return x;
  const out = tensor(dtype, x.shape);
  if (x.dtype === 'int64' && dtype !== 'bool' && dtype !== 'float32' && dtype !== 'float16' && dtype !== 'bfloat16') {
    const s = x.data as BigInt64Array;
    for (let i = 0; i < s.length; i++) (out.data as Int32Array)[i] = Number(BigInt.asIntN(32, s[i]));
    return out;
  }
  if (x.dtype === 'int64' && dtype === 'bool') {
    const s = x.data as BigInt64Array;
    for (let i = 0; i < s.length; i++) (out.data as Uint8Array)[i] = s[i] !== 0n ? 1 : 0;
    return out;
  }
  if (dtype === 'int64' && (x.dtype === 'int32' || x.dtype === 'int8' || x.dtype === 'bool')) {
    const s = x.data as Int32Array;
    for (let i = 0; i < s.length; i++) (out.data as BigInt64Array)[i] = BigInt(s[i]);
    return out;
  }
  storeNumbers(out, x.dtype === 'float16' || x.dtype === 'bfloat16' || x.dtype === 'int64' ? asF64(x) : (x.data as Float32Array));
  return out;
}

/** Select: condition ? then : else, with broadcasting of equal-rank shapes. */
export function select(c: HostTensor, a: HostTensor, b: HostTensor): HostTensor {
  const shape = c.shape.map((_, i) => Math.max(c.shape[i], a.shape[i], b.shape[i]));
  const cs = broadcastStrides(c.shape, shape);
  const as = broadcastStrides(a.shape, shape);
  const bs = broadcastStrides(b.shape, shape);
  const out = tensor(a.dtype, shape);
  const o = out.data as Float32Array;
  const cd = c.data as Uint8Array;
  const ad = a.data as Float32Array;
  const bd = b.data as Float32Array;
  forEachIndex(shape, (f, idx) => {
    let co = 0;
    let ao = 0;
    let bo = 0;
    for (let d = 0; d < idx.length; d++) {
      co += idx[d] * cs[d];
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
    }
    o[f] = cd[co] ? ad[ao] : bd[bo];
  });
  return out;
}

export { bf16ToF32, f16ToF32 };
