/** Host tensors cut along one axis and put back together: how full tensors map to rank shards and back. */
import { allocate } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Entries [start, end) of dim `axis` (a copy). */
export function sliceAxis(t: HostTensor, axis: number, start: number, end: number): HostTensor {
  const outer = prod(t.shape.slice(0, axis));
  const inner = prod(t.shape.slice(axis + 1));
  const size = end - start;
  const data = allocate(t.dtype, outer * size * inner);
  for (let o = 0; o < outer; o++) {
    const from = (o * t.shape[axis] + start) * inner;
    (data as Float32Array).set((t.data as Float32Array).subarray(from, from + size * inner), o * size * inner);
  }
  return { dtype: t.dtype, shape: t.shape.map((d, i) => (i === axis ? size : d)), data };
}

/** `parts` concatenated along `axis` (same dtype and other dims). */
export function concatAxis(parts: readonly HostTensor[], axis: number): HostTensor {
  const t0 = parts[0];
  const outer = prod(t0.shape.slice(0, axis));
  const inner = prod(t0.shape.slice(axis + 1));
  const total = parts.reduce((a, p) => a + p.shape[axis], 0);
  const data = allocate(t0.dtype, outer * total * inner);
  for (let o = 0; o < outer; o++) {
    let at = o * total * inner;
    for (const p of parts) {
      const run = p.shape[axis] * inner;
      (data as Float32Array).set((p.data as Float32Array).subarray(o * run, (o + 1) * run), at);
      at += run;
    }
  }
  return { dtype: t0.dtype, shape: t0.shape.map((d, i) => (i === axis ? total : d)), data };
}
