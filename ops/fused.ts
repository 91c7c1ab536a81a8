/**
 * The fused layers TensorRT 10.14+ has natively: attention (IAttention), rotary_embedding
 * (IRotaryEmbeddingLayer), kv_cache_update (IKVCacheUpdateLayer). Each lowers to one IR layer;
 * builders/fused.ts holds the decomposition into primitive layers that ONNX (on request) and the
 * TensorRT plan for older versions use. The semantics are the IR's (dsl/ir.ts).
 *
 * | op | operands | checks |
 * |---|---|---|
 * | attention | q [B,Hq,Sq,D], k/v [B,Hkv,Skv,D] float*, mask bool rank 4 | 1 same dtype, 2 B/D/Skv agree, 3 Hq % Hkv == 0, 4 mask broadcasts to [B,Hq,Sq,Skv], 5 scale finite > 0, 6 causal kind |
 * | rotary_embedding | x [B,H,S,D] float*, cos/sin float* rank 2 or 3, position_ids int* [B,S] | 1 same dtype, 2 rotary_dim even in (0, D] (0 = D), 3 cache last dim R/2, 4 cache shape by form |
 * | kv_cache_update | cache [B,H,maxS,D] float*, update [B,H,S,D], write_indices [B] int32/int64 | 1 same dtype, 2 B/H/D agree |
 */
import { FLOAT_DTYPES, INDEX_DTYPES } from '../dsl/dtype.js';
import type { Dim } from '../dsl/dim.js';
import { shapeToString } from '../dsl/dim.js';
import type { CausalKind } from '../dsl/ir.js';
import type { Tensor } from '../dsl/network.js';
import { declareOp, layer1, type Check } from './op.js';

const CAUSAL: readonly CausalKind[] = ['none', 'upper_left', 'lower_right'];

function agree(c: Check, argA: string, a: Dim, argB: string, b: Dim, what: string): void {
  c.sameDim(argA, a, argB, b, what);
}

const attnDecl = declareOp('attention', {
  query: { dtypes: FLOAT_DTYPES, rank: 4 },
  key: { dtypes: FLOAT_DTYPES, rank: 4 },
  value: { dtypes: FLOAT_DTYPES, rank: 4 },
  mask: { dtypes: ['bool'], rank: 4 },
});

export interface AttentionOptions {
  /** bool, broadcastable to [B, Hq, Sq, Skv]; true = attend. */
  mask?: Tensor;
  /** Multiplies q·kᵀ; default 1/sqrt(D). */
  scale?: number;
  causal?: CausalKind;
}

/**
 * softmax(scale · q·kᵀ under the mask) · v with grouped-query heads (query head h reads kv head
 * h / (Hq / Hkv)). Masked scores are replaced by the dtype's lowest finite value: a fully
 * masked row is uniform (the mean of v), never NaN.
 */
export function attention(query: Tensor, key: Tensor, value: Tensor, opts: AttentionOptions = {}): Tensor {
  const { c, query: q, key: k, value: v, mask: m } = attnDecl.validate({ query, key, value, mask: opts.mask });
  // 1. q, k, v share a dtype.
  c.sameDtype('query', q, 'key', k);
  c.sameDtype('key', k, 'value', v);
  // 2. batch, head dim and key length agree.
  agree(c, 'query', q.size(0), 'key', k.size(0), 'batch (dim 0)');
  agree(c, 'key', k.size(0), 'value', v.size(0), 'batch (dim 0)');
  agree(c, 'key', k.size(1), 'value', v.size(1), 'kv heads (dim 1)');
  agree(c, 'key', k.size(2), 'value', v.size(2), 'key length (dim 2)');
  agree(c, 'query', q.size(3), 'key', k.size(3), 'head dim (dim 3)');
  agree(c, 'query', q.size(3), 'value', v.size(3), 'head dim (dim 3)');
  // 3. grouped-query heads: Hq is a multiple of Hkv (both static).
  const hq = q.size(1) as number;
  const hkv = k.size(1) as number;
  if (typeof hq !== 'number' || typeof hkv !== 'number') c.fail('key', `head counts must be static (query ${shapeToString(q.shape)}, key ${shapeToString(k.shape)})`);
  if (hq % hkv !== 0) c.fail('key', `has ${hkv} heads; the query's ${hq} heads must be a multiple of it (grouped-query attention)`);
  // 4. the mask broadcasts to [B, Hq, Sq, Skv].
  if (m) {
    const want: Dim[] = [q.size(0), hq, q.size(2), k.size(2)];
    m.shape.forEach((d, i) => {
      if (d === 1) return;
      const w = want[i];
      if (typeof d === 'number' && typeof w === 'number' && d !== w) c.fail('mask', `has shape ${shapeToString(m.shape)}, which does not broadcast to [${want.map(String).join(', ')}] (dim ${i})`);
    });
  }
  // 5. scale: a finite positive number.
  const d = q.size(3);
  const scale = opts.scale ?? (typeof d === 'number' ? 1 / Math.sqrt(d) : NaN);
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) c.fail('scale', `must be a finite number > 0, got ${String(scale)}`, 'pass scale explicitly when the head dim is not static');
  // 6. causal kind.
  const causal = opts.causal ?? 'none';
  if (!CAUSAL.includes(causal)) c.fail('causal', `is ${JSON.stringify(causal)}; expected one of ${CAUSAL.join(', ')}`);
  const inputs = [q.id, k.id, v.id, ...(m ? [m.id] : [])];
  return layer1(q.net, { kind: 'attention', inputs, scale, causal, name: 'attention' });
}

const ropeDecl = declareOp('rotary_embedding', {
  input: { dtypes: FLOAT_DTYPES, rank: 4 },
  cos: { dtypes: FLOAT_DTYPES, rank: [2, 3] },
  sin: { dtypes: FLOAT_DTYPES, rank: [2, 3] },
  position_ids: { dtypes: INDEX_DTYPES, rank: 2 },
});

export interface RotaryOptions {
  /** (B, S) indices into the rows of cos/sin ([maxPos + 1, R/2] caches). */
  position_ids?: Tensor;
  /** Rotate adjacent pairs (x[2i], x[2i+1]) instead of halves (x[i], x[i + R/2]). */
  interleaved?: boolean;
  /** Dims that rotate (even, ≤ D); 0 or omitted means all of D. */
  rotary_dim?: number;
}

/** RoPE on x [B, H, S, D] with cos/sin [B, S, R/2] (or [maxPos+1, R/2] with position ids). */
export function rotary_embedding(input: Tensor, cos: Tensor, sin: Tensor, opts: RotaryOptions = {}): Tensor {
  const { c, input: x, cos: co, sin: si, position_ids: p } = ropeDecl.validate({ input, cos, sin, position_ids: opts.position_ids });
  // 1. input and caches share a dtype.
  c.sameDtype('input', x, 'cos', co);
  c.sameDtype('cos', co, 'sin', si);
  // 2. rotary dim: even, in (0, D] (0 = D).
  const D = x.size(3) as number;
  if (typeof D !== 'number') c.fail('input', `head dim (dim 3) must be static, got ${shapeToString(x.shape)}`);
  const r = c.int('rotary_dim', opts.rotary_dim ?? 0, 0, D);
  const R = r === 0 ? D : r;
  if (R % 2 !== 0) c.fail('rotary_dim', `is ${R}; it must be even (pairs of dims rotate)`);
  // 3/4. caches: [B, S, R/2] without position ids, [maxPos+1, R/2] with them.
  if (co.rank !== si.rank) c.fail('sin', `has rank ${si.rank} but 'cos' has rank ${co.rank}`);
  const wantRank = p ? 2 : 3;
  if (co.rank !== wantRank) c.fail('cos', `has shape ${shapeToString(co.shape)}; expected ${p ? '[maxPos + 1, R/2] with position_ids' : '[B, S, R/2] without position_ids'}`);
  for (const [arg, t] of [['cos', co], ['sin', si]] as const) {
    const last = t.size(-1);
    if (typeof last === 'number' && last !== R / 2) c.fail(arg, `has last dim ${last}; expected R/2 = ${R / 2} (rotary dim ${R})`);
  }
  agree(c, 'cos', co.size(0), 'sin', si.size(0), 'dim 0');
  if (p) {
    agree(c, 'position_ids', p.size(0), 'input', x.size(0), 'batch');
    agree(c, 'position_ids', p.size(1), 'input', x.size(2), 'sequence');
  } else {
    agree(c, 'cos', co.size(0), 'input', x.size(0), 'batch');
    agree(c, 'cos', co.size(1), 'input', x.size(2), 'sequence');
  }
  const inputs = [x.id, co.id, si.id, ...(p ? [p.id] : [])];
  return layer1(x.net, { kind: 'rotary_embedding', inputs, interleaved: !!opts.interleaved, rotaryDim: r, name: 'rotary_embedding' });
}

const kvDecl = declareOp('kv_cache_update', {
  cache: { dtypes: FLOAT_DTYPES, rank: 4 },
  update: { dtypes: FLOAT_DTYPES, rank: 4 },
  write_indices: { dtypes: INDEX_DTYPES, rank: 1 },
});

/**
 * The cache [B, H, maxS, D] with update [B, H, S, D] written at rows write_indices[b]; a row
 * whose update does not fit (index < 0 or index + S > maxS) is left unchanged.
 */
export function kv_cache_update(cache: Tensor, update: Tensor, write_indices: Tensor): Tensor {
  const { c, cache: kv, update: u, write_indices: w } = kvDecl.validate({ cache, update, write_indices });
  // 1. same dtype.
  c.sameDtype('cache', kv, 'update', u);
  // 2. batch, heads and head dim agree.
  agree(c, 'cache', kv.size(0), 'update', u.size(0), 'batch (dim 0)');
  agree(c, 'cache', kv.size(1), 'update', u.size(1), 'heads (dim 1)');
  agree(c, 'cache', kv.size(3), 'update', u.size(3), 'head dim (dim 3)');
  agree(c, 'write_indices', w.size(0), 'cache', kv.size(0), 'batch');
  return layer1(kv.net, { kind: 'kv_cache_update', inputs: [kv.id, u.id, w.id], name: 'kv_cache_update' });
}
