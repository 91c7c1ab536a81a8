/**
 * Splits along a static dim into slices (TensorRT-LLM's split/chunk lower to one slice each):
 *
 * | op | pieces |
 * |---|---|
 * | split(input, n: number, dim) | size n each, the last one smaller when n does not divide (torch.split) |
 * | split(input, sections: number[], dim) | the given sizes, which sum to the dim |
 * | chunk(input, chunks, dim) | `chunks` equal pieces; chunks must divide the dim |
 */
import { shapeToString } from '../dsl/dim.js';
import { Tensor } from '../dsl/network.js';
import { dimParts, type DimPart, partsTensor, sliceLayer } from './dims.js';
import { type Check, declareOp, describe } from './op.js';

/** Slices `x` into consecutive pieces of the given sizes along `axis`. */
function pieces(x: Tensor, axis: number, sizes: readonly number[], name: string): Tensor[] {
  const have = dimParts(x);
  const bySize = new Map<number, DimPart[] | Tensor>();
  const sizeParam = (len: number) => {
    let p = bySize.get(len);
    if (!p) {
      const parts = [...have];
      parts[axis] = len;
      p = parts.every((q) => typeof q === 'number') ? parts : partsTensor(x.net, parts);
      bySize.set(len, p);
    }
    return p;
  };
  const stride = new Array<number>(x.rank).fill(1);
  let offset = 0;
  return sizes.map((len) => {
    const start = new Array<number>(x.rank).fill(0);
    start[axis] = offset;
    offset += len;
    return sliceLayer(x, start, sizeParam(len), stride, name);
  });
}

/** The static size of dim `axis`, or a failure naming the symbolic dim. */
function staticDim(c: Check, x: Tensor, axis: number): number {
  const n = x.size(axis);
  if (typeof n !== 'number') c.fail('dim', `is ${axis}, a dim of size ${String(n)} in input ${shapeToString(x.shape)}; the split dim must be static`, 'split along a dim whose size is known at build time, or slice() with run-time sizes');
  return n;
}

const splitDecl = declareOp('split', { input: { rank: [1, 8] } });

/** Splits into pieces of `split_size_or_sections` (one size, or the list of sizes) along `dim`. */
export function split(input: Tensor, split_size_or_sections: number | readonly number[], dim = 0): Tensor[] {
  const { c, input: x } = splitDecl.validate({ input });
  const check: Check = c;
  // 1. dim is an axis of static size.
  const axis = c.axis('dim', dim, x.rank);
  const n = staticDim(c, x, axis);
  let sizes: number[];
  if (typeof split_size_or_sections === 'number') {
    // 2a. One piece size >= 1; the last piece takes the remainder.
    const k = c.int('split_size_or_sections', split_size_or_sections, 1);
    sizes = [];
    for (let o = 0; o < n; o += k) sizes.push(Math.min(k, n - o));
  } else {
    // 2b. Sizes >= 0 that add up to the dim.
    if (!Array.isArray(split_size_or_sections)) check.fail('split_size_or_sections', `must be a number or an array of numbers, got ${describe(split_size_or_sections)}`);
    sizes = split_size_or_sections.map((s, i) => c.int(`split_size_or_sections[${i}]`, s, 0));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n) check.fail('split_size_or_sections', `[${sizes.join(', ')}] adds up to ${total}, but dim ${axis} of input ${shapeToString(x.shape)} has size ${n}`);
  }
  return pieces(x, axis, sizes, 'split');
}

const chunkDecl = declareOp('chunk', { input: { rank: [1, 8] } });

/** Splits into `chunks` equal pieces along `dim` (chunks must divide the dim, as in TensorRT-LLM). */
export function chunk(input: Tensor, chunks: number, dim = 0): Tensor[] {
  const { c, input: x } = chunkDecl.validate({ input });
  // 1. chunks >= 1.
  const k = c.int('chunks', chunks, 1);
  // 2. dim is an axis of static size divisible by chunks.
  const axis = c.axis('dim', dim, x.rank);
  const n = staticDim(c, x, axis);
  if (n % k !== 0) c.fail('chunks', `is ${k}, which does not divide dim ${axis} of size ${n} (input ${shapeToString(x.shape)})`, `use split(input, ${Math.ceil(n / k)}, ${dim}) for unequal pieces`);
  return pieces(x, axis, new Array<number>(k).fill(n / k), 'chunk');
}
