/**
 * Checkpoints that are already quantized, detected from config.json's `quantization_config`
 * and loaded as they are (no requantization):
 * - AutoAWQ GEMM: `qweight` int32 [K, N/8] (8 nibbles per word in the order 0 2 4 6 1 3 5 7),
 *   `qzeros` int32 [K/G, N/8] (same order), `scales` [K/G, N]; W = (q − z) · s.
 * - GPTQ (auto-gptq / optimum): `qweight` int32 [K/8, N] (8 rows per word, low nibble first),
 *   `qzeros` int32 [K/G, N/8] (low nibble first, stored z − 1 in checkpoint_format "gptq",
 *   z in "gptq_v2"), `scales` [K/G, N], `g_idx` [K]; W = (q − z) · s. Act-order (desc_act, or a
 *   g_idx that is not k / G) is refused.
 * - FP8: compressed-tensors float-quantized (`weight` e4m3, `weight_scale` per channel [N, 1] or
 *   per tensor, optional static `input_scale`) and AutoFP8 (`quant_method: "fp8"`, per-tensor
 *   `weight_scale`, `input_scale`). DeepSeek's block FP8 (`weight_block_size`, `weight_scale_inv`)
 *   is refused, as is every other scheme, naming the field and its value.
 * Unsigned nibbles q, z in [0, 15] become TensorRT's signed int4 as q − 8, z − 8 (the product
 * (q − z) · s is unchanged); zero points that are all 8 (symmetric) need no correction term.
 */
import type { DType, TypedArray } from '../../dsl/dtype.js';
import { allocate, getNumber, setInt4, setNumber } from '../../dsl/dtype.js';
import { ModelError } from '../../dsl/errors.js';
import type { Network } from '../../dsl/network.js';
import { dequantize } from '../../ops/index.js';
import type { WeightSource } from '../env.js';
import type { Projection } from './linear.js';

/**
 * The modules config.json leaves in float, as the loaders that wrote it match them:
 * `modules_to_not_convert` (transformers: AWQ, GPTQ, FP8; a list or one string) and AutoFP8's
 * `ignored_layers` match when the entry is a substring of the module's name (transformers'
 * `key in name`); compressed-tensors' `ignore` entries are a module's name, or `re:` and a
 * regular expression matched at the name's start (Python's re.match).
 */
export interface FloatModules {
  /** The config key the entries came from (for messages). */
  key: 'modules_to_not_convert' | 'ignored_layers' | 'ignore';
  entries: string[];
}

type Common = { file: string; float: FloatModules[] };
export type CheckpointQuant = Common & (
  | { method: 'awq'; group: number }
  | { method: 'gptq'; group: number; sym: boolean; zeroOffset: number }
  | { method: 'fp8'; format: 'compressed-tensors' | 'autofp8'; strategy: 'channel' | 'tensor' | 'auto'; staticInput: boolean });

/** The entry of config.json's float-module lists that keeps module `name` in float, if any. */
export function floatModuleEntry(cq: Pick<CheckpointQuant, 'float'>, name: string): { key: FloatModules['key']; entry: string } | undefined {
  for (const f of cq.float)
    for (const e of f.entries) {
      const hit = f.key === 'ignore' ? (e.startsWith('re:') ? new RegExp(`^(?:${e.slice(3)})`).test(name) : e === name) : name.includes(e);
      if (hit) return { key: f.key, entry: e };
    }
  return undefined;
}

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

function refuse(file: string, field: string, value: unknown, why: string): never {
  throw new ModelError(`${file}: quantization_config${field ? `.${field}` : ''} is ${JSON.stringify(value)}: ${why}`, 'redraft loads AutoAWQ GEMM (4-bit), GPTQ (4-bit, no act-order), compressed-tensors FP8 (per channel or per tensor) and AutoFP8 checkpoints; or pass the float checkpoint and --quantize');
}

/** The checkpoint's quantization from its config.json (`file`: its path, for messages; undefined: a float checkpoint). */
export function checkpointQuant(raw: Record<string, unknown>, file = 'config.json'): CheckpointQuant | undefined {
  const q = raw.quantization_config as Record<string, unknown> | undefined | null;
  if (q === undefined || q === null) return undefined;
  if (typeof q !== 'object' || Array.isArray(q)) refuse(file, '', q, 'expected an object with quant_method');
  const scheme = schemeOf(q, file);
  return scheme && { ...scheme, file, float: floatModules(q, file) };
}

/** modules_to_not_convert / ignored_layers / ignore: lists of strings (one string is a list of one; null is none). */
function floatModules(q: Record<string, unknown>, file: string): FloatModules[] {
  const out: FloatModules[] = [];
  for (const key of ['modules_to_not_convert', 'ignored_layers', 'ignore'] as const) {
    const v = q[key];
    if (v === undefined || v === null) continue;
    const entries = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(entries) || !entries.every((e) => typeof e === 'string' && e.length > 0)) refuse(file, key, v, 'expected a list of module names');
    if (key === 'ignore')
      for (const e of entries as string[])
        if (e.startsWith('re:'))
          try {
            new RegExp(e.slice(3));
          } catch (err) {
            refuse(file, key, e, `not a regular expression (${(err as Error).message})`);
          }
    out.push({ key, entries: entries as string[] });
  }
  return out;
}

type Scheme = CheckpointQuant extends infer C ? (C extends unknown ? Omit<C, keyof Common> : never) : never;

function schemeOf(q: Record<string, unknown>, file: string): Scheme {
  const method = q.quant_method;
  const num = (k: string, d?: number) => (q[k] === undefined ? d : q[k]);
  switch (method) {
    case 'awq': {
      const bits = num('bits', num('w_bit') as number | undefined);
      if (bits !== 4) refuse(file, q.bits !== undefined ? 'bits' : 'w_bit', bits, 'AWQ loads 4-bit weights only');
      const version = String(q.version ?? 'gemm').toLowerCase();
      if (version !== 'gemm') refuse(file, 'version', q.version, 'only the GEMM packing is supported (GEMV and Marlin pack differently)');
      if (q.zero_point === false) refuse(file, 'zero_point', false, 'AWQ without zero points is not a layout AutoAWQ writes for GEMM');
      const group = num('group_size', num('q_group_size') as number | undefined);
      if (!Number.isInteger(group) || (group as number) <= 0) refuse(file, 'group_size', group, 'expected a positive group size');
      return { method: 'awq', group: group as number };
    }
    case 'gptq': {
      if (q.bits !== 4) refuse(file, 'bits', q.bits, 'GPTQ loads 4-bit weights only');
      if (q.desc_act === true) refuse(file, 'desc_act', true, 'act-order (columns quantized out of order, g_idx permuted) is not supported');
      if (q.lm_head === true) refuse(file, 'lm_head', true, 'a quantized lm_head is not supported (the vocabulary projection stays in the build dtype)');
      const fmt = q.checkpoint_format ?? 'gptq';
      if (fmt !== 'gptq' && fmt !== 'gptq_v2') refuse(file, 'checkpoint_format', fmt, 'expected "gptq" or "gptq_v2"');
      const group = q.group_size === undefined ? 128 : q.group_size;
      if (!Number.isInteger(group) || ((group as number) <= 0 && group !== -1)) refuse(file, 'group_size', group, 'expected a positive group size or -1');
      return { method: 'gptq', group: group as number, sym: q.sym !== false, zeroOffset: fmt === 'gptq' ? 1 : 0 };
    }
    case 'fp8': {
      // null (as transformers' FineGrainedFP8Config writes for none) is per-tensor / per-channel.
      if (q.weight_block_size !== undefined && q.weight_block_size !== null) refuse(file, 'weight_block_size', q.weight_block_size, 'block-wise FP8 (DeepSeek-style, weight_scale_inv) is not supported; per-tensor and per-channel FP8 are');
      const fmt = q.fmt ?? 'e4m3';
      if (fmt !== 'e4m3') refuse(file, 'fmt', fmt, 'only e4m3 weights are supported');
      const act = q.activation_scheme ?? 'dynamic';
      if (act !== 'static' && act !== 'dynamic') refuse(file, 'activation_scheme', act, 'expected "static" or "dynamic"');
      return { method: 'fp8', format: 'autofp8', strategy: 'tensor', staticInput: act === 'static' };
    }
    case 'compressed-tensors': {
      if (q.weight_block_size !== undefined && q.weight_block_size !== null) refuse(file, 'weight_block_size', q.weight_block_size, 'block-wise FP8 is not supported; per-tensor and per-channel FP8 are');
      if (q.format !== 'float-quantized' && q.format !== 'naive-quantized') refuse(file, 'format', q.format, 'only FP8 ("float-quantized") compressed-tensors checkpoints are supported');
      const groups = q.config_groups as Record<string, Record<string, unknown>> | undefined;
      const names = groups && typeof groups === 'object' ? Object.keys(groups) : [];
      if (names.length !== 1) refuse(file, 'config_groups', names, 'expected exactly one config group');
      const g = groups![names[0]!]!;
      const w = (g.weights ?? {}) as Record<string, unknown>;
      const at = `config_groups.${names[0]}.weights`;
      if (w.type !== 'float') refuse(file, `${at}.type`, w.type, 'only float (FP8) weights are supported');
      if (w.num_bits !== 8) refuse(file, `${at}.num_bits`, w.num_bits, 'only 8-bit floats (e4m3) are supported');
      if (w.block_structure !== undefined && w.block_structure !== null) refuse(file, `${at}.block_structure`, w.block_structure, 'block-wise FP8 is not supported; per-tensor and per-channel FP8 are');
      if (w.strategy !== 'channel' && w.strategy !== 'tensor') refuse(file, `${at}.strategy`, w.strategy, 'only "channel" and "tensor" FP8 scales are supported');
      if (w.symmetric === false) refuse(file, `${at}.symmetric`, false, 'FP8 weights are symmetric');
      if (q.kv_cache_scheme !== undefined && q.kv_cache_scheme !== null) refuse(file, 'kv_cache_scheme', q.kv_cache_scheme, 'a quantized KV cache is not supported (redraft keeps the cache in the build dtype)');
      if (g.output_activations !== undefined && g.output_activations !== null) refuse(file, `config_groups.${names[0]}.output_activations`, g.output_activations, 'quantized outputs are not supported');
      const a = g.input_activations as Record<string, unknown> | null | undefined;
      if (a && (a.type !== 'float' || a.num_bits !== 8)) refuse(file, `config_groups.${names[0]}.input_activations`, a, 'activations, when quantized, must be FP8');
      if (a && a.strategy !== undefined && a.strategy !== 'tensor' && a.dynamic !== true) refuse(file, `config_groups.${names[0]}.input_activations.strategy`, a.strategy, 'static activation scales must be per tensor');
      return { method: 'fp8', format: 'compressed-tensors', strategy: w.strategy, staticInput: !!a && a.dynamic !== true };
    }
    default:
      refuse(file, 'quant_method', method, 'this quantization scheme is not supported');
  }
}

/** A tensor of the checkpoint as a reader: streamed when the source streams (read on each call, kept nowhere), else held. */
function reader(ws: WeightSource, name: string, shape?: number[]): { dtype: DType; shape: number[]; read(): TypedArray } {
  const lazy = shape ? ws.lazy?.(name, shape) : undefined;
  if (lazy) return lazy;
  const t = ws.get(name, shape);
  return { dtype: t.dtype, shape: t.shape, read: () => t.data };
}
/** A reader of packed int32 words (the tensor must be int32 of `shape`). */
function int32Reader(ws: WeightSource, name: string, shape: number[]): () => Int32Array {
  const r = reader(ws, name, shape);
  if (r.dtype !== 'int32') throw new ModelError(`weight '${name}' in ${ws.path} has dtype ${r.dtype}, expected int32 (packed 4-bit words)`, 'the checkpoint does not match its quantization_config');
  return () => r.read() as Int32Array;
}
function int32s(ws: WeightSource, name: string, shape: number[]): Int32Array {
  return int32Reader(ws, name, shape)();
}
const nib = (word: number, i: number) => (word >>> (4 * i)) & 0xf;

/**
 * Scales as DQ takes them: in the build dtype, since TensorRT before 10.16 requires a Q/DQ's
 * scale type to be its data type (ops/trt.ts, `dequantize.scale-dtype`), as --quantize's scales
 * are. A float32 (or other) scale is rounded once to it: a relative 2⁻¹¹ (float16) or 2⁻⁹
 * (bfloat16), far below the int4 / e4m3 step; float32 builds keep every scale exact.
 */
function scaleDtypeFor(_stored: DType, build: DType): DType {
  return build;
}
/** `n` values of `data` (dtype `from`) in dtype `to` (the same array when they already are). */
function inDtype(data: TypedArray, from: DType, to: DType, n: number): TypedArray {
  if (from === to) return data;
  const out = allocate(to, n);
  for (let i = 0; i < n; i++) setNumber(to, out, i, getNumber(from, data, i));
  return out;
}
function floatTensor(ws: WeightSource, name: string, shape?: number[]) {
  const t = ws.get(name, shape);
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'bfloat16') throw new ModelError(`weight '${name}' in ${ws.path} has dtype ${t.dtype}, expected a float scale`, 'the checkpoint does not match its quantization_config');
  return t;
}

/** The unpacked integer weight and zeros of an AWQ/GPTQ projection, in [out, in] order. */
export interface Int4Unpacked {
  /** q[n * K + k] in [0, 15]. */
  q: Uint8Array;
  /** z[n * G + g] in [0, 15]. */
  z: Uint8Array;
  /** scales [N, G] as stored (dtype). */
  scale: TypedArray;
  scaleDtype: DType;
  N: number;
  K: number;
  group: number;
}

type Int4Quant = Extract<CheckpointQuant, { method: 'awq' | 'gptq' }>;

/** The reader of a projection's integer weights q[n * K + k] in [0, 15] (qweight unpacked to [out, in]). */
function qweightReader(ws: WeightSource, prefix: string, N: number, K: number, cq: Int4Quant): () => Uint8Array {
  if (cq.method === 'gptq' && K % 8 !== 0) throw new ModelError(`'${prefix}': in_features ${K} is not a multiple of 8 (GPTQ packs 8 rows per word)`);
  const read = int32Reader(ws, `${prefix}.qweight`, cq.method === 'awq' ? [K, N / 8] : [K / 8, N]);
  return () => {
    const qw = read();
    const q = new Uint8Array(N * K);
    if (cq.method === 'awq') {
      for (let k = 0; k < K; k++)
        for (let c = 0; c < N / 8; c++) {
          const word = qw[k * (N / 8) + c];
          for (let i = 0; i < 8; i++) q[(c * 8 + AWQ_ORDER[i]!) * K + k] = nib(word, i);
        }
    } else {
      for (let r = 0; r < K / 8; r++)
        for (let n = 0; n < N; n++) {
          const word = qw[r * N + n];
          for (let i = 0; i < 8; i++) q[n * K + r * 8 + i] = nib(word, i);
        }
    }
    return q;
  };
}

/** Unpacks `prefix`.{qweight,qzeros,scales[,g_idx]} of a [N, K] projection. */
export function unpackInt4(ws: WeightSource, prefix: string, N: number, K: number, cq: Int4Quant): Int4Unpacked {
  const u = unpackInt4Small(ws, prefix, N, K, cq);
  return { ...u, q: qweightReader(ws, prefix, N, K, cq)() };
}

/** The small parts of an int4 projection (zeros, scales; g_idx checked); the integer weights stay unread. */
function unpackInt4Small(ws: WeightSource, prefix: string, N: number, K: number, cq: Int4Quant): Omit<Int4Unpacked, 'q'> {
  const group = cq.group === -1 ? K : cq.group;
  if (K % group !== 0 || N % 8 !== 0) throw new ModelError(`'${prefix}' [${N}, ${K}]: group size ${group} must divide in_features ${K} and out_features must be a multiple of 8`, 'the checkpoint does not match config.json');
  const G = K / group;
  const z = new Uint8Array(N * G);
  const st = floatTensor(ws, `${prefix}.scales`, [G, N]);
  const qz = int32s(ws, `${prefix}.qzeros`, [G, N / 8]);
  if (cq.method === 'awq') {
    for (let g = 0; g < G; g++)
      for (let c = 0; c < N / 8; c++) {
        const word = qz[g * (N / 8) + c];
        for (let i = 0; i < 8; i++) z[(c * 8 + AWQ_ORDER[i]!) * G + g] = nib(word, i);
      }
  } else {
    for (let g = 0; g < G; g++)
      for (let c = 0; c < N / 8; c++) {
        const word = qz[g * (N / 8) + c];
        for (let i = 0; i < 8; i++) z[(c * 8 + i) * G + g] = (nib(word, i) + cq.zeroOffset) & 0xf;
      }
    if (ws.has(`${prefix}.g_idx`)) {
      const gi = int32s(ws, `${prefix}.g_idx`, [K]);
      for (let k = 0; k < K; k++)
        if (gi[k] !== Math.floor(k / group))
          throw new ModelError(`weight '${prefix}.g_idx' in ${ws.path} is ${gi[k]} at input ${k}, not ${Math.floor(k / group)}: the checkpoint uses act-order (quantization_config.desc_act), which is not supported`, 'quantize the model without desc_act (act-order)');
    }
  }
  // scales [G, N] → [N, G]
  const scaleDtype = st.dtype;
  const scale = allocate(scaleDtype, N * G);
  for (let g = 0; g < G; g++) for (let n = 0; n < N; n++) (scale as Uint16Array)[n * G + g] = (st.data as Uint16Array)[g * N + n]!;
  return { z, scale, scaleDtype, N, K, group };
}

/** The dequantized reference W[n, k] = (q − z) · s of an unpacked projection (float64). */
export function dequantizedReference(u: Int4Unpacked): Float64Array {
  const w = new Float64Array(u.N * u.K);
  const G = u.K / u.group;
  for (let n = 0; n < u.N; n++)
    for (let k = 0; k < u.K; k++) {
      const g = Math.floor(k / u.group);
      w[n * u.K + k] = (u.q[n * u.K + k]! - u.z[n * G + g]!) * getNumber(u.scaleDtype, u.scale, n * G + g);
    }
  return w;
}

/**
 * Whether projection `prefix` is stored quantized, as config.json says: a module its float lists
 * name must be float, every other must hold the scheme's tensors. A checkpoint that disagrees
 * with its config is refused, naming the tensor (transformers would not load it either).
 */
function keptQuantized(ws: WeightSource, prefix: string, cq: CheckpointQuant): boolean {
  const marker = cq.method === 'fp8' ? `${prefix}.weight_scale` : `${prefix}.qweight`;
  const stored = ws.has(marker);
  const listed = floatModuleEntry(cq, prefix);
  const scheme = cq.method === 'fp8' ? `fp8 (${cq.format})` : cq.method;
  if (listed && stored)
    throw new ModelError(
      `${cq.file}: quantization_config.${listed.key} entry ${JSON.stringify(listed.entry)} keeps '${prefix}' in float, but ${ws.path} holds it quantized ('${marker}')`,
      `remove ${JSON.stringify(listed.entry)} from quantization_config.${listed.key} if '${prefix}' is quantized, or use a checkpoint that stores it as a float '${prefix}.weight'`,
    );
  if (listed) return false;
  if (!stored) {
    const w = ws.has(`${prefix}.weight`) ? `has '${prefix}.weight' (${describeDtype(ws, `${prefix}.weight`)}) and no '${marker}'` : `has no '${marker}'`;
    throw new ModelError(
      `${cq.file}: quantization_config says the checkpoint is ${scheme}-quantized, but ${ws.path} ${w}: '${prefix}' is not quantized and no quantization_config list keeps it in float`,
      `if the checkpoint is float, remove quantization_config from config.json (and pass --quantize to quantize it); if '${prefix}' alone is float, add it to quantization_config.${cq.method !== 'fp8' ? 'modules_to_not_convert' : cq.format === 'compressed-tensors' ? 'ignore' : 'ignored_layers'}`,
    );
  }
  return true;
}

function describeDtype(ws: WeightSource, name: string): string {
  try {
    return (ws.lazy?.(name) ?? ws.get(name)).dtype;
  } catch {
    return 'unreadable';
  }
}

/** The projection `prefix` ([N, K] as a float weight would be) of a pre-quantized checkpoint. */
export function prequantizedProjection(net: Network, ws: WeightSource, prefix: string, N: number, K: number, dtype: DType, cq: CheckpointQuant): Projection | undefined {
  if (!keptQuantized(ws, prefix, cq)) return undefined; // left in float: config.json lists it
  if (cq.method === 'fp8') return fp8Projection(net, ws, prefix, N, K, dtype, cq);
  // Zeros and scales are read now (1/64 of the weights at group 128, and the graph's structure
  // depends on the zeros); the integer weights when a backend reads them (streamed: every time).
  const u = unpackInt4Small(ws, prefix, N, K, cq);
  const G = K / u.group;
  const readQ = qweightReader(ws, prefix, N, K, cq);
  const pack = () => {
    const q = readQ();
    const packed = allocate('int4', N * K) as Uint8Array;
    for (let i = 0; i < N * K; i++) setInt4(packed, i, q[i]! - 8);
    return packed;
  };
  const sd = scaleDtypeFor(u.scaleDtype, dtype);
  const scale = inDtype(u.scale, u.scaleDtype, sd, N * G);
  const qc = ws.lazy ? net.lazyConstant('int4', [N, K], pack, `${prefix}.qweight`) : net.constant(pack(), 'int4', [N, K], `${prefix}.qweight`);
  const sc = net.constant(scale, sd, [N, G], `${prefix}.scales`);
  const weight = dequantize(qc, sc, { dtype, axis: 1 });
  // (q − z)·s = (q − 8)·s − (z − 8)·s: the second term, zs = (z − 8)·s per group, is applied to x's group sums.
  if (u.z.every((v) => v === 8)) return { quantized: true, weight };
  const zs = allocate(dtype, N * G);
  for (let i = 0; i < N * G; i++) setNumber(dtype, zs, i, (u.z[i]! - 8) * getNumber(sd, scale, i));
  return { quantized: true, weight, zero: { zs: net.constant(zs, dtype, [N, G], `${prefix}.zero_scales`), group: u.group } };
}

function fp8Projection(net: Network, ws: WeightSource, prefix: string, N: number, K: number, dtype: DType, cq: Extract<CheckpointQuant, { method: 'fp8' }>): Projection | undefined {
  const wname = `${prefix}.weight`;
  if (ws.has(`${prefix}.weight_scale_inv`))
    throw new ModelError(`weight '${prefix}.weight_scale_inv' in ${ws.path}: block-wise FP8 scales (DeepSeek-style) are not supported`, 'use a per-tensor or per-channel FP8 checkpoint (weight_scale), or the float checkpoint with --quantize fp8');
  const w = reader(ws, wname, [N, K]);
  if (w.dtype !== 'float8e4m3') throw new ModelError(`weight '${wname}' in ${ws.path} has dtype ${w.dtype}, expected F8_E4M3 next to its weight_scale`, 'the checkpoint does not match its quantization_config');
  const s = floatTensor(ws, `${prefix}.weight_scale`);
  const n = s.shape.reduce((a, b) => a * b, 1);
  const perChannel = n === N && N > 1;
  if (!perChannel && n !== 1) throw new ModelError(`weight '${prefix}.weight_scale' in ${ws.path} has shape [${s.shape.join(', ')}]; expected [${N}, 1] (per channel) or one element (per tensor)`, 'the checkpoint does not match its quantization_config');
  const sd = scaleDtypeFor(s.dtype, dtype);
  const scale = inDtype(s.data, s.dtype, sd, n);
  const qc = ws.lazy ? net.lazyConstant('float8e4m3', [N, K], w.read, wname) : net.constant(w.read(), 'float8e4m3', [N, K], wname);
  const sc = net.constant(scale, sd, perChannel ? [N] : [], `${prefix}.weight_scale`);
  const weight = dequantize(qc, sc, { dtype, axis: perChannel ? 0 : undefined });
  let inputScale;
  if (cq.staticInput || ws.has(`${prefix}.input_scale`)) {
    const is = floatTensor(ws, `${prefix}.input_scale`);
    if (is.shape.reduce((a, b) => a * b, 1) !== 1) throw new ModelError(`weight '${prefix}.input_scale' in ${ws.path} has shape [${is.shape.join(', ')}]; a static activation scale is per tensor (one element)`);
    // In the build dtype: the activation's quantize takes a scale of its own type before TensorRT 10.16.
    inputScale = net.constant(inDtype(is.data, is.dtype, dtype, 1), dtype, [], `${prefix}.input_scale`);
  }
  return { quantized: true, weight, ...(inputScale ? { inputScale } : {}) };
}
