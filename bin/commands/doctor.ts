/** `redraft doctor`: what this machine offers redraft (addon, TensorRT, CUDA). */
import type { Output } from '../output.js';

export async function doctor(out: Output): Promise<void> {
  const { doctor: probe } = await import('../../builders/trt/doctor.js');
  const d = probe();
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const lines = [
    `native addon        ${d.addon ? `yes (${d.addonPath})` : `no${d.addonError ? ` (${d.addonError})` : ''}`}`,
    `TensorRT headers    ${d.tensorrtHeaders ? `compiled in (${d.headersVersion})` : 'not compiled in (rebuild with TENSORRT_INCLUDE_DIR=/path/to/include npm run build:native)'}`,
    `libnvinfer          ${d.library.found ? `${d.library.path} (TensorRT ${d.library.version ?? '?'})` : `not found${d.library.error ? `: ${d.library.error}` : ''} (set TENSORRT_LIB or LD_LIBRARY_PATH)`}`,
    `CUDA headers        ${yes(d.cuda.headers)}${d.cuda.path ? ` (${d.cuda.path})` : ''}`,
    `can build engines   ${yes(d.addon && d.tensorrtHeaders && d.library.found)}`,
  ];
  // The TensorRT runtime (--backend trt): TensorRT's runtime and the CUDA runtime, doubles named as such.
  const { runtimeLibs } = await import('../../builders/trt/runtime.js');
  let rt: ReturnType<typeof runtimeLibs>;
  try {
    rt = d.addon && d.tensorrtHeaders ? runtimeLibs() : undefined;
  } catch {
    rt = undefined;
  }
  const dbl = (x: boolean) => (x ? ', redraft\'s double: no GPU' : '');
  if (rt) {
    lines.push(`CUDA runtime        ${rt.cuda.ok ? `${rt.cuda.library} (CUDA ${rt.cuda.version ?? '?'}, ${rt.cuda.devices ?? 0} device(s)${dbl(rt.cuda.double)})` : `not found${rt.cuda.error ? `: ${rt.cuda.error}` : ''} (set CUDA_LIB or LD_LIBRARY_PATH)`}`);
    lines.push(`can run engines     ${rt.ok ? `yes${rt.tensorrt.double || rt.cuda.double ? ' (on redraft\'s doubles: the plumbing only, not a GPU)' : ''}` : `no${rt.error ? ` (${rt.error})` : ''}`}`);
  } else lines.push('can run engines     no (needs the addon with TensorRT headers)');
  out.result(rt ? { ...d, runtime: rt } : d, lines.join('\n'));
}
