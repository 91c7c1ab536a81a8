/**
 * `redraft doctor --smoke`: the whole path on this machine, end to end. Builds `tiny-redrafter`
 * for ONNX (and for TensorRT where TensorRT is usable) into a temporary directory, generates from
 * each build with `--engine`, and compares the tokens with the reference interpreter's. Each part
 * reports pass, fail or skipped (with the reason) and its time; any failure is exit 5.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode, RedraftError } from '../../dsl/errors.js';
import { redrafterGenerate } from '../../builders/generate/loop.js';
import { Output } from '../output.js';
import { prepareGeneration, type GenerateFlags } from './generate.js';

/** An Output that keeps a command's result instead of printing it. */
class Captured extends Output {
  value?: Record<string, unknown>;
  constructor() {
    super({ json: false, quiet: true });
  }
  override result(obj: object): void {
    this.value = obj as Record<string, unknown>;
  }
}

interface Part {
  name: string;
  status: 'pass' | 'fail' | 'skipped';
  seconds: number;
  detail: string;
  tokens?: number[][];
}

const PROMPT = '5,6,7,8;9,10';
const MAX_LENGTH = '20';

export async function smoke(out: Output): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-smoke-'));
  const parts: Part[] = [];
  const gen = async (flags: Partial<GenerateFlags>): Promise<number[][]> => {
    const g = await prepareGeneration({ promptIds: PROMPT, maxLength: MAX_LENGTH, backend: 'interp', ...flags } as GenerateFlags, new Captured());
    const r = await redrafterGenerate(g.stepGraph, g.run, g.prompt, g.shape);
    return r.sequences.map((row) => row.map(Number));
  };
  const timed = async (name: string, fn: () => Promise<{ detail: string; tokens?: number[][]; status?: Part['status'] }>) => {
    const t0 = performance.now();
    out.info(`smoke: ${name}`);
    try {
      const r = await fn();
      parts.push({ name, status: r.status ?? 'pass', seconds: +((performance.now() - t0) / 1000).toFixed(3), detail: r.detail, tokens: r.tokens });
    } catch (e) {
      parts.push({ name, status: 'fail', seconds: +((performance.now() - t0) / 1000).toFixed(3), detail: (e as Error).message.split('\n')[0]! });
    }
  };
  const { build } = await import('./build.js');
  try {
    let reference: number[][] | undefined;
    await timed('reference: tiny-redrafter on the interpreter', async () => {
      reference = await gen({ model: 'tiny-redrafter', backend: 'interp' });
      return { detail: `${reference.length} rows to length ${MAX_LENGTH}`, tokens: reference };
    });
    const compare = (tokens: number[][], what: string) => {
      if (!reference) throw new Error('no reference tokens to compare with');
      const same = JSON.stringify(tokens) === JSON.stringify(reference);
      if (!same) throw new Error(`${what} tokens differ from the interpreter's: ${JSON.stringify(tokens)} vs ${JSON.stringify(reference)}`);
      return { detail: `tokens equal the interpreter's`, tokens };
    };
    await timed('ONNX: build --target onnx, then generate --engine on ONNX Runtime', async () => {
      const dir = path.join(tmp, 'onnx');
      await build({ model: 'tiny-redrafter', out: dir, target: 'onnx' } as Parameters<typeof build>[0], new Captured());
      return compare(await gen({ engine: dir, backend: 'onnx' }), 'ONNX Runtime');
    });
    const { assertTensorRtUsable } = await import('../../builders/trt/build.js');
    let trtReason: string | undefined;
    try {
      assertTensorRtUsable();
    } catch (e) {
      trtReason = (e as Error).message.split('\n')[0];
    }
    // The runtime needs TensorRT's runtime and a CUDA device too; redraft's doubles stand in for both in CI.
    const { runtimeLibs } = await import('../../builders/trt/runtime.js');
    const libs = trtReason ? undefined : runtimeLibs();
    if (!trtReason && !libs?.ok) trtReason = `the TensorRT runtime is not usable: ${libs?.error ?? 'the native addon has no runtime'}`;
    const doubles = libs ? [libs.tensorrt.double && `TensorRT double (${libs.tensorrt.library})`, libs.cuda.double && `CUDA-runtime double (${libs.cuda.library})`].filter(Boolean) : [];
    if (trtReason) parts.push({ name: 'TensorRT: build --target trt, then generate --engine on TensorRT', status: 'skipped', seconds: 0, detail: trtReason });
    else
      await timed('TensorRT: build --target trt, then generate --engine on TensorRT', async () => {
        const dir = path.join(tmp, 'trt');
        await build({ model: 'tiny-redrafter', out: dir, target: 'trt' } as Parameters<typeof build>[0], new Captured());
        // The doubles run the whole path but not the network: their outputs are a pattern, which the
        // host loop's own check of next_cache_lengths refuses after the first calls; either way this is no GPU pass.
        if (doubles.length) {
          const notGpu = `on redraft's ${doubles.join(' and ')}; the outputs are the double's pattern, not the model's: not a GPU result`;
          try {
            const tokens = await gen({ engine: dir, backend: 'trt' });
            return { status: 'skipped', tokens, detail: `ran build, deserialize, enqueue and copies end to end ${notGpu}` };
          } catch (e) {
            if (!/broke the KV contract/.test((e as Error).message)) throw e;
            return { status: 'skipped', detail: `ran build, deserialize and enqueue with the caches bound in place until the host's contract check refused the pattern ${notGpu}` };
          }
        }
        return compare(await gen({ engine: dir, backend: 'trt' }), 'TensorRT');
      });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const failed = parts.filter((p) => p.status === 'fail');
  const failure = failed.length ? new RedraftError(`smoke test: ${failed.map((p) => p.name).join('; ')} failed`, { exitCode: ExitCode.conformance, hint: 'the first failing part says why; redraft doctor shows what the machine has' }) : undefined;
  const text = parts.map((p) => `${p.status.padEnd(7)} ${p.name} (${p.seconds}s): ${p.detail}`).join('\n');
  const doc = { smoke: parts, passed: parts.filter((p) => p.status === 'pass').length, failed: failed.length, skipped: parts.filter((p) => p.status === 'skipped').length };
  out.result(failure ? { ...doc, exitCode: failure.exitCode, error: { kind: 'SmokeFailure', message: failure.message } } : doc, text, !failure);
  if (failure) throw failure;
}
