/**
 * Helpers for the TensorRT double tests: compile the bridge and the double against one set of
 * TensorRT headers (native/build/double/<tag>, reused while up to date), load them, build a plan,
 * compare the recorded network with the plan, and turn the record back into a plan the plan
 * executor replays.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { NativeAddon, NativeEngine } from '../builders/trt/native.js';
import type { PlanLayer, TrtPlan } from '../builders/trt/plan.js';
import type { TypedArray } from '../dsl/dtype.js';
import { allocate, getNumber, isFloat, setNumber } from '../dsl/dtype.js';
import { evalDim } from '../dsl/dim.js';
import type { Graph } from '../dsl/ir.js';
import type { HostTensor } from '../dsl/host.js';

const HERE = fileURLToPath(import.meta.url);
export const ROOT = path.resolve(path.dirname(HERE), '..');
/** TensorRT public headers: $REDRAFT_TRT_HEADERS, else ../shared/third_party/tensorrt beside the checkout. */
export const TRT_HEADERS = process.env.REDRAFT_TRT_HEADERS ?? path.resolve(ROOT, '../shared/third_party/tensorrt');
export const TAGS = ['v10.0.0', 'v10.9.0', 'v10.16', 'v11.1'] as const;
export type Tag = (typeof TAGS)[number];

export interface DoubleBuild {
  tag: Tag;
  dir: string;
  addonPath: string;
  lib: string;
  major: number;
  minor: number;
}

function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    const st = fs.statSync(p);
    if (st.isDirectory()) t = Math.max(t, newest(fs.readdirSync(p).map((f) => path.join(p, f))));
    else t = Math.max(t, st.mtimeMs);
  }
  return t;
}

/** Compiles the addon and the double against `tag`'s headers (skipped when the outputs are newer than every source). */
export function buildDouble(tag: Tag): DoubleBuild {
  const include = path.join(TRT_HEADERS, tag, 'include');
  if (!fs.existsSync(path.join(include, 'NvInferImpl.h'))) throw new Error(`TensorRT ${tag} headers are missing: ${include} (set REDRAFT_TRT_HEADERS)`);
  const ver = fs.readFileSync(path.join(include, 'NvInferVersion.h'), 'utf8');
  const num = (re: RegExp) => Number(re.exec(ver)?.[1]);
  const major = num(/define (?:NV_TENSORRT_MAJOR|TRT_MAJOR_ENTERPRISE) (\d+)/);
  const minor = num(/define (?:NV_TENSORRT_MINOR|TRT_MINOR_ENTERPRISE) (\d+)/);
  const dir = path.join(ROOT, 'native', 'build', 'double', tag);
  const out = { tag, dir, addonPath: path.join(dir, 'Release', 'redraft_native.node'), lib: path.join(dir, 'Release', 'libredraft_trt_double.so'), major, minor };
  const cmake = path.join(ROOT, 'native', 'CMakeLists.txt');
  const newer = (file: string, sources: string[]) => fs.existsSync(file) && fs.statSync(file).mtimeMs > newest(sources);
  const fresh = () => newer(out.addonPath, [path.join(ROOT, 'native', 'src'), cmake]) && newer(out.lib, [path.join(ROOT, 'native', 'test-double'), cmake]);
  if (fresh()) return out;
  // One compile per build dir at a time (test files run in parallel workers).
  for (const d of [path.join(ROOT, 'native', 'build'), path.join(ROOT, 'native', 'build', 'double')]) if (!fs.existsSync(d)) fs.mkdirSync(d);
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 15 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch { /* gone meanwhile */ }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (!fresh()) compile(tag, include, dir, out);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return out;
}

function compile(tag: Tag, include: string, dir: string, out: DoubleBuild): void {
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'compile', '--directory', path.join(ROOT, 'native'), '--out', dir, '--config', 'Release',
      `--CDTENSORRT_INCLUDE_DIR=${include}`, '--CDREDRAFT_TRT_DOUBLE=ON', '--CDCMAKE_CXX_FLAGS_RELEASE=-O0'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TENSORRT_INCLUDE_DIR: include } },
  );
  if (r.status !== 0 || !fs.existsSync(out.addonPath) || !fs.existsSync(out.lib)) throw new Error(`compiling against ${tag} failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
}

const loaded = new Map<string, NativeAddon>();
/** The tag's addon, with the double loaded as its TensorRT library. */
export function addonOf(b: DoubleBuild): NativeAddon {
  let a = loaded.get(b.addonPath);
  if (!a) {
    a = createRequire(HERE)(b.addonPath) as NativeAddon;
    const lib = a.loadTensorRT(b.lib);
    if (!lib.ok) throw new Error(`loading the double failed: ${lib.error}`);
    loaded.set(b.addonPath, a);
  }
  return a;
}

export interface RecTensor { id: number; name: string; dtype: number; dims: number[] | null }
export interface RecLayer { id: number; method: string; name: string; inputs: (number | null)[]; setInputs: number[]; outputs: RecTensor[]; params: Record<string, unknown>; weights?: string }
export interface Record_ {
  double: string;
  headers: string;
  flags: number;
  inputs: RecTensor[];
  layers: RecLayer[];
  outputs: { id: number; name: string }[];
  profiles: Record<string, { min?: number[]; opt?: number[]; max?: number[]; values?: { min: number[]; opt: number[]; max: number[] } }>[];
  config: { i: string; m: string; a: unknown[] }[];
  calls: { i: string; o: number; m: string; a: unknown[]; unimplemented?: boolean }[];
  unimplementedCalls: number;
}

export interface BuildResult { record: Record_; logs: [string, string][]; progress: number; logsAtSettle: number; engine: NativeEngine }

/** Builds through the addon; resolves with the record (the double's "engine") and what was logged before the promise settled. */
export async function buildWith(addon: NativeAddon, plan: TrtPlan, config: Record<string, unknown> = {}): Promise<BuildResult> {
  const logs: [string, string][] = [];
  let progress = 0;
  const engine = await addon.buildEngine(plan, { workspaceBytes: 2 ** 26, optimizationLevel: 2, ...config }, () => progress++, (s, m) => logs.push([s, m]));
  const logsAtSettle = logs.length;
  const record = JSON.parse(Buffer.from(engine.arrayBuffer()).toString('utf8')) as Record_;
  return { record, logs, progress, logsAtSettle, engine };
}

/** The rejection message of a build that must fail. */
export async function buildError(addon: NativeAddon, plan: TrtPlan, config: Record<string, unknown> = {}): Promise<string> {
  try {
    await addon.buildEngine(plan, { ...config }, () => {}, () => {});
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the build succeeded but should have failed');
}

const DT: Record<string, number> = { kFLOAT: 0, kHALF: 1, kINT8: 2, kINT32: 3, kBOOL: 4, kUINT8: 5, kFP8: 6, kBF16: 7, kINT64: 8, kINT4: 9, kFP4: 10 };
const DT_NAME = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k]));
const TABLES: Record<string, Record<string, number>> = {
  ElementWise: { kSUM: 0, kPROD: 1, kMAX: 2, kMIN: 3, kSUB: 4, kDIV: 5, kPOW: 6, kFLOOR_DIV: 7, kAND: 8, kOR: 9, kXOR: 10, kEQUAL: 11, kGREATER: 12, kLESS: 13 },
  Unary: { kEXP: 0, kLOG: 1, kSQRT: 2, kRECIP: 3, kABS: 4, kNEG: 5, kSIN: 6, kCOS: 7, kCEIL: 17, kFLOOR: 18, kERF: 19, kNOT: 20, kSIGN: 21, kROUND: 22, kISINF: 23, kISNAN: 24 },
  Activation: { kRELU: 0, kSIGMOID: 1, kTANH: 2, kLEAKY_RELU: 3, kELU: 4, kSOFTPLUS: 7, kCLIP: 8, kGELU_ERF: 12, kGELU_TANH: 13 },
  Reduce: { kSUM: 0, kPROD: 1, kMAX: 2, kMIN: 3, kAVG: 4 },
  Matrix: { kNONE: 0, kTRANSPOSE: 1, kVECTOR: 2 },
  Sample: { kSTRICT_BOUNDS: 0, kWRAP: 1, kCLAMP: 2, kFILL: 3 },
  Gather: { kDEFAULT: 0, kELEMENT: 1, kND: 2 },
  Scatter: { kELEMENT: 0, kND: 1 },
  TopK: { kMAX: 0, kMIN: 1 },
  CausalMaskKind: { kNONE: 0, kUPPER_LEFT: 1, kLOWER_RIGHT: 2 },
  AttentionNormalizationOp: { kNONE: 0, kSOFTMAX: 1 },
  CollectiveOperation: { kALL_REDUCE: 0, kALL_GATHER: 1, kBROADCAST: 2 },
  CollectiveReduce: { kSUM: 0, kPROD: 1, kMAX: 2, kMIN: 3, kAVG: 4, kNONE: 5 },
};
const inv = (t: Record<string, number>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [v, k])) as Record<number, string>;

/** The method the double saw for a plan call (the public API forwards some to their V2 implementations). */
function recMethods(method: string): string[] {
  if (method === 'addFill') return ['addFillV2', 'addFill'];
  if (method === 'addTopK') return ['addTopK', 'addTopKV2'];
  if (method === 'addNonZero') return ['addNonZero', 'addNonZeroV2'];
  // The public three-argument addQuantize/addDequantize call the V2 implementations.
  if (method === 'addQuantize') return ['addQuantizeV2'];
  if (method === 'addDequantize') return ['addDequantizeV2'];
  return [method];
}

function decodeB64(s: string): Buffer {
  return Buffer.from(s, 'base64');
}
function bytesOf(d: TypedArray): Buffer {
  return Buffer.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}
/** A 0-D constant's value from its recorded weights. */
function scalarOf(l: RecLayer): number {
  const b = decodeB64(l.weights ?? '');
  switch (l.params.type) {
    case 0: return b.readFloatLE(0);
    case 3: return b.readInt32LE(0);
    case 8: return Number(b.readBigInt64LE(0));
    case 2: return b.readInt8(0);
    case 4: case 5: return b[0];
    case 1: { // half
      const h = b.readUInt16LE(0), s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
      return e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
    case 7: { const f = Buffer.alloc(4); f.writeUInt16LE(b.readUInt16LE(0), 2); return f.readFloatLE(0); }
    default: throw new Error(`scalar of type ${l.params.type}`);
  }
}

export interface Expect { workspaceBytes?: number; optimizationLevel?: number; major: number; minor: number }

/**
 * The recorded network equals the plan: one add* per plan layer (plus only the bridge's documented
 * helpers), parameters, setInput indices, output dtypes and ranks, the profile of every input,
 * the marked outputs and their names, the builder-config calls; and nothing unimplemented was called.
 */
export function expectRecordMatchesPlan(rec: Record_, plan: TrtPlan, ex: Expect): void {
  const at = (...a: unknown[]) => a.join(' ');
  expect(rec.double).toBe('redraft-trt-double');
  expect(rec.headers.split('.').slice(0, 2).map(Number)).toEqual([ex.major, ex.minor]);
  expect(rec.unimplementedCalls, JSON.stringify(rec.calls.filter((c) => c.unimplemented).slice(0, 5))).toBe(0);
  expect(rec.flags, 'kSTRONGLY_TYPED on 10.x, no flags on 11').toBe(ex.major >= 11 ? 0 : 2);
  const byId = new Map<number, RecLayer>();
  const producer = new Map<number, RecLayer>();
  for (const l of rec.layers) {
    byId.set(l.id, l);
    for (const o of l.outputs) producer.set(o.id, l);
  }
  const tensor = new Map<number, number>(); // plan tensor id -> record tensor id
  const recTensor = new Map<number, RecTensor>();
  for (const l of rec.layers) for (const o of l.outputs) recTensor.set(o.id, o);
  for (const i of rec.inputs) recTensor.set(i.id, i);
  // Inputs and their profiles.
  expect(rec.inputs.map((i) => i.name)).toEqual(plan.inputs.map((i) => i.name));
  expect(rec.profiles.length).toBe(1);
  plan.inputs.forEach((pi, k) => {
    const ri = rec.inputs[k];
    tensor.set(pi.id, ri.id);
    expect(ri.dtype, pi.name).toBe(DT[pi.dtype]);
    expect(ri.dims, pi.name).toEqual(pi.dims);
    const prof = rec.profiles[0][pi.name];
    expect(prof, `profile of ${pi.name}`).toBeDefined();
    expect({ min: prof.min, opt: prof.opt, max: prof.max }, pi.name).toEqual(pi.profile);
    const sv = (pi as { shapeValues?: unknown }).shapeValues;
    if (sv) expect(prof.values, `shape values of ${pi.name}`).toEqual(sv);
  });
  // Align in order (layer names need not be unique); what lies between matches are the bridge's helpers.
  const matched: number[] = [];
  const isMatched = new Set<number>();
  let j = 0;
  for (const pl of plan.layers) {
    while (j < rec.layers.length && !(rec.layers[j].name === pl.name && recMethods(pl.method).includes(rec.layers[j].method))) j++;
    expect(j < rec.layers.length, `no recorded layer '${pl.name}' (${pl.method}) in order`).toBe(true);
    isMatched.add(j);
    matched.push(j++);
  }
  let helpers = 0;
  const used = new Set<number>();
  const helper = (name: string, method: string, near: number) => {
    let k = near < 0 ? rec.layers.findIndex((l, c) => !isMatched.has(c) && !used.has(c) && l.name === name) : -1;
    for (let d = 0; d < 4 && k < 0 && near >= 0; d++) for (const c of [near + d, near - d]) if (k < 0 && c >= 0 && c < rec.layers.length && !isMatched.has(c) && !used.has(c) && rec.layers[c].name === name) k = c;
    expect(k, `helper layer ${name} near #${near}`).toBeGreaterThanOrEqual(0);
    const h = rec.layers[k];
    expect(h.method).toBe(method);
    used.add(k);
    helpers++;
    return h;
  };
  for (const [i, pl] of plan.layers.entries()) {
    const at_ = matched[i];
    const rl = rec.layers[at_];
    const where = `${pl.name} (${pl.method})`;
    expect(recMethods(pl.method), where).toContain(rl!.method);
    const p = pl.params;
    const mapped = (id: number) => {
      const r = tensor.get(id);
      expect(r, at(where, 'input tensor', id)).toBeDefined();
      return r!;
    };
    // setInput indices per method, from the plan's tensor-valued parameters.
    const shapeInputs: [string, number][] = pl.method === 'addSlice' ? [['startInput', 1], ['sizeInput', 2], ['strideInput', 3]] : pl.method === 'addShuffle' ? [['reshapeDimsInput', 1]] : pl.method === 'addFill' ? [['dimsInput', 0]] : [];
    const viaSetInput = new Set(shapeInputs.filter(([k]) => p[k] !== undefined).map(([k]) => p[k] as number));
    const argInputs = pl.inputs.filter((id) => !viaSetInput.has(id));
    argInputs.forEach((id, j) => expect(rl!.inputs[j], at(where, 'input', j)).toBe(mapped(id)));
    const expectedSet: number[] = [];
    for (const [k, idx] of shapeInputs)
      if (p[k] !== undefined) {
        expect(rl!.inputs[idx], at(where, k)).toBe(mapped(p[k] as number));
        expectedSet.push(idx);
      }
    if (pl.method === 'addSlice' && p.mode === 'kFILL') {
      // Input 4: a 0-D constant of the slice's dtype holding the fill value.
      const c = helper(`${pl.name}/fill_value`, 'addConstant', at_);
      expect(rl!.inputs[4], at(where, 'fill value input')).toBe(c.outputs[0].id);
      expect(c.params.type, at(where, 'fill value dtype')).toBe(recTensor.get(rl!.inputs[0]!)!.dtype);
      expect(c.params.dims).toEqual([]);
      expect(scalarOf(c), at(where, 'fill value')).toBe(p.fillValue);
      expectedSet.push(4);
    }
    // The rotary layer's position ids are input 3 through setInput (NvInfer.h addRotaryEmbedding).
    if (pl.method === 'addRotaryEmbedding' && pl.inputs.length === 4) expectedSet.push(3);
    expect([...rl!.setInputs].sort(), at(where, 'setInput indices')).toEqual(expectedSet.sort());
    // Parameters.
    const P = rl!.params;
    const eq = (got: unknown, want: unknown, what: string) => expect(got, at(where, what)).toEqual(want);
    const perm = (v: unknown) => (v as number[] | undefined)?.slice(0, 8);
    switch (pl.method) {
      case 'addConstant': {
        const w = plan.weights[p.weights as number];
        eq(P.dims, p.dims, 'dims');
        eq(P.type, DT[p.dtype as string], 'type');
        expect(decodeB64(rl!.weights!).equals(bytesOf(w.data)), at(where, 'weights bytes')).toBe(true);
        break;
      }
      case 'addShuffle': {
        const pad = (v: number[]) => [...v, ...[0, 1, 2, 3, 4, 5, 6, 7].slice(v.length)];
        if (p.firstTranspose) eq(perm(P.firstTranspose), pad(p.firstTranspose as number[]), 'firstTranspose');
        else expect(P.firstTranspose, at(where, 'no firstTranspose')).toBeUndefined();
        if (p.secondTranspose) eq(perm(P.secondTranspose), pad(p.secondTranspose as number[]), 'secondTranspose');
        else expect(P.secondTranspose).toBeUndefined();
        if (p.reshapeDims) eq(P.reshapeDims, p.reshapeDims, 'reshapeDims');
        eq(P.zeroIsPlaceholder, p.zeroIsPlaceholder, 'zeroIsPlaceholder');
        break;
      }
      case 'addConcatenation': eq(P.axis, p.axis, 'axis'); break;
      case 'addGatherV2':
        eq(P.mode, TABLES.Gather[p.mode as string], 'mode');
        if (p.mode === 'kND') expect(P.axis, at(where, 'no setGatherAxis in kND mode')).toBeUndefined();
        else eq(P.axis, p.axis, 'axis');
        if (p.mode === 'kND' || p.nbElementWiseDims) eq(P.nbElementWiseDims, p.nbElementWiseDims, 'nbElementWiseDims');
        break;
      case 'addSlice':
        for (const k of ['start', 'size', 'stride']) if (p[k] !== undefined) eq(P[k], p[k], k);
        eq(P.mode, TABLES.Sample[p.mode as string], 'mode');
        break;
      case 'addElementWise': eq(P.op, TABLES.ElementWise[p.op as string], 'op'); break;
      case 'addUnary': eq(P.op, TABLES.Unary[p.op as string], 'op'); break;
      case 'addActivation':
        eq(P.type, TABLES.Activation[p.type as string], 'type');
        eq(P.alpha, Math.fround(p.alpha as number), 'alpha');
        eq(P.beta, Math.fround(p.beta as number), 'beta');
        break;
      case 'addMatrixMultiply': eq([P.op0, P.op1], [TABLES.Matrix[p.op0 as string], TABLES.Matrix[p.op1 as string]], 'ops'); break;
      case 'addSoftMax': eq(P.axes, p.axes, 'axes'); break;
      case 'addTopK': eq([P.op, P.k, P.reduceAxes], [TABLES.TopK[p.op as string], p.k, p.reduceAxes], 'op/k/axes'); break;
      case 'addReduce': eq([P.op, P.reduceAxes, P.keepDimensions], [TABLES.Reduce[p.op as string], p.reduceAxes, p.keepDimensions], 'op/axes/keep'); break;
      case 'addFill':
        eq([P.op, P.dtype, P.alpha, P.beta], [0, DT[p.dtype as string], p.alpha, p.beta], 'op/dtype/alpha/beta');
        if (p.dims) eq(P.dims, p.dims, 'dims');
        break;
      case 'addCumulative': {
        eq([P.op, P.exclusive, P.reverse], [0, p.exclusive, p.reverse], 'op/exclusive/reverse');
        const a = helper(`${pl.name}/axis`, 'addConstant', at_);
        expect(rl!.inputs[1]).toBe(a.outputs[0].id);
        expect(scalarOf(a), at(where, 'axis')).toBe(p.axis);
        break;
      }
      case 'addCast': eq(P.toType, DT[p.toType as string], 'toType'); break;
      case 'addScatter':
        eq(P.mode, TABLES.Scatter[p.mode as string], 'mode');
        if (p.mode === 'kND') expect(P.axis, at(where, 'no setAxis in kND mode')).toBeUndefined();
        else eq(P.axis, p.axis, 'axis');
        break;
      case 'addAttention':
      case 'addAttentionV2':
        // IAttention: the mask (plan input 3) through setMask, never setInput; decomposable as planned.
        eq(P.normOp, TABLES.AttentionNormalizationOp[p.normOp as string], 'normOp');
        if (pl.method === 'addAttention') eq(P.causal, p.causal, 'causal');
        else eq(P.causalKind, TABLES.CausalMaskKind[p.causalKind as string], 'causalKind');
        eq(P.decomposable, p.decomposable, 'decomposable');
        expect(rl!.inputs.length, at(where, 'query, key, value and the mask')).toBe(pl.inputs.length);
        break;
      case 'addRotaryEmbedding': eq([P.interleaved, P.rotaryEmbeddingDim], [p.interleaved, p.rotaryEmbeddingDim], 'interleaved/rotaryEmbeddingDim'); break;
      case 'addKVCacheUpdate': eq(P.cacheMode, 0, 'cacheMode (kLINEAR)'); break;
      case 'addQuantize':
      case 'addDequantize': eq([P.toType, P.axis], [DT[p.toType as string], p.axis], 'toType/axis'); break;
      case 'addDistCollective':
        eq([P.op, P.reduceOp, P.root, P.groups], [TABLES.CollectiveOperation[p.op as string], TABLES.CollectiveReduce[p.reduceOp as string], p.root, p.groups], 'op/reduceOp/root/groups');
        break;
      default: break;
    }
    // Outputs: dtypes and ranks as the plan says (index outputs through the bridge's cast).
    pl.outputs.forEach((id, k) => {
      let t = rl!.outputs[k];
      const want = DT[pl.outputDtypes[k]];
      if (t.dtype !== want) {
        const c = helper(`${pl.name}/cast${k}`, 'addCast', at_);
        expect(c.inputs[0]).toBe(t.id);
        t = c.outputs[0];
      }
      expect(t.dtype, at(where, 'output', k, 'dtype')).toBe(want);
      expect(t.dims?.length, at(where, 'output', k, 'rank')).toBe(pl.outputShapes[k].length);
      tensor.set(id, t.id);
    });
  }
  // Marked outputs and names; a network input or a repeated tensor goes through an identity.
  expect(rec.outputs.map((o) => o.name)).toEqual(plan.outputs.map((o) => o.name));
  const seen = new Set<number>();
  const inputIds = new Set(plan.inputs.map((i) => i.id));
  plan.outputs.forEach((o, k) => {
    const r = rec.outputs[k];
    if (inputIds.has(o.id) || seen.has(o.id)) {
      const idl = helper(`${o.name}/identity`, 'addIdentity', -1);
      expect(idl.inputs[0]).toBe(tensor.get(o.id));
      expect(r.id).toBe(idl.outputs[0].id);
    } else expect(r.id, `output ${o.name}`).toBe(tensor.get(o.id));
    seen.add(o.id);
  });
  for (const i of rec.inputs) expect(plan.inputs.map((x) => x.name)).toContain(i.name); // inputs never renamed
  expect(rec.layers.length, 'one add* per plan layer plus the helpers').toBe(plan.layers.length + helpers);
  // Builder-config calls.
  const cfg = rec.config.map((c) => c.m);
  expect(cfg).toContain('addOptimizationProfile');
  expect(cfg.filter((m) => m === 'setProgressMonitor'), 'one progress monitor, set once').toHaveLength(1);
  expect(cfg.filter((m) => m === 'addOptimizationProfile')).toHaveLength(1);
  if (ex.workspaceBytes) expect(rec.config.find((c) => c.m === 'setMemoryPoolLimit')?.a).toEqual([0, ex.workspaceBytes]);
  if (ex.optimizationLevel !== undefined) expect(rec.config.find((c) => c.m === 'setBuilderOptimizationLevel')?.a).toEqual([ex.optimizationLevel]);
}

/** The recorded network as a plan again (enum values back to names), for the plan executor. */
export function recordToPlan(rec: Record_, sourceInputs: { id: number; name: string }[], name = 'replayed'): TrtPlan {
  // Network inputs keep the source graph's ids (the executor takes their declarations from it); others move out of the way.
  const remap = new Map<number, number>();
  for (const i of rec.inputs) remap.set(i.id, sourceInputs.find((s) => s.name === i.name)!.id);
  const R = (id: number) => remap.get(id) ?? 1_000_000 + id;
  const producer = new Map<number, RecLayer>();
  for (const l of rec.layers) for (const o of l.outputs) producer.set(o.id, l);
  const constOf = (id: number | null) => (id !== null ? producer.get(id) : undefined);
  const shapeStr = (d: number[] | null) => (d ?? []).map((x) => (x < 0 ? 'dyn' : String(x)));
  const weights: TrtPlan['weights'] = [];
  const layers: PlanLayer[] = [];
  for (const l of rec.layers) {
    const P = l.params;
    const ids = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
    const base = { name: l.name, outputs: l.outputs.map((o) => o.id), outputShapes: l.outputs.map((o) => shapeStr(o.dims)), outputDtypes: l.outputs.map((o) => DT_NAME[o.dtype]) };
    let method = l.method.replace(/V2$/, '');
    if (l.method === 'addGatherV2' || l.method === 'addAttentionV2') method = l.method;
    let inputs = ids(l.inputs);
    const params: PlanLayer['params'] = {};
    switch (l.method) {
      case 'addConstant': {
        const buf = decodeB64(l.weights ?? '');
        const dt = DT_NAME[P.type as number];
        const copy = new Uint8Array(buf.byteLength);
        copy.set(buf);
        // kINT4 and kFP8 stay raw bytes (int4 two per byte, as the IR stores them).
        const data = (dt === 'kFLOAT' ? new Float32Array(copy.buffer) : dt === 'kINT32' ? new Int32Array(copy.buffer) : dt === 'kINT64' ? new BigInt64Array(copy.buffer) : dt === 'kHALF' || dt === 'kBF16' ? new Uint16Array(copy.buffer) : dt === 'kINT8' ? new Int8Array(copy.buffer) : copy) as TypedArray;
        weights.push({ index: weights.length, dtype: dt, shape: P.dims as number[], data });
        Object.assign(params, { dims: P.dims as number[], weights: weights.length - 1, dtype: dt });
        break;
      }
      case 'addShuffle': {
        const rank = (id: number | null) => (id === null ? 0 : (producer.get(id)?.outputs.find((o) => o.id === id)?.dims ?? rec.inputs.find((i) => i.id === id)?.dims ?? []).length);
        const inRank = rank(l.inputs[0]);
        if (P.firstTranspose) params.firstTranspose = (P.firstTranspose as number[]).slice(0, inRank);
        if (l.inputs[1] != null) params.reshapeDimsInput = l.inputs[1];
        else if (P.reshapeDims) params.reshapeDims = P.reshapeDims as number[];
        if (P.secondTranspose) params.secondTranspose = (P.secondTranspose as number[]).slice(0, l.outputs[0].dims!.length);
        params.zeroIsPlaceholder = P.zeroIsPlaceholder as boolean;
        break;
      }
      case 'addConcatenation': params.axis = P.axis as number; break;
      case 'addGatherV2': Object.assign(params, { mode: inv(TABLES.Gather)[P.mode as number], axis: (P.axis as number) ?? 0, nbElementWiseDims: (P.nbElementWiseDims as number) ?? 0 }); break;
      case 'addSlice': {
        const keys = ['start', 'size', 'stride'];
        keys.forEach((k, j) => {
          if (l.inputs[j + 1] != null) params[`${k}Input`] = l.inputs[j + 1]!;
          else params[k] = P[k] as number[];
        });
        params.mode = inv(TABLES.Sample)[P.mode as number];
        if (params.mode === 'kFILL') params.fillValue = l.inputs[4] != null ? scalarOf(constOf(l.inputs[4])!) : 0;
        inputs = ids(l.inputs.slice(0, 4));
        break;
      }
      case 'addElementWise': params.op = inv(TABLES.ElementWise)[P.op as number]; break;
      case 'addUnary': params.op = inv(TABLES.Unary)[P.op as number]; break;
      case 'addActivation': Object.assign(params, { type: inv(TABLES.Activation)[P.type as number], alpha: (P.alpha as number) ?? 0, beta: (P.beta as number) ?? 0 }); break;
      case 'addMatrixMultiply': Object.assign(params, { op0: inv(TABLES.Matrix)[P.op0 as number], op1: inv(TABLES.Matrix)[P.op1 as number] }); break;
      case 'addSoftMax': params.axes = P.axes as number; break;
      case 'addTopK': case 'addTopKV2': Object.assign(params, { op: inv(TABLES.TopK)[P.op as number], k: P.k as number, reduceAxes: P.reduceAxes as number }); break;
      case 'addReduce': Object.assign(params, { op: inv(TABLES.Reduce)[P.op as number], reduceAxes: P.reduceAxes as number, keepDimensions: P.keepDimensions as boolean }); break;
      case 'addFill': case 'addFillV2':
        if (l.inputs[0] != null) params.dimsInput = l.inputs[0]!;
        else params.dims = P.dims as number[];
        Object.assign(params, { op: 'kLINSPACE', dtype: DT_NAME[P.dtype as number], alpha: P.alpha as number, beta: P.beta as number });
        method = 'addFill';
        break;
      case 'addCumulative':
        Object.assign(params, { op: 'kSUM', axis: scalarOf(constOf(l.inputs[1])!), exclusive: P.exclusive as boolean, reverse: P.reverse as boolean });
        inputs = ids(l.inputs.slice(0, 1));
        break;
      case 'addCast': params.toType = DT_NAME[P.toType as number]; break;
      case 'addIdentity': method = 'addCast'; params.toType = DT_NAME[l.outputs[0].dtype]; break;
      case 'addScatter': Object.assign(params, { mode: inv(TABLES.Scatter)[P.mode as number], axis: (P.axis as number) ?? 0 }); break;
      case 'addAttention': Object.assign(params, { normOp: inv(TABLES.AttentionNormalizationOp)[P.normOp as number], causal: P.causal as boolean, decomposable: P.decomposable as boolean }); break;
      case 'addAttentionV2': Object.assign(params, { normOp: inv(TABLES.AttentionNormalizationOp)[P.normOp as number], causalKind: inv(TABLES.CausalMaskKind)[P.causalKind as number], decomposable: P.decomposable as boolean }); break;
      case 'addRotaryEmbedding': Object.assign(params, { interleaved: P.interleaved as boolean, rotaryEmbeddingDim: P.rotaryEmbeddingDim as number }); break;
      case 'addKVCacheUpdate': params.cacheMode = 'kLINEAR'; break;
      case 'addQuantizeV2': case 'addDequantizeV2': Object.assign(params, { toType: DT_NAME[P.toType as number], axis: P.axis as number }); break;
      case 'addDistCollective':
        Object.assign(params, { op: inv(TABLES.CollectiveOperation)[P.op as number], reduceOp: inv(TABLES.CollectiveReduce)[P.reduceOp as number], root: P.root as number, groups: P.groups as number[] });
        break;
      default: break;
    }
    layers.push({ ...base, method, inputs, params });
  }
  const prof = rec.profiles[0] ?? {};
  for (const l of layers) {
    l.inputs = l.inputs.map(R);
    l.outputs = l.outputs.map(R);
    for (const k of ['startInput', 'sizeInput', 'strideInput', 'reshapeDimsInput', 'dimsInput']) if (typeof l.params[k] === 'number') l.params[k] = R(l.params[k] as number);
  }
  return {
    version: 1,
    name,
    inputs: rec.inputs.map((i) => ({ id: R(i.id), name: i.name, dtype: DT_NAME[i.dtype], dims: i.dims ?? [], profile: { min: prof[i.name]?.min ?? [], opt: prof[i.name]?.opt ?? [], max: prof[i.name]?.max ?? [] } })),
    layers,
    outputs: rec.outputs.map((o) => ({ id: R(o.id), name: o.name })),
    weights,
  };
}

/** Outputs equal: integers and bools exactly, floats within `tol` relative (0: exactly; native attention pre-scales q). */
export function close(want: Record<string, HostTensor>, got: Record<string, HostTensor>, what: string, tol = 0): void {
  for (const k of Object.keys(want)) {
    expect(got[k]?.shape, `${what}: ${k} shape`).toEqual(want[k].shape);
    const a = want[k], b = got[k];
    if (!isFloat(a.dtype) || tol === 0) {
      expect(Array.from(b.data as ArrayLike<unknown>, String), `${what}: ${k}`).toEqual(Array.from(a.data as ArrayLike<unknown>, String));
      continue;
    }
    for (let i = 0; i < a.data.length; i++) {
      const x = getNumber(a.dtype, a.data, i), y = getNumber(b.dtype, b.data, i);
      if (!(Math.abs(x - y) <= tol * (1 + Math.abs(x)))) expect(y, `${what}: ${k}[${i}]`).toBe(x);
    }
  }
}

/**
 * Inputs of a step graph (redrafter_step / llm_step, the per-layer KV contract) from its
 * declarations: row 0 a context call with a 3-token prompt and an empty cache, row 1 (when the
 * profile allows two rows) a generation row with 4 cached tokens; caches hold small values; any
 * other input is zero. `capacity` is 16 slots.
 */
export function stepInputs(g: Graph, rows = 2): Record<string, HostTensor> {
  const batch = Math.min(rows, g.symbols.batch?.max ?? 1);
  // Capacity holds row 1's 4 cached tokens plus one call's writes (prompt 3 + W·L), as `run` checks.
  const beams = g.inputs.find((x) => x.name === 'beams');
  const wl = beams ? (g.tensors[beams.id]!.shape.slice(1) as number[]).reduce((a, x) => a * x, 1) : 0;
  const dims: Record<string, number> = { batch, prompt: 3, seq: 3, capacity: Math.max(16, 4 + 3 + wl) };
  const out: Record<string, HostTensor> = {};
  for (const b of g.inputs) {
    const t = g.tensors[b.id];
    const shape = t.shape.map((d) => evalDim(d, (n) => dims[n] ?? Math.max(1, g.symbols[n]?.min ?? 1))!);
    const n = shape.reduce((a, x) => a * x, 1);
    const data = allocate(t.dtype, n);
    const per = n / Math.max(1, shape[0] ?? 1);
    const set = (f: (i: number, row: number) => number) => {
      for (let i = 0; i < n; i++) {
        const v = f(i, Math.floor(i / per));
        if (t.dtype === 'int64') (data as BigInt64Array)[i] = BigInt(v);
        else setNumber(t.dtype, data, i, v);
      }
    };
    if (b.name === 'is_context') set((_, r) => (r === 0 ? 1 : 0));
    else if (b.name === 'input_ids') set((i) => 5 + (i % 7));
    else if (b.name === 'prompt_lengths') set((_, r) => (r === 0 ? 3 : 0));
    else if (b.name === 'cache_lengths') set((_, r) => (r === 0 ? 0 : 4));
    else if (b.name === 'beams') set((i) => 3 + (i % 5));
    else if (/^[kv]_cache_\d+$/.test(b.name)) set((i) => Math.sin(i) * 0.25);
    else if (b.name === 'temperature') set(() => 1);
    else if (b.name.startsWith('uniform')) set(() => 0.5);
    else if (t.dtype === 'bool') set(() => 1);
    out[b.name] = { dtype: t.dtype, shape, data } as HostTensor;
  }
  return out;
}

/** A hand-written plan (for what the ops may refuse to emit): tensors are numbered by the caller. */
export function handPlan(
  inputs: { id: number; name: string; dtype: string; dims: number[]; min?: number[]; opt?: number[]; max?: number[]; shapeValues?: { min: number[]; opt: number[]; max: number[] } }[],
  layers: { method: string; inputs: number[]; outputs: number[]; params?: PlanLayer['params']; dtypes: string[]; ranks: number[]; name?: string; site?: string }[],
  outputs: { id: number; name: string }[],
  weights: TrtPlan['weights'] = [],
): TrtPlan {
  return {
    version: 1,
    name: 'hand',
    inputs: inputs.map((i) => ({ id: i.id, name: i.name, dtype: i.dtype, dims: i.dims, profile: { min: i.min ?? i.dims, opt: i.opt ?? i.dims, max: i.max ?? i.dims }, ...(i.shapeValues ? { shapeValues: i.shapeValues } : {}) })),
    layers: layers.map((l, k) => ({
      method: l.method, name: l.name ?? `${l.method}_${k}`, inputs: l.inputs, outputs: l.outputs, params: l.params ?? {},
      outputDtypes: l.dtypes, outputShapes: l.ranks.map((r) => Array.from({ length: r }, () => '?')), ...(l.site ? { site: l.site } : {}),
    })) as PlanLayer[],
    outputs,
    weights,
  };
}

// `npx tsx test/trt-double-util.ts --build-all`: compile against every header set (.ci/run does this before npm test).
if (process.argv[1] && path.resolve(process.argv[1]) === HERE && process.argv.includes('--build-all')) {
  for (const t of TAGS) {
    const t0 = Date.now();
    try {
      buildDouble(t);
      process.stderr.write(`TensorRT double ${t}: ready (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    } catch (e) {
      process.stderr.write(`TensorRT double ${t}: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}

/**
 * The CLI in a child process, asynchronously (the double's builds and the runtime's worker
 * threads run beside the test), with `env` added to this process's environment.
 */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [path.join(ROOT, 'bin', 'redraft.js'), ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
