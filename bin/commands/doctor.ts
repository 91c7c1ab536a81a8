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
  out.result(d, lines.join('\n'));
}
