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
  cuda: { headers: boolean; path?: string };
  node: string;
  platform: string;
}

export function doctor(): DoctorReport {
  const n = tryNative();
  const info = n?.info();
  const lib = n ? n.loadTensorRT() : { ok: false, tried: [], error: 'native addon unavailable' };
  const cudaPath = ['/usr/local/cuda/include/cuda_runtime_api.h'].find((p) => fs.existsSync(p));
  return {
    addon: !!n,
    addonPath: ADDON_PATH,
    addonError: nativeError(),
    tensorrtHeaders: !!info?.tensorrtHeaders,
    headersVersion: info?.headersVersion,
    library: { found: lib.ok, path: lib.library, version: lib.version, tried: lib.tried, error: lib.error },
    cuda: { headers: !!cudaPath, path: cudaPath ? '/usr/local/cuda/include' : undefined },
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
