/**
 * `redraft bench --engine DIR`: speculative decoding on a build output, measured: tokens/s,
 * tokens per step, step latency p50/p95 over the timed runs (after a warm-up run), and peak host
 * memory. Device memory is reported by the TensorRT runtime only; CPU backends report null.
 */
import { UsageError } from '../../dsl/errors.js';
import { redrafterGenerate } from '../../builders/generate/loop.js';
import type { Output } from '../output.js';
import { prepareGeneration, type GenerateFlags } from './generate.js';

export interface BenchFlags extends GenerateFlags {
  runs: string;
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
};

export async function bench(flags: BenchFlags, out: Output): Promise<void> {
  const runs = Number(flags.runs);
  if (!/^\d+$/.test(flags.runs) || runs < 1 || runs > 1000) throw new UsageError(`--runs must be an integer in 1..1000, got ${JSON.stringify(flags.runs)}`);
  if (flags.autoregressive) throw new UsageError('bench measures speculative decoding; --autoregressive is not a bench mode', 'drop --autoregressive');
  const g = await prepareGeneration(flags, out);
  const stepMs: number[] = [];
  let timing = false;
  const timed = async (graph: Parameters<typeof g.run>[0], inputs: Parameters<typeof g.run>[1]) => {
    const t0 = performance.now();
    const r = await g.run(graph, inputs);
    if (timing) stepMs.push(performance.now() - t0);
    return r;
  };
  out.info(`bench: 1 warm-up run, then ${runs} timed run(s) of ${g.prompt.length} row(s) to length ${g.shape.maxLength} on ${g.backend}`);
  await redrafterGenerate(g.stepGraph, timed, g.prompt, g.shape);
  timing = true;
  let tokens = 0;
  let steps = 0;
  let accepted = 0;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const r = await redrafterGenerate(g.stepGraph, timed, g.prompt, g.shape);
    tokens += g.generatedTokens(r.sequences);
    steps += r.steps;
    accepted += r.acceptedPerStep.reduce((a, row) => a + row.reduce((x, y) => x + y, 0) / row.length, 0);
    out.progress('bench', i + 1, runs);
  }
  const seconds = (performance.now() - t0) / 1000;
  const result = {
    model: g.name,
    backend: g.backend,
    engine: flags.engine,
    runs,
    rows: g.prompt.length,
    tokensPerSecond: +(tokens / seconds).toFixed(2),
    // No draft–verify step (the context call's token ended every row): no rate to report.
    tokensPerStep: steps ? +(1 + accepted / steps).toFixed(3) : null,
    stepLatencyMs: { p50: +percentile(stepMs, 50).toFixed(2), p95: +percentile(stepMs, 95).toFixed(2), calls: stepMs.length },
    peakHostMemoryMB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    peakDeviceMemoryMB: null as number | null,
  };
  if (g.backend === 'trt') {
    const bytes = (await import('../../builders/trt/runtime.js')).runtimeDeviceBytes();
    if (bytes !== undefined) result.peakDeviceMemoryMB = +(bytes / 2 ** 20).toFixed(3);
  }
  out.result(
    result,
    [
      `${result.tokensPerSecond} tokens/s, ${result.tokensPerStep === null ? 'no draft–verify step (the context call ended every row)' : `${result.tokensPerStep} token${result.tokensPerStep === 1 ? '' : 's'} per step`} (${runs} run(s), ${g.prompt.length} row(s), ${g.backend})`,
      `step latency p50 ${result.stepLatencyMs.p50} ms, p95 ${result.stepLatencyMs.p95} ms over ${stepMs.length} calls`,
      `peak host memory ${result.peakHostMemoryMB} MB; device memory: ${result.peakDeviceMemoryMB === null ? 'n/a on a CPU backend' : `${result.peakDeviceMemoryMB} MB of I/O buffers (TensorRT's own activation memory not counted)`}`,
    ].join('\n'),
  );
}
