/** Arithmetic kernels: elementwise, unary, activation, matmul, softmax, topk, reduce, cumulative. */
import type { HostTensor } from '../../dsl/host.js';
import type { ActivationLayer, CumulativeLayer, ElementWiseOp, MatrixMultiplyLayer, ReduceLayer, TopKLayer, UnaryOp } from '../../dsl/ir.js';
import { asF32, asF64, broadcastStrides, forEachIndex, fromFloats, numel, strides, tensor } from './tensor.js';
import { KernelError, transpose } from './movement.js';

const CMP = new Set<ElementWiseOp>(['equal', 'greater', 'less']);
const LOGIC = new Set<ElementWiseOp>(['and', 'or', 'xor']);

function floatOp(op: ElementWiseOp): (a: number, b: number) => number {
  switch (op) {
    case 'sum': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'prod': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'floor_div': return (a, b) => Math.floor(a / b);
    case 'pow': return (a, b) => Math.pow(a, b);
    case 'max': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'min': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'equal': return (a, b) => +(a === b);
    case 'greater': return (a, b) => +(a > b);
    case 'less': return (a, b) => +(a < b);
    case 'and': return (a, b) => +(!!a && !!b);
    case 'or': return (a, b) => +(!!a || !!b);
    case 'xor': return (a, b) => +(!!a !== !!b);
  }
}

function intOp(op: ElementWiseOp): (a: number, b: number) => number {
  switch (op) {
    case 'div': return (a, b) => (b === 0 ? 0 : Math.trunc(a / b)); // C semantics, as TensorRT
    case 'floor_div': return (a, b) => (b === 0 ? 0 : Math.floor(a / b));
    case 'prod': return (a, b) => Math.imul(a, b);
    default: return floatOp(op);
  }
}

function bigOp(op: ElementWiseOp): (a: bigint, b: bigint) => bigint {
  switch (op) {
    case 'sum': return (a, b) => BigInt.asIntN(64, a + b);
    case 'sub': return (a, b) => BigInt.asIntN(64, a - b);
    case 'prod': return (a, b) => BigInt.asIntN(64, a * b);
    case 'div': return (a, b) => (b === 0n ? 0n : a / b); // bigint division truncates
    case 'floor_div': return (a, b) => {
      if (b === 0n) return 0n;
      const q = a / b;
      return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
    };
    case 'pow': return (a, b) => (b >= 0n ? BigInt.asIntN(64, a ** b) : a === 1n ? 1n : a === -1n ? (b % 2n === 0n ? 1n : -1n) : 0n);
    case 'max': return (a, b) => (a > b ? a : b);
    case 'min': return (a, b) => (a < b ? a : b);
    case 'equal': return (a, b) => (a === b ? 1n : 0n);
    case 'greater': return (a, b) => (a > b ? 1n : 0n);
    case 'less': return (a, b) => (a < b ? 1n : 0n);
    default: throw new KernelError(`elementwise ${op} is not defined for int64`);
  }
}

export function elementwise(op: ElementWiseOp, a: HostTensor, b: HostTensor, name: string): HostTensor {
  if (a.shape.length !== b.shape.length) throw new KernelError(`elementwise '${name}': ranks differ ([${a.shape}] vs [${b.shape}])`);
  const shape = a.shape.map((d, i) => {
    const e = b.shape[i];
    if (d !== e && d !== 1 && e !== 1) throw new KernelError(`elementwise '${name}': shapes [${a.shape}] and [${b.shape}] do not broadcast`);
    return d === 1 ? e : d;
  });
  const as = broadcastStrides(a.shape, shape);
  const bs = broadcastStrides(b.shape, shape);
  const outDtype = CMP.has(op) || LOGIC.has(op) ? 'bool' : a.dtype;
  const n = numel(shape);
  // Offsets of both operands for every output element (odometer walk).
  const ao = new Int32Array(n);
  const bo = new Int32Array(n);
  if (shape.every((d, i) => a.shape[i] === d && b.shape[i] === d)) {
    for (let i = 0; i < n; i++) ao[i] = bo[i] = i;
  } else
    forEachIndex(shape, (f, idx) => {
      let x = 0;
      let y = 0;
      for (let d = 0; d < idx.length; d++) {
        x += idx[d] * as[d];
        y += idx[d] * bs[d];
      }
      ao[f] = x;
      bo[f] = y;
    });
  if (a.dtype === 'int64') {
    const f = bigOp(op);
    const x = a.data as BigInt64Array;
    const y = b.data as BigInt64Array;
    if (outDtype === 'bool') {
      const out = tensor('bool', shape);
      for (let i = 0; i < n; i++) (out.data as Uint8Array)[i] = Number(f(x[ao[i]], y[bo[i]]));
      return out;
    }
    const out = tensor('int64', shape);
    const o = out.data as BigInt64Array;
    for (let i = 0; i < n; i++) o[i] = f(x[ao[i]], y[bo[i]]);
    return out;
  }
  const isIntLike = a.dtype === 'int32' || a.dtype === 'int8' || a.dtype === 'bool';
  const f = isIntLike ? intOp(op) : floatOp(op);
  const x = isIntLike || a.dtype === 'float32' ? (a.data as Float32Array) : asF32(a);
  const y = isIntLike || b.dtype === 'float32' ? (b.data as Float32Array) : asF32(b);
  const vals = new Float64Array(n);
  for (let i = 0; i < n; i++) vals[i] = f(x[ao[i]], y[bo[i]]);
  return fromFloats(outDtype, shape, vals);
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for float32; use a series / continued fraction.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x;
    let term = x;
    const x2 = x * x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for large |x|.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function unary(op: UnaryOp, x: HostTensor): HostTensor {
  const n = x.data.length;
  if (op === 'not') {
    const out = tensor(x.dtype, x.shape);
    for (let i = 0; i < n; i++) (out.data as Uint8Array)[i] = x.data[i] ? 0 : 1;
    return out;
  }
  if (x.dtype === 'int64' && (op === 'abs' || op === 'neg' || op === 'sign')) {
    const out = tensor('int64', x.shape);
    const s = x.data as BigInt64Array;
    const o = out.data as BigInt64Array;
    for (let i = 0; i < n; i++) o[i] = op === 'neg' ? -s[i] : op === 'abs' ? (s[i] < 0n ? -s[i] : s[i]) : s[i] > 0n ? 1n : s[i] < 0n ? -1n : 0n;
    return out;
  }
  const v = asF64(x);
  const f: (a: number) => number = {
    exp: Math.exp, log: Math.log, sqrt: Math.sqrt, recip: (a: number) => 1 / a, abs: Math.abs, neg: (a: number) => -a,
    sin: Math.sin, cos: Math.cos, floor: Math.floor, ceil: Math.ceil, round: roundHalfEven, erf, sign: Math.sign,
    isnan: (a: number) => +Number.isNaN(a), isinf: (a: number) => +(a === Infinity || a === -Infinity), not: (a: number) => +!a,
  }[op];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(v[i]);
  return fromFloats(op === 'isnan' || op === 'isinf' ? 'bool' : x.dtype, x.shape, out);
}

export function activation(l: ActivationLayer, x: HostTensor): HostTensor {
  const v = asF64(x);
  const a = l.alpha ?? 0;
  const b = l.beta ?? 0;
  const f: (z: number) => number = {
    relu: (z: number) => (z > 0 ? z : 0),
    sigmoid: (z: number) => 1 / (1 + Math.exp(-z)),
    tanh: Math.tanh,
    leaky_relu: (z: number) => (z >= 0 ? z : a * z),
    elu: (z: number) => (z >= 0 ? z : a * (Math.exp(z) - 1)),
    // TensorRT: alpha·log(1 + exp(beta·x)).
    softplus: (z: number) => (l.alpha ?? 1) * (z * (l.beta ?? 1) > 20 ? z * (l.beta ?? 1) : Math.log1p(Math.exp(z * (l.beta ?? 1)))),
    clip: (z: number) => Math.min(Math.max(z, a), b),
    gelu_erf: (z: number) => 0.5 * z * (1 + erf(z / Math.SQRT2)),
    gelu_tanh: (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z))),
  }[l.op];
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = f(v[i]);
  return fromFloats(x.dtype, x.shape, out);
}

/** Batched matmul with broadcast batch dims; accumulates in float64, stores in the input dtype. */
export function matmul(l: MatrixMultiplyLayer, a0: HostTensor, b0: HostTensor): HostTensor {
  // Bring A to [...batch, M, K]; B stays [...batch, K, N], or [...batch, N, K] when transposed:
  // then each output is a dot product of two contiguous rows, and the (often large) weight
  // is never copied.
  let a = a0;
  let aShape = [...a.shape];
  let bShape = [...b0.shape];
  if (l.opA === 'vector') aShape = [...aShape.slice(0, -1), 1, aShape[aShape.length - 1]];
  if (l.opB === 'vector') bShape = [...bShape.slice(0, -1), bShape[bShape.length - 1], 1];
  a = { ...a, shape: aShape };
  const b = { ...b0, shape: bShape };
  if (l.opA === 'transpose') a = transpose(a, [...aShape.keys()].map((i) => (i === aShape.length - 2 ? i + 1 : i === aShape.length - 1 ? i - 1 : i)));
  const bT = l.opB === 'transpose';
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = bT ? [bShape[bShape.length - 1], bShape[bShape.length - 2]] : bShape.slice(-2);
  if (K !== K2) throw new KernelError(`matmul '${l.name}': inner dims differ ([${a0.shape}] x [${b0.shape}])`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const ab = [...Array(rank - aBatch.length).fill(1), ...aBatch];
  const bb = [...Array(rank - bBatch.length).fill(1), ...bBatch];
  const batch = ab.map((d, i) => Math.max(d, bb[i]));
  const as = broadcastStrides(ab, batch);
  const bs = broadcastStrides(bb, batch);
  const A = asF32(a);
  const B = asF32(b);
  const nb = numel(batch);
  const out = new Float32Array(nb * M * N);
  const acc = new Float64Array(N);
  forEachIndex(batch, (f, idx) => {
    let ao = 0;
    let bo = 0;
    for (let d = 0; d < idx.length; d++) {
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
    }
    const aBase = ao * M * K;
    const bBase = bo * K * N;
    for (let i = 0; i < M; i++) {
      const aRow = aBase + i * K;
      const oBase = (f * M + i) * N;
      if (bT) {
        for (let j = 0; j < N; j++) {
          const bRow = bBase + j * K;
          // Four float64 partial sums: independent add chains run ~2x faster, and float32
          // products summed in float64 round to the same float32 result.
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let k = 0;
          for (; k + 3 < K; k += 4) {
            s0 += A[aRow + k] * B[bRow + k];
            s1 += A[aRow + k + 1] * B[bRow + k + 1];
            s2 += A[aRow + k + 2] * B[bRow + k + 2];
            s3 += A[aRow + k + 3] * B[bRow + k + 3];
          }
          for (; k < K; k++) s0 += A[aRow + k] * B[bRow + k];
          out[oBase + j] = s0 + s1 + (s2 + s3);
        }
        continue;
      }
      acc.fill(0);
      for (let k = 0; k < K; k++) {
        const av = A[aRow + k];
        if (av === 0) continue;
        const row = bBase + k * N;
        for (let j = 0; j < N; j++) acc[j] += av * B[row + j];
      }
      for (let j = 0; j < N; j++) out[oBase + j] = acc[j];
    }
  });
  const shape = [...batch];
  if (l.opA !== 'vector') shape.push(M);
  if (l.opB !== 'vector') shape.push(N);
  return fromFloats(a0.dtype, shape, out);
}

/** Iterates the lines along `axis`: fn(offsets of the line's elements). */
function forEachLine(shape: readonly number[], axis: number, fn: (base: number, step: number, n: number) => void): void {
  const n = shape[axis];
  const inner = numel(shape.slice(axis + 1));
  const outer = numel(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) fn(o * n * inner + i, inner, n);
}

export function softmax(axis: number, x: HostTensor): HostTensor {
  const v = asF64(x);
  const out = new Float64Array(v.length);
  forEachLine(x.shape, axis, (base, step, n) => {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, v[base + j * step]);
    let s = 0;
    for (let j = 0; j < n; j++) s += out[base + j * step] = Math.exp(v[base + j * step] - m);
    for (let j = 0; j < n; j++) out[base + j * step] /= s;
  });
  return fromFloats(x.dtype, x.shape, out);
}

/** TopK along one axis; ties resolve to the lower index (stable). */
export function topk(l: TopKLayer, x: HostTensor): [HostTensor, HostTensor] {
  const axis = l.axis;
  const k = l.k;
  const n = x.shape[axis];
  if (k > n) throw new KernelError(`topk '${l.name}': k=${k} is larger than the axis size ${n}`);
  const shape = [...x.shape];
  shape[axis] = k;
  const values = tensor(x.dtype, shape);
  const indices = tensor('int32', shape);
  const v = x.dtype === 'int64' ? null : asF64(x);
  const big = x.dtype === 'int64' ? (x.data as BigInt64Array) : null;
  const inner = numel(x.shape.slice(axis + 1));
  const outer = numel(x.shape.slice(0, axis));
  const order = new Array<number>(n);
  const sign = l.op === 'max' ? 1 : -1;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const get = (j: number): number => (v ? v[base + j * inner] : Number(big![base + j * inner]));
      // Rank order: NaN first (like torch.topk), then by value, ties to the lower index.
      const before = (p: number, q: number): number => {
        const a = get(p);
        const b = get(q);
        const an = Number.isNaN(a);
        const bn = Number.isNaN(b);
        if (an || bn) return an && bn ? p - q : an ? -1 : 1;
        return a === b ? p - q : sign * (b - a) > 0 ? 1 : -1;
      };
      if (k * 16 <= n) {
        // Small k (beam search, top-50 warping over a vocabulary): keep a sorted window of k,
        // O(n) comparisons instead of sorting the whole line.
        let count = 0;
        for (let j = 0; j < n; j++) {
          if (count === k && before(j, order[k - 1]!) >= 0) continue;
          let at = count < k ? count++ : k - 1;
          while (at > 0 && before(j, order[at - 1]!) < 0) {
            order[at] = order[at - 1]!;
            at--;
          }
          order[at] = j;
        }
      } else {
        for (let j = 0; j < n; j++) order[j] = j;
        order.sort(before);
      }
      const obase = o * k * inner + i;
      for (let j = 0; j < k; j++) {
        const src = base + order[j] * inner;
        (values.data as Float32Array)[obase + j * inner] = (x.data as Float32Array)[src];
        (indices.data as Int32Array)[obase + j * inner] = order[j];
      }
    }
  return [values, indices];
}

export function reduce(l: ReduceLayer, x: HostTensor): HostTensor {
  const axes = new Set(l.axes);
  const outShapeKeep = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
  const outShape = l.keepDims ? outShapeKeep : x.shape.filter((_, i) => !axes.has(i));
  const os = broadcastStrides(outShapeKeep, x.shape).map((s, i) => (axes.has(i) ? 0 : s));
  const m = numel(outShapeKeep);
  const count = numel(x.shape) / Math.max(m, 1);
  if (x.dtype === 'int64') {
    const acc = new Array<bigint>(m).fill(l.op === 'prod' ? 1n : 0n);
    const seen = new Uint8Array(m);
    const s = x.data as BigInt64Array;
    forEachIndex(x.shape, (f, idx) => {
      let o = 0;
      for (let d = 0; d < idx.length; d++) o += idx[d] * os[d];
      const v = s[f];
      if (l.op === 'sum' || l.op === 'avg') acc[o] += v;
      else if (l.op === 'prod') acc[o] *= v;
      else if (!seen[o] || (l.op === 'max' ? v > acc[o] : v < acc[o])) acc[o] = v;
      seen[o] = 1;
    });
    const out = tensor('int64', outShape);
    for (let i = 0; i < m; i++) (out.data as BigInt64Array)[i] = BigInt.asIntN(64, l.op === 'avg' ? acc[i] / BigInt(count) : acc[i]);
    return out;
  }
  const v = asF64(x);
  const acc = new Float64Array(m).fill(l.op === 'prod' ? 1 : l.op === 'max' ? -Infinity : l.op === 'min' ? Infinity : 0);
  forEachIndex(x.shape, (f, idx) => {
    let o = 0;
    for (let d = 0; d < idx.length; d++) o += idx[d] * os[d];
    const a = v[f];
    if (l.op === 'sum' || l.op === 'avg') acc[o] += a;
    else if (l.op === 'prod') acc[o] *= a;
    else if (l.op === 'max') acc[o] = Number.isNaN(a) || a > acc[o] ? a : acc[o];
    else acc[o] = Number.isNaN(a) || a < acc[o] ? a : acc[o];
  });
  if (l.op === 'avg') for (let i = 0; i < m; i++) acc[i] /= count;
  if (x.dtype === 'int32' || x.dtype === 'int8') for (let i = 0; i < m; i++) acc[i] = l.op === 'avg' ? Math.trunc(acc[i]) : acc[i];
  return fromFloats(x.dtype === 'bool' ? 'bool' : x.dtype, outShape, acc);
}

export function cumulative(l: CumulativeLayer, x: HostTensor): HostTensor {
  const axis = l.axis;
  if (x.dtype === 'int64') {
    const s = x.data as BigInt64Array;
    const out = tensor('int64', x.shape);
    const o = out.data as BigInt64Array;
    forEachLine(x.shape, axis, (base, step, n) => {
      let acc = 0n;
      for (let t = 0; t < n; t++) {
        const j = l.reverse ? n - 1 - t : t;
        const p = base + j * step;
        if (l.exclusive) {
          o[p] = acc;
          acc += s[p];
        } else {
          acc += s[p];
          o[p] = acc;
        }
      }
    });
    return out;
  }
  const v = asF64(x);
  const out = new Float64Array(v.length);
  forEachLine(x.shape, axis, (base, step, n) => {
    let acc = 0;
    for (let t = 0; t < n; t++) {
      const j = l.reverse ? n - 1 - t : t;
      const p = base + j * step;
      if (l.exclusive) {
        out[p] = acc;
        acc += v[p];
      } else {
        acc += v[p];
        out[p] = acc;
      }
    }
  });
  return fromFloats(x.dtype, x.shape, out);
}

export { strides };
