/**
 * The only place that loads the native addon, lazily, so every other command works without
 * it. A missing or broken addon becomes a MissingBackendError with the fix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MissingBackendError } from '../../dsl/errors.js';

export interface NativeInfo {
  addonVersion: string;
  tensorrtHeaders: boolean;
  headersVersion?: string;
  cudaHeaders: boolean;
}
export interface LoadResult {
  ok: boolean;
  library?: string;
  version?: string;
  tried: string[];
  error?: string;
}
export interface NativeAddon {
  info(): NativeInfo;
  loadTensorRT(path?: string): LoadResult;
  describePlan(plan: unknown): { layers: Record<string, unknown>[]; inputs: Record<string, unknown>[]; weights: { index: number; bytes: number; checksum: string }[] };
  /** Resolves once every log line and progress step of the build has been delivered. */
  buildEngine(plan: unknown, config: unknown, onProgress?: (phase: string, done: number, total: number) => void, onLog?: (severity: string, msg: string) => void): Promise<NativeEngine>;
}

/** A serialized engine held in TensorRT's memory (never copied into JavaScript unless asked). */
export interface NativeEngine {
  /** Bytes (may be 4 GiB or more). */
  size: number;
  /** Writes the whole engine to an open file descriptor, from C++. */
  writeTo(fd: number): void;
  /** The bytes as a zero-copy ArrayBuffer; throws RangeError at 4 GiB or more (use writeTo). */
  arrayBuffer(): ArrayBuffer;
  /** Frees the engine now instead of at garbage collection. */
  release(): void;
}

/** The repository root, from builders/trt (source) or .build/builders/trt (compiled). */
function root(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return d;
}

/** The addon: native/build/Release/redraft_native.node, or $REDRAFT_NATIVE_ADDON (an addon built against other headers). */
export const ADDON_PATH = process.env.REDRAFT_NATIVE_ADDON ? path.resolve(process.env.REDRAFT_NATIVE_ADDON) : path.join(root(), 'native', 'build', 'Release', 'redraft_native.node');

let cached: NativeAddon | undefined;
let failure: string | undefined;

/** The addon, or undefined with the reason in `nativeError()`. */
export function tryNative(): NativeAddon | undefined {
  if (cached || failure) return cached;
  if (!fs.existsSync(ADDON_PATH)) {
    failure = `the native addon is not built (${ADDON_PATH} is missing)`;
    return undefined;
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (e) {
    failure = `the native addon failed to load: ${(e as Error).message}`;
  }
  return cached;
}

export function nativeError(): string | undefined {
  tryNative();
  return failure;
}

/** The addon or a MissingBackendError (exit 3) saying how to build it. */
export function native(): NativeAddon {
  const n = tryNative();
  if (!n) throw new MissingBackendError(failure!, 'build it with `npm run build:native` (needs cmake and a C++17 compiler)');
  return n;
}
