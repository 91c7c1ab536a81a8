/** What this machine offers redraft: the addon, TensorRT headers and library, CUDA. */
import * as fs from 'node:fs';
import { ADDON_PATH, nativeError, tryNative } from './native.js';

export interface DoctorReport {
  addon: boolean;
  addonPath: string;
  addonError?: string;
  tensorrtHeaders: boolean;
  headersVersion?: string;
  library: { found: boolean; path?: string; version?: string; tried: string[]; error?: string };
  /** headers: on this machine now; compiledIn: found when the addon was built (its own CUDA flag). */
  cuda: { headers: boolean; path?: string; compiledIn: boolean };
  node: string;
  platform: string;
}

export function doctor(): DoctorReport {
  const n = tryNative();
  const info = n?.info();
  const lib = n ? n.loadTensorRT() : { ok: false, tried: [], error: 'native addon unavailable' };
  const cudaPath = [process.env.CUDA_INCLUDE_DIR, '/usr/local/cuda/include'].find((p) => !!p && fs.existsSync(`${p}/cuda_runtime_api.h`));
  return {
    addon: !!n,
    addonPath: ADDON_PATH,
    addonError: nativeError(),
    tensorrtHeaders: !!info?.tensorrtHeaders,
    headersVersion: info?.headersVersion,
    library: { found: lib.ok, path: lib.library, version: lib.version, tried: lib.tried, error: lib.error },
    cuda: { headers: !!cudaPath, path: cudaPath, compiledIn: !!info?.cudaHeaders },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
