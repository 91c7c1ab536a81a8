/**
 * `npm run bench [-- --json] [-- --quick]`: runs each scenario in its own Node process (so
 * peak RSS belongs to one scenario), then prints a table or one JSON document keyed by
 * scenario name: construct, export, step, generate.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as os from 'node:os';

type Json = Record<string, unknown>;
const SCENARIOS = ['construct', 'export', 'step', 'generate', 'memory'] as const;

async function runOne(name: string, quick: boolean): Promise<Json> {
  const m = await import('./scenarios.js');
  const extra = await import('./scenarios-engine.js').catch(() => undefined);
  switch (name) {
    case 'export':
      return m.exportScenario({ gb: quick ? 0.25 : 2, reps: quick ? 1 : 3 });
    case 'step': {
      const base = { hidden: quick ? 256 : 1024, vocab: quick ? 4000 : 32000, layers: quick ? 2 : 4, W: 8, L: 5, reps: quick ? 2 : 3 };
      const b1 = await m.stepScenario({ ...base, batch: 1 });
      const b4 = await m.stepScenario({ ...base, batch: 4 });
      return { scenario: 'step', batch1: b1, batch4: b4 };
    }
    case 'memory':
      return (await import('./memory.js')).memoryScenario({ quick });
    case 'construct':
    case 'generate':
      if (!extra) return { scenario: name, error: 'the combined ReDrafter graph (models/redrafter/engine.ts) is not available' };
      return name === 'construct' ? extra.constructScenario({ reps: quick ? 2 : 5 }) : extra.generateScenario({ quick });
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3);
  if (v && typeof v === 'object') return Object.entries(v as Json).map(([k, x]) => `${k}=${fmt(x)}`).join(' ');
  return String(v);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick') || process.env.REDRAFT_BENCH_QUICK === '1';
  const child = args.indexOf('--child');
  if (child >= 0) {
    process.stdout.write(JSON.stringify(await runOne(args[child + 1], quick)) + '\n');
    return;
  }
  const only = args.filter((a) => (SCENARIOS as readonly string[]).includes(a));
  const results: Record<string, Json> = {};
  for (const s of only.length ? only : SCENARIOS) {
    process.stderr.write(`bench: ${s}...\n`);
    try {
      const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', s, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
      results[s] = JSON.parse(out.trim().split('\n').pop()!);
    } catch (e) {
      results[s] = { scenario: s, error: (e as Error).message.split('\n')[0] };
    }
  }
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, quick };
  if (args.includes('--json')) {
    process.stdout.write(JSON.stringify({ machine, scenarios: results }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`machine: ${fmt(machine)}\n`);
  for (const [k, v] of Object.entries(results)) {
    process.stdout.write(`\n## ${k}\n`);
    for (const [f, x] of Object.entries(v)) if (f !== 'scenario') process.stdout.write(`  ${f.padEnd(14)} ${fmt(x)}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exitCode = 1;
});
