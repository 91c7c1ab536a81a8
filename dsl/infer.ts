/**
 * Output dtype and shape of each IR layer, computed as TensorRT does when a layer is added.
 * Ops validate user arguments first (ops/); a failure here is a bug in an op's lowering, so
 * these throw plain internal errors. Small int tensors also carry their values (`values`) so
 * shape arithmetic (`view(x, concat([shape(x, 0), 4, -1]))`) resolves at build time.
 */
import type { DType } from './dtype.js';
import { isFloat } from './dtype.js';
import type { Dim } from './dim.js';
import {
  dimAdd, dimDiv, dimEq, dimFloorDiv, dimMax, dimMin, dimMul, dimSub, freshDim, isStaticShape,
  shapeToString, sym, volume,
} from './dim.js';
import type { DimsOrTensor, Layer, TensorInfo } from './ir.js';
import { assertNever } from './ir.js';

export type OutInfo = Omit<TensorInfo, 'id'>;
type Get = (id: number) => TensorInfo;

function fail(layer: Layer, msg: string): never {
  throw new Error(`internal: ${layer.kind} layer '${layer.name}': ${msg}`);
}

/** Values of a DimsOrTensor parameter, when known at build time. */
export function paramDims(p: DimsOrTensor, get: Get): Dim[] | undefined {
  if (Array.isArray(p)) return p;
  return get(p.tensor).values;
}
function paramLen(p: DimsOrTensor, get: Get): number {
  if (Array.isArray(p)) return p.length;
  const s = get(p.tensor).shape;
  if (s.length !== 1 || typeof s[0] !== 'number') throw new Error('internal: shape tensor must be 1-D with static length');
  return s[0];
}
function unknownDims(n: number, tag: string): Dim[] {
  return Array.from({ length: n }, () => freshDim(tag));
}

/** Broadcast of equal-rank shapes (dims of 1 stretch), as TensorRT's elementwise layers. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] | undefined {
  if (a.length !== b.length) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < a.length; i++) {
    if (dimEq(a[i], b[i]) || b[i] === 1) out.push(a[i]);
    else if (a[i] === 1) out.push(b[i]);
    else if (typeof a[i] !== 'number' || typeof b[i] !== 'number') out.push(typeof a[i] === 'number' ? b[i] : a[i]);
    else return undefined;
  }
  return out;
}

const MAX_TRACKED = 16; // values tracked only for small 1-D / scalar int tensors

function elementwiseValues(op: string, a?: Dim[], b?: Dim[]): Dim[] | undefined {
  if (!a || !b) return undefined;
  const n = Math.max(a.length, b.length);
  if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length === 1 ? 0 : i];
    const y = b[b.length === 1 ? 0 : i];
    let r: Dim | undefined;
    switch (op) {
      case 'sum': r = dimAdd(x, y); break;
      case 'sub': r = dimSub(x, y); break;
      case 'prod': r = dimMul(x, y); break;
      case 'div':
      case 'floor_div': r = typeof x === 'number' && typeof y === 'number' ? (op === 'div' ? Math.trunc(x / y) : Math.floor(x / y)) : dimDiv(x, y) ?? dimFloorDiv(x, y); break;
      case 'max': r = dimMax(x, y); break;
      case 'min': r = dimMin(x, y); break;
      default: return undefined;
    }
    out.push(r);
  }
  return out;
}

/** Reshape dims with TensorRT's 0 (copy, when zeroIsPlaceholder) and -1 (infer) rules. */
export function reshapeDims(inShape: readonly Dim[], dims: readonly Dim[], zeroIsPlaceholder: boolean): Dim[] | string {
  const out: Dim[] = dims.map((d, i) => (zeroIsPlaceholder && d === 0 ? inShape[i] : d));
  const neg = out.findIndex((d) => d === -1);
  if (out.filter((d) => d === -1).length > 1) return 'at most one -1 is allowed';
  if (neg >= 0) {
    const known = volume(out.filter((_, i) => i !== neg));
    const total = volume(inShape);
    const q = dimDiv(total, known);
    if (q === undefined) {
      if (isStaticShape(inShape) && isStaticShape(out.filter((_, i) => i !== neg)))
        return `cannot reshape ${shapeToString(inShape)} (${total} elements) into ${shapeToString(dims)}`;
      out[neg] = dimFloorDiv(total, known);
    } else out[neg] = q;
  } else if (isStaticShape(inShape) && isStaticShape(out) && volume(inShape) !== volume(out)) {
    return `cannot reshape ${shapeToString(inShape)} into ${shapeToString(dims)}`;
  }
  return out;
}

export function inferLayer(layer: Layer, get: Get): OutInfo[] {
  const ins = layer.inputs.map(get);
  const x = ins[0];
  switch (layer.kind) {
    case 'constant': {
      const w = layer.weights;
      let values: Dim[] | undefined;
      // Count from the shape: reading `data` would load a lazy weight.
      if ((w.dtype === 'int32' || w.dtype === 'int64') && w.shape.length <= 1 && w.shape.reduce((a, b) => a * b, 1) <= MAX_TRACKED)
        values = Array.from(w.data as ArrayLike<number | bigint>, (v) => Number(v));
      return [{ dtype: w.dtype, shape: [...w.shape], values }];
    }
    case 'shape':
      return [{ dtype: 'int64', shape: [x.shape.length], values: [...x.shape] }];
    case 'shuffle': {
      let shape: Dim[] = [...x.shape];
      let values = x.values;
      if (layer.first) shape = layer.first.map((p) => shape[p]);
      if (layer.reshape !== undefined) {
        const dims = paramDims(layer.reshape, get);
        if (dims) {
          const r = reshapeDims(shape, dims, layer.zeroIsPlaceholder);
          if (typeof r === 'string') fail(layer, r);
          shape = r;
        } else shape = unknownDims(paramLen(layer.reshape, get), 'reshape');
      } else values = layer.first ? undefined : values;
      if (layer.second) shape = layer.second.map((p) => shape[p]);
      // Reshaping between scalar and 1-element 1-D keeps tracked values.
      const keep = values && values.length <= MAX_TRACKED && shape.length <= 1 && !layer.first && !layer.second;
      return [{ dtype: x.dtype, shape, values: keep ? values : undefined }];
    }
    case 'concatenation': {
      const axis = layer.axis;
      const shape = [...x.shape];
      shape[axis] = ins.reduce<Dim>((acc, t) => dimAdd(acc, t.shape[axis]), 0);
      const values = x.shape.length === 1 && ins.every((t) => t.values) ? ins.flatMap((t) => t.values!) : undefined;
      return [{ dtype: x.dtype, shape, values }];
    }
    case 'gather': {
      const [data, idx] = ins;
      if (layer.mode === 'element') return [{ dtype: data.dtype, shape: [...idx.shape] }];
      if (layer.mode === 'default') {
        const shape = [...data.shape.slice(0, layer.axis), ...idx.shape, ...data.shape.slice(layer.axis + 1)];
        let values: Dim[] | undefined;
        if (data.values && idx.values && data.shape.length === 1) {
          const n = data.values.length;
          values = idx.values.map((i) => (typeof i === 'number' ? data.values![i < 0 ? i + n : i] : freshDim('g')));
        }
        return [{ dtype: data.dtype, shape, values }];
      }
      // nd: indices [..., k]; batch dims b; output = idx.shape[:-1] ++ data.shape[b + k:]
      const k = idx.shape[idx.shape.length - 1];
      if (typeof k !== 'number') fail(layer, 'last dim of gather_nd indices must be static');
      const shape = [...idx.shape.slice(0, -1), ...data.shape.slice(layer.nbElementWiseDims + k)];
      return [{ dtype: data.dtype, shape }];
    }
    case 'slice': {
      const n = x.shape.length;
      const start = paramDims(layer.start, get);
      const size = paramDims(layer.size, get);
      const stride = paramDims(layer.stride, get);
      const shape = size ? [...size] : unknownDims(n, 'slice');
      let values: Dim[] | undefined;
      if (x.values && n === 1 && start && size && stride && [start[0], size[0], stride[0]].every((v) => typeof v === 'number')) {
        const [s0, n0, st] = [start[0], size[0], stride[0]] as number[];
        const len = x.values.length;
        values = [];
        for (let i = 0; i < n0; i++) {
          let j = s0 + i * st;
          if (layer.mode === 'wrap') j = ((j % len) + len) % len;
          if (layer.mode === 'clamp') j = Math.min(Math.max(j, 0), len - 1);
          values.push(j >= 0 && j < len ? x.values[j] : layer.fillValue ?? 0);
        }
      }
      return [{ dtype: x.dtype, shape, values }];
    }
    case 'elementwise': {
      const [a, b] = ins;
      const shape = broadcastShapes(a.shape, b.shape);
      if (!shape) fail(layer, `cannot broadcast ${shapeToString(a.shape)} with ${shapeToString(b.shape)}`);
      const cmp = ['equal', 'greater', 'less'].includes(layer.op);
      const logical = ['and', 'or', 'xor'].includes(layer.op);
      const dtype: DType = cmp || logical ? 'bool' : a.dtype;
      const values = a.shape.length <= 1 && !cmp && !logical ? elementwiseValues(layer.op, a.values, b.values) : undefined;
      return [{ dtype, shape, values }];
    }
    case 'unary': {
      const dtype: DType = layer.op === 'isnan' || layer.op === 'isinf' ? 'bool' : x.dtype;
      const values = layer.op === 'neg' && x.values ? x.values.map((v) => dimMul(v, -1)) : undefined;
      return [{ dtype, shape: [...x.shape], values }];
    }
    case 'activation':
    case 'softmax':
    case 'cumulative':
      return [{ dtype: x.dtype, shape: [...x.shape] }];
    case 'matmul': {
      const [a, b] = ins;
      const as = layer.opA === 'vector' ? a.shape : a.shape;
      const bs = b.shape;
      const am = layer.opA === 'vector' ? [as[as.length - 1]] : layer.opA === 'transpose' ? [as[as.length - 1], as[as.length - 2]] : [as[as.length - 2], as[as.length - 1]];
      const bm = layer.opB === 'vector' ? [bs[bs.length - 1]] : layer.opB === 'transpose' ? [bs[bs.length - 1], bs[bs.length - 2]] : [bs[bs.length - 2], bs[bs.length - 1]];
      const aBatch = as.slice(0, as.length - (layer.opA === 'vector' ? 1 : 2));
      const bBatch = bs.slice(0, bs.length - (layer.opB === 'vector' ? 1 : 2));
      const batch = broadcastShapes(aBatch, bBatch);
      if (!batch) fail(layer, `batch dims ${shapeToString(aBatch)} and ${shapeToString(bBatch)} differ`);
      const out = [...batch];
      if (layer.opA !== 'vector') out.push(am[0]);
      if (layer.opB !== 'vector') out.push(bm[1]);
      return [{ dtype: a.dtype, shape: out }];
    }
    case 'topk': {
      const shape = [...x.shape];
      shape[layer.axis] = layer.k;
      return [
        { dtype: x.dtype, shape },
        { dtype: 'int32', shape: [...shape] },
      ];
    }
    case 'reduce': {
      const shape: Dim[] = [];
      x.shape.forEach((d, i) => {
        if (!layer.axes.includes(i)) shape.push(d);
        else if (layer.keepDims) shape.push(1);
      });
      return [{ dtype: x.dtype, shape }];
    }
    case 'select': {
      const [c, a, b] = ins;
      const s1 = broadcastShapes(c.shape, a.shape);
      const shape = s1 && broadcastShapes(s1, b.shape);
      if (!shape) fail(layer, `cannot broadcast ${shapeToString(c.shape)}, ${shapeToString(a.shape)}, ${shapeToString(b.shape)}`);
      return [{ dtype: a.dtype, shape }];
    }
    case 'fill': {
      const dims = paramDims(layer.dims, get) ?? unknownDims(paramLen(layer.dims, get), 'fill');
      let values: Dim[] | undefined;
      if (dims.length === 1 && typeof dims[0] === 'number' && dims[0] <= MAX_TRACKED && !isFloat(layer.dtype))
        values = Array.from({ length: dims[0] }, (_, i) => layer.alpha + i * layer.beta);
      return [{ dtype: layer.dtype, shape: [...dims], values }];
    }
    case 'cast': {
      return [{ dtype: layer.dtype, shape: [...x.shape], values: isFloat(layer.dtype) ? undefined : x.values }];
    }
    case 'scatter':
      return [{ dtype: x.dtype, shape: [...x.shape] }];
    case 'nonzero':
      return [{ dtype: 'int64', shape: [x.shape.length, freshDim('nonzero')] }];
    case 'attention':
    case 'rotary_embedding':
    case 'kv_cache_update':
    case 'rms_norm':
      return [{ dtype: x.dtype, shape: [...x.shape] }];
    case 'quantize':
    case 'dequantize':
      // Element type from the layer (quantized or float), the shape of the input.
      return [{ dtype: layer.dtype, shape: [...x.shape] }];
    case 'collective': {
      // all_gather stacks the group's equal-shaped inputs along axis 0; the others keep the shape.
      const shape = [...x.shape];
      if (layer.op === 'all_gather') shape[0] = dimMul(shape[0], layer.group.length);
      return [{ dtype: x.dtype, shape }];
    }
    default:
      return assertNever(layer);
  }
}

export { sym };
