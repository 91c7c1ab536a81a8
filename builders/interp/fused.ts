/**
 * Kernels of the fused IR kinds, as TensorRT's headers define the layers (dsl/ir.ts). Values
 * are rounded to the tensor dtype where the decomposition's layers would round them (scores,
 * scaled scores, probabilities, products), so a layer and its decomposition (builders/fused.ts)
 * agree to the last bit up to float64 summation order.
 */
import type { DType } from '../../dsl/dtype.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, lowestFinite } from '../../dsl/dtype.js';
import type { HostTensor } from '../../dsl/host.js';
import type { AttentionLayer, KVCacheUpdateLayer, RmsNormLayer, RotaryEmbeddingLayer } from '../../dsl/ir.js';
import { KernelError } from './movement.js';
import { asF64, broadcastStrides, fromFloats, numel, tensor } from './tensor.js';

/** Rounds a number to the nearest value of `dtype` (float dtypes). */
export function rounder(dtype: DType): (x: number) => number {
  if (dtype === 'float16') return (x) => f16ToF32(f32ToF16(x));
  if (dtype === 'bfloat16') return (x) => bf16ToF32(f32ToBf16(x));
  if (dtype === 'float32') return Math.fround;
  return (x) => x;
}

function ints(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

export function attention(l: AttentionLayer, q: HostTensor, k: HostTensor, v: HostTensor, mask?: HostTensor): HostTensor {
  const [B, Hq, Sq, D] = q.shape;
  const [Bk, Hkv, Skv, Dk] = k.shape;
  if (Bk !== B || Dk !== D || v.shape[0] !== B || v.shape[1] !== Hkv || v.shape[2] !== Skv || v.shape[3] !== D)
    throw new KernelError(`attention '${l.name}': q [${q.shape}], k [${k.shape}] and v [${v.shape}] do not agree`);
  if (Hq % Hkv !== 0) throw new KernelError(`attention '${l.name}': ${Hq} query heads are not a multiple of ${Hkv} kv heads`);
  const full = [B, Hq, Sq, Skv];
  let ms: number[] | undefined;
  if (mask) {
    if (mask.shape.length !== 4 || mask.shape.some((d, i) => d !== 1 && d !== full[i]))
      throw new KernelError(`attention '${l.name}': mask [${mask.shape}] does not broadcast to [${full}]`);
    ms = broadcastStrides(mask.shape, full);
  }
  const md = mask?.data as Uint8Array | undefined;
  const dt = q.dtype;
  const r = rounder(dt);
  const invScale = r(1 / l.scale); // scores / (1/scale) in the dtype, as the decomposition (and `scores / sqrt(d)`)
  const lowest = lowestFinite(dt);
  const qv = asF64(q);
  const kv = asF64(k);
  const vv = asF64(v);
  const out = new Float64Array(B * Hq * Sq * D);
  const s = new Float64Array(Skv);
  const g = Hq / Hkv;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / g);
      const kBase = (b * Hkv + kh) * Skv * D;
      for (let i = 0; i < Sq; i++) {
        const qBase = ((b * Hq + h) * Sq + i) * D;
        let m = -Infinity;
        for (let j = 0; j < Skv; j++) {
          let keep = true;
          if (md) keep = md[b * ms![0] + h * ms![1] + i * ms![2] + j * ms![3]] !== 0;
          if (l.causal === 'upper_left') keep &&= j <= i;
          else if (l.causal === 'lower_right') keep &&= j <= i + Skv - Sq;
          let x = lowest;
          if (keep) {
            // As the interpreter's matmul sums a row pair: four float64 partial sums, rounded to float32.
            const kRow = kBase + j * D;
            let s0 = 0;
            let s1 = 0;
            let s2 = 0;
            let s3 = 0;
            let d = 0;
            for (; d + 3 < D; d += 4) {
              s0 += qv[qBase + d] * kv[kRow + d];
              s1 += qv[qBase + d + 1] * kv[kRow + d + 1];
              s2 += qv[qBase + d + 2] * kv[kRow + d + 2];
              s3 += qv[qBase + d + 3] * kv[kRow + d + 3];
            }
            for (; d < D; d++) s0 += qv[qBase + d] * kv[kRow + d];
            x = r(r(Math.fround(s0 + s1 + (s2 + s3))) / invScale);
          }
          s[j] = x;
          if (x > m) m = x;
        }
        let sum = 0;
        for (let j = 0; j < Skv; j++) sum += s[j] = Math.exp(s[j] - m);
        for (let j = 0; j < Skv; j++) s[j] = r(s[j] / sum);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Skv; j++) if (s[j] !== 0) acc += s[j] * vv[kBase + j * D + d];
          out[qBase + d] = Math.fround(acc);
        }
      }
    }
  return fromFloats(dt, q.shape, out);
}

export function rotaryEmbedding(l: RotaryEmbeddingLayer, x: HostTensor, cos: HostTensor, sin: HostTensor, pos?: HostTensor): HostTensor {
  const [B, H, S, D] = x.shape;
  const R = l.rotaryDim === 0 ? D : l.rotaryDim;
  const half = R / 2;
  if (R > D || R % 2 !== 0) throw new KernelError(`rotary_embedding '${l.name}': rotary dim ${R} must be even and at most ${D}`);
  const want = pos ? [cos.shape[0], half] : [B, S, half];
  if (cos.shape.length !== want.length || cos.shape.some((d, i) => i > 0 && d !== want[i]) || (!pos && cos.shape[0] !== B) || cos.shape.join() !== sin.shape.join())
    throw new KernelError(`rotary_embedding '${l.name}': cos [${cos.shape}] / sin [${sin.shape}] must be [${pos ? 'maxPos+1, ' + half : `${B}, ${S}, ${half}`}]`);
  const p = pos ? ints(pos) : undefined;
  if (pos && (pos.shape[0] !== B || pos.shape[1] !== S)) throw new KernelError(`rotary_embedding '${l.name}': position ids [${pos.shape}] must be [${B}, ${S}]`);
  const r = rounder(x.dtype);
  const xv = asF64(x);
  const cv = asF64(cos);
  const sv = asF64(sin);
  const out = Float64Array.from(xv);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < S; t++) {
      let row = b * S + t;
      if (p) {
        row = p[b * S + t];
        if (!(row >= 0 && row < cos.shape[0])) throw new KernelError(`rotary_embedding '${l.name}': position id ${row} is outside the cos/sin cache of ${cos.shape[0]} rows`);
      }
      for (let h = 0; h < H; h++) {
        const base = ((b * H + h) * S + t) * D;
        for (let i = 0; i < half; i++) {
          const ia = base + (l.interleaved ? 2 * i : i);
          const ib = base + (l.interleaved ? 2 * i + 1 : half + i);
          const c = cv[row * half + i];
          const s = sv[row * half + i];
          const a = xv[ia];
          const bb = xv[ib];
          out[ia] = r(r(a * c) - r(bb * s));
          out[ib] = r(r(bb * c) + r(a * s));
        }
      }
    }
  return fromFloats(x.dtype, x.shape, out);
}

export function kvCacheUpdate(l: KVCacheUpdateLayer, cache: HostTensor, update: HostTensor, writeIndices: HostTensor): HostTensor {
  const [B, H, M, D] = cache.shape;
  const S = update.shape[2];
  if (update.shape[0] !== B || update.shape[1] !== H || update.shape[3] !== D || writeIndices.shape[0] !== B)
    throw new KernelError(`kv_cache_update '${l.name}': cache [${cache.shape}], update [${update.shape}] and write indices [${writeIndices.shape}] do not agree`);
  const w = ints(writeIndices);
  const out = tensor(cache.dtype, cache.shape);
  (out.data as Uint16Array).set(cache.data as Uint16Array);
  for (let b = 0; b < B; b++) {
    // Out-of-bound updates are ignored (the row keeps its cache).
    if (!(w[b] >= 0 && w[b] + S <= M)) continue;
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++) {
        const src = ((b * H + h) * S + s) * D;
        const dst = ((b * H + h) * M + w[b] + s) * D;
        for (let d = 0; d < D; d++) (out.data as Uint16Array)[dst + d] = (update.data as Uint16Array)[src + d];
      }
  }
  return out;
}

export function rmsNorm(l: RmsNormLayer, x: HostTensor, weight?: HostTensor): HostTensor {
  const n = x.shape[x.shape.length - 1];
  if (weight && (weight.shape.length !== 1 || weight.shape[0] !== n)) throw new KernelError(`rms_norm '${l.name}': weight [${weight.shape}] must be [${n}]`);
  const f = Math.fround;
  const r = rounder(x.dtype);
  const xv = asF64(x);
  const wv = weight ? asF64(weight) : undefined;
  const out = new Float64Array(xv.length);
  const eps = f(l.eps);
  const rows = numel(x.shape) / Math.max(n, 1);
  for (let i = 0; i < rows; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) acc += f(xv[i * n + j] * xv[i * n + j]);
    const inv = f(1 / f(Math.sqrt(f(f(acc / n) + eps))));
    for (let j = 0; j < n; j++) {
      const y = r(f(xv[i * n + j] * inv));
      out[i * n + j] = wv ? y * wv[j] : y;
    }
  }
  return fromFloats(x.dtype, x.shape, out);
}
