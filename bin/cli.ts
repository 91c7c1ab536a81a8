/**
 * The redraft command line. This module is the one place the process's exit code is
 * decided: commands return results or throw RedraftErrors that carry their exit codes.
 */
import { Command, CommanderError, Option } from 'commander';
import chalk from 'chalk';
import { createRequire } from 'node:module';
import { ExitCode, RedraftError, UsageError } from '../dsl/errors.js';
import { cleanupTemporaries, committedOutputs } from '../builders/atomic.js';
import { BUILD_CONFIG_RULES, DEFAULT_BUILD_CONFIG, type BuildConfig } from '../builders/build-config.js';
import { Output } from './output.js';

const require = createRequire(import.meta.url);
export const VERSION: string = (require('../../package.json') as { version: string }).version;

interface GlobalOpts {
  json?: boolean;
  quiet?: boolean;
}

function output(cmd: Command): Output {
  const o = cmd.optsWithGlobals() as GlobalOpts;
  return new Output({ json: !!o.json, quiet: !!o.quiet });
}

const D = DEFAULT_BUILD_CONFIG;
/** "lo..hi, default d" for an integer build setting, from the rules the config is checked with. */
function range(key: keyof BuildConfig): string {
  const r = BUILD_CONFIG_RULES[key];
  return r.kind === 'int' ? `${r.min}..${r.max}, default ${D[key]}` : `default ${D[key]}`;
}

/** Options every model-consuming command shares; `required` marks --model as required in help. */
function modelOptions(c: Command, required = true): Command {
  return c
    .option('--model <model>', `${required ? '(required) ' : ''}built-in name (tiny-redrafter), Hugging Face-style directory (with --drafter), or a .ts/.js model module`)
    .option('--drafter <dir>', 'ReDrafter drafter checkpoint directory (with --model DIR)')
    .addOption(new Option('--dtype <dtype>', `compute dtype (default ${D.dtype})`).choices(['float32', 'float16', 'bfloat16']))
    .option('--beam-width <n>', `draft beams per step (${range('beamWidth')}; at most 50: drafter logits are warped to their top 50)`)
    .option('--beam-length <n>', `tokens per beam, including the last accepted token (${range('beamLength')})`)
    .option('--max-batch <n>', `largest batch the engine accepts (${range('maxBatch')})`)
    .option('--max-seq <n>', `longest sequence, prompt + generated, the engine accepts (${range('maxSeq')})`)
    .option('--config <build.json>', 'build configuration file (keys: target, dtype, beamWidth, beamLength, maxBatch, maxSeq, workspaceMiB, optimizationLevel, timingCache, strict, quantize, calibrate, quantizeDrafter); flags override it')
    .option('--strict', 'fail on NaN/Inf weights instead of warning')
    .option('--tp <n>', 'tensor parallelism: N ranks (one GPU each); build/export write rank<R>.* files plus config.json, generate/run simulate the ranks in lockstep (--backend interp), inspect reports each rank')
    .option('--rank <r>', 'with --tp: only rank R (0-based), e.g. one CI job per rank; its files are byte-identical to an all-ranks build\'s')
    .option('--quantize <scheme>', 'quantize the base model\'s projection weights: int8-wo (per output channel), int4-wo[:GROUP] (per GROUP inputs, default 128), fp8 (e4m3, per tensor); the drafter stays in --dtype')
    .option('--calibrate <prompts.txt>', 'with --quantize fp8: per-tensor activation scales from the base model run over these prompts (one per line, token ids or text); without it fp8 quantizes weights only')
    .option('--quantize-drafter', 'quantize the drafter with the --quantize scheme too (default: the drafter stays in --dtype)');
}

export function program(): Command {
  const p = new Command('redraft')
    .description('Build ReDrafter speculative-decoding engines from TypeScript model definitions')
    .version(VERSION)
    .option('--json', 'print one machine-readable JSON document on stdout')
    .option('-q, --quiet', 'no progress output on stderr')
    .option('--verbose', "also print ONNX Runtime's own log on stderr")
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', `
Examples:
  redraft build --model tiny-redrafter --out engine                 # TensorRT if usable here, else ONNX
  redraft build --model ./llama --drafter ./drafter --target trt --dtype float16 --out engine
  redraft build --model my-drafter.ts --target onnx --out out       # a model module of your own
  redraft build --model tiny-redrafter --dry-run --out plan         # CI without a GPU: the TensorRT call plan
  redraft generate --model tiny-redrafter --prompt-ids 5,6,7 --backend onnx
  redraft conformance ../shared/golden --json
  redraft doctor

Run redraft <command> --help for a command's flags, ranges and defaults.
Exit codes: 0 ok, 1 internal error, 2 usage, 3 missing backend (TensorRT), 4 bad model, 5 conformance failures, 130 interrupted (SIGINT), 143 terminated (SIGTERM).`)
    .exitOverride();
  p.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  modelOptions(p.command('build'))
    .description('build an engine: TensorRT (trt), ONNX (onnx), a TensorRT call plan (plan), or auto')
    .addOption(new Option('--target <target>', 'what to build (default auto: trt when TensorRT is usable here, else onnx)').choices(['auto', 'trt', 'onnx', 'plan']))
    .option('--out <dir>', 'output directory', 'engine')
    .option('--dry-run', 'lower to a TensorRT plan only and write DIR/plan.json (the same as --target plan)')
    .option('--force', 'rebuild even when --out holds an up-to-date build')
    .option('--trt-version <X.Y>', 'TensorRT version a plan is lowered for: native attention (10.14+), rotary and KV-cache layers (10.15+), addAttentionV2 (11.0+), primitives before (default: the headers the native addon was compiled against; plan only)')
    .option('--workspace <MiB>', `TensorRT builder memory pool limit in MiB (${range('workspaceMiB')}; trt only)`)
    .option('--opt-level <n>', `TensorRT builder optimization level (${range('optimizationLevel')}; trt only)`)
    .option('--timing-cache <file>', 'TensorRT timing cache to read and update (default none; trt only)')
    .addHelpText('after', `
Examples:
  redraft build --model tiny-redrafter --out engine             # trt if TensorRT is usable, else onnx
  redraft build --model ./llama --drafter ./drafter --target trt --out engine --dtype float16
  redraft build --model models/examples/custom-drafter.ts --target onnx --out out
  redraft build --model tiny-redrafter --dry-run --out plan      # CI without a GPU: check lowering`)
    .action(async (_o, cmd: Command) => (await import('./commands/build.js')).build(checkBuildFlags(cmd.opts()), output(cmd)));

  modelOptions(p.command('export'))
    .description('export the model graph to ONNX (or redraft\'s own graph format)')
    .addOption(new Option('--format <format>', 'output format').choices(['onnx', 'graph']).default('onnx'))
    .requiredOption('--out <file>', '(required) output file (model.onnx; its external data goes beside it when large); with --tp N a directory (not *.onnx) that gets rank<R>.onnx per rank and config.json')
    .addHelpText('after', `
Examples:
  redraft export --model tiny-redrafter --format onnx --out model.onnx
  redraft export --model tiny-redrafter --format graph --out model.graph`)
    .action(async (_o, cmd: Command) => (await import('./commands/export.js')).exportCmd(cmd.opts(), output(cmd)));

  const ENGINE_OPT = '--engine <dir>';
  const ENGINE_HELP = "a `redraft build` output directory instead of --model: model, dtype, beam shape and limits come from its config.json";
  const BACKEND_HELP = 'where to run: interp | onnx, and with --engine also plan (the TensorRT plan executor) | trt (default: interp; with --engine its build target)';
  modelOptions(p.command('inspect'), false)
    .description('layers by kind, parameters, inputs/outputs with dim ranges, FLOPs and memory per step')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'dot']).default('table'))
    .option('--batch <n>', "batch size for the per-step estimate (default: the batch dim's opt value)")
    .option('--seq <n>', "sequence held so far for the per-step estimate (default: the seq/past dim's opt value)")
    .option('--graph <file>', 'inspect a saved graph (redraft export --format graph) instead of a model')
    .option(ENGINE_OPT, 'inspect a `redraft build` output directory: its files and build settings, and the graph it was built from')
    .addHelpText('after', `
Examples:
  redraft inspect --model tiny-redrafter
  redraft inspect --model tiny-redrafter --format dot | dot -Tsvg > graph.svg`)
    .action(async (_o, cmd: Command) => (await import('./commands/inspect.js')).inspect(checkInspectFlags(cmd.opts()), output(cmd)));

  modelOptions(p.command('run'), false)
    .description('execute a model graph (or a saved graph) on inputs from .safetensors or .json')
    .option('--graph <file>', 'a saved graph (redraft export --format graph) instead of --model; one of --graph, --model, --engine is required')
    .option(ENGINE_OPT, "a `redraft build` output directory: runs its step graph")
    .requiredOption('--inputs <file>', '(required) inputs: .safetensors, or .json {name: {dtype, shape, data}}')
    .option('--out <file>', 'write outputs (.safetensors or .json); default: print a summary')
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(['interp', 'onnx', 'plan', 'trt']))
    .addHelpText('after', `
Examples:
  redraft run --graph model.graph --inputs inputs.json --out outputs.safetensors
  redraft run --engine engine --inputs step-inputs.safetensors`)
    .action(async (_o, cmd: Command) => (await import('./commands/run.js')).run(cmd.opts(), output(cmd)));

  const generateOptions = (c: Command) =>
    modelOptions(c, false)
      .option(ENGINE_OPT, ENGINE_HELP)
      .option('--prompt-ids <ids>', 'comma-separated prompt token ids (one row); use ; between rows (one of --prompt-ids, --prompt, --prompt-file is required)')
      .option('--prompt <text>', "prompt text, tokenized with the model's tokenizer.json; prints the decoded text (streamed for one prompt)")
      .option('--prompt-file <file>', 'prompts as text, one per line: one batch row each')
      .option('--chat', "render each prompt as a user message through the model's chat template (tokenizer_config.json or chat_template.jinja)")
      .option('--system <text>', 'a system message before each prompt (with --chat)')
      .option('--max-new-tokens <n>', 'generate at most this many tokens after the longest prompt (instead of --max-length)')
      .option('--greedy', 'decode greedily (the default, also where generation_config.json says do_sample)')
      .option('--sample', "sample as generation_config.json's do_sample/temperature say (default: greedy)")
      .option('--max-length <n>', "stop each row once it is this many tokens long, prompt included, or at its first EOS; at most the build's --max-seq (default: max_new_tokens or max_length of generation_config.json, else 64, capped at the build's --max-seq)")
      .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(['interp', 'onnx', 'plan', 'trt']));
  generateOptions(p.command('generate'))
    .description('generate tokens with ReDrafter speculative decoding, from a model (--model) or a build (--engine)')
    .option('--autoregressive', 'plain greedy decoding with the same base model (for comparison)')
    .option('--temperature <t>', 'speculative sampling at this temperature, > 0 (default: greedy)')
    .option('--seed <n>', 'seed of the uniforms used for sampling, with --temperature or --sample (default: 0)')
    .option('--check-finite', 'fail (exit 4) on the first NaN/Inf in any step output, naming the step and the output (the default)')
    .option('--no-check-finite', 'skip that check (it reads every output of every step on the host)')
    .addHelpText('after', `
Examples:
  redraft generate --model tiny-redrafter --prompt-ids 5,6,7 --max-length 32
  redraft generate --model tiny-redrafter --dtype float16 --prompt-ids 5,6,7 --check-finite
  redraft generate --model ./llm --drafter ./drafter --prompt-ids 5,6,7 --beam-width 4 --beam-length 5 --json
  redraft generate --model tiny-redrafter --prompt-ids 5,6,7 --temperature 0.8 --seed 1
  redraft generate --engine engine --prompt-ids 5,6,7              # the build in engine/ (its own backend)
  # a --tp 2 TensorRT build, one process per rank (README "Launching the ranks"); only rank 0 prints:
  REDRAFT_TP_SIZE=2 REDRAFT_TP_RANK=0 REDRAFT_NCCL_ID_FILE=/tmp/tp.id CUDA_VISIBLE_DEVICES=0 redraft generate --engine engine-tp2 --backend trt --prompt-ids 5,6,7 &
  REDRAFT_TP_SIZE=2 REDRAFT_TP_RANK=1 REDRAFT_NCCL_ID_FILE=/tmp/tp.id CUDA_VISIBLE_DEVICES=1 redraft generate --engine engine-tp2 --backend trt --prompt-ids 5,6,7 &`)
    .action(async (_o, cmd: Command) => (await import('./commands/generate.js')).generate(cmd.opts(), output(cmd)));

  generateOptions(p.command('bench'))
    .description('measure speculative decoding on a build: tokens/s, tokens per step, step latency p50/p95, peak memory')
    .addOption(new Option('--runs <n>', 'timed runs after one warm-up run (1..1000)').default('3', '3'))
    .addHelpText('after', `
Examples:
  redraft build --model tiny-redrafter --target onnx --out engine && redraft bench --engine engine --prompt-ids '5,6,7;8,9'
  redraft bench --engine engine --prompt-ids 5,6,7 --backend interp --runs 5 --json`)
    .action(async (_o, cmd: Command) => (await import('./commands/bench.js')).bench(cmd.opts(), output(cmd)));

  p.command('conformance')
    .description('run golden cases recorded from the PyTorch reference and compare')
    .argument('<dir|CASE.json>', 'folder of golden cases (searched recursively), or one case file')
    .addOption(new Option('--backend <backend>', 'where to run').choices(['interp', 'onnx']).default('interp'))
    .option('--filter <text>', 'only cases whose path contains this text')
    .addHelpText('after', `
Examples:
  redraft conformance ../shared/golden
  redraft conformance ../shared/golden/tree_attention --backend onnx --json`)
    .action(async (dir: string, _o, cmd: Command) => (await import('./commands/conformance.js')).conformance(dir, cmd.opts(), output(cmd)));

  p.command('doctor')
    .description('report the native addon, TensorRT headers and library, and CUDA')
    .option('--smoke', 'also run the whole path: build tiny-redrafter for ONNX (and TensorRT where usable), generate from each build, compare tokens with the interpreter (exit 5 on a mismatch)')
    .addHelpText('after', `
Examples:
  redraft doctor
  redraft doctor --json
  redraft doctor --smoke          # on a GPU machine: the one command that checks build + run end to end`)
    .action(async (o: { smoke?: boolean }, cmd: Command) => (o.smoke ? (await import('./commands/smoke.js')).smoke(output(cmd)) : (await import('./commands/doctor.js')).doctor(output(cmd))));

  return p;
}

/**
 * Flags that contradict each other are a usage error, not a silent choice of one of them.
 * `targetFrom`: where o.target came from when not --target (build.ts checks the target of
 * --config build.json against the flags again, once the file is read).
 */
export function checkBuildFlags<T extends { dryRun?: boolean; target?: string; workspace?: string; optLevel?: string; timingCache?: string }>(o: T, targetFrom?: string): T {
  const tflag = (t: string) => targetFrom ?? `--target ${t}`;
  if (o.dryRun && o.target !== undefined && o.target !== 'plan')
    throw new UsageError(`--dry-run builds a TensorRT plan, but ${tflag(o.target)} asks for ${o.target === 'auto' ? 'TensorRT or ONNX' : o.target === 'trt' ? 'a TensorRT engine' : 'an ONNX model'}`, 'pass one of them: --dry-run (or --target plan) for the plan, --target alone for an engine');
  const target = o.dryRun ? 'plan' : o.target;
  const trtOnly = ([['--workspace', o.workspace], ['--opt-level', o.optLevel], ['--timing-cache', o.timingCache]] as const).filter(([, v]) => v !== undefined).map(([f]) => f);
  if (trtOnly.length && (target === 'onnx' || target === 'plan'))
    throw new UsageError(`${trtOnly.join(', ')} ${trtOnly.length > 1 ? 'are' : 'is'} for TensorRT engine builds, not ${o.dryRun ? '--dry-run' : tflag(String(target))}`, `drop ${trtOnly.join(', ')}, or build with --target trt`);
  return o;
}

function checkInspectFlags<T extends { graph?: string; model?: string; drafter?: string }>(o: T): T {
  if (o.graph && (o.model || o.drafter)) throw new UsageError('--graph and --model/--drafter name two graphs; pass one of them');
  return o;
}

/** Runs the CLI and returns the exit code (the launcher sets process.exitCode). */
export async function main(argv: string[]): Promise<number> {
  // Read from argv, not from parsed options: parsing itself may be what failed.
  const args = argv.slice(2);
  const json = args.includes('--json');
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => () => {
    // Once a command's outputs are renamed into place the earlier ones are gone: 130/143 would
    // promise otherwise, so it finishes (exit 0) and says so. A second signal still ends it.
    const done = committedOutputs();
    if (done) {
      process.stderr.write(`\nredraft: ${sig} arrived after the ${done} was committed (its files are complete and replaced the earlier ones); finishing, exit 0\n`);
      process.once(sig, () => process.exit(ExitCode.ok));
      return;
    }
    cleanupTemporaries();
    const message = `interrupted (${sig}); temporary files removed, existing outputs untouched`;
    process.stderr.write(`\nredraft: ${message}\n`);
    const code = sig === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated;
    failure(json, code, 'Interrupted', message);
    process.exit(code);
  };
  process.once('SIGINT', onSignal('SIGINT'));
  process.once('SIGTERM', onSignal('SIGTERM'));
  if (args.includes('--verbose')) process.env.REDRAFT_VERBOSE = '1'; // read by builders/onnx when ONNX Runtime starts
  // chalk does not read NO_COLOR (https://no-color.org) on a terminal; honour it here.
  if (process.env.NO_COLOR) chalk.level = 0;
  // A reader that stops early (`| head`) closes the pipe: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(ExitCode.ok);
    throw e;
  });
  const prog = program();
  const commands = prog.commands.map((c) => c.name());
  // Commander answers a bare `redraft` or `redraft help bogus` with help and exit 0; both are mistakes.
  const first = args.find((a) => !a.startsWith('-'));
  const helpFor = first === 'help' ? args[args.indexOf(first) + 1] : undefined;
  const asksHelp = args.some((a) => ['-h', '--help', '-V', '--version'].includes(a));
  if (!asksHelp && (!first || (helpFor !== undefined && !commands.includes(helpFor)))) {
    const why = first ? `unknown command '${helpFor}'` : 'no command given';
    prog.outputHelp({ error: true });
    process.stderr.write(`${chalk.red('error')} ${why}\n`);
    return failure(json, ExitCode.usage, 'UsageError', `${why}; commands: ${commands.join(', ')}`);
  }
  try {
    await prog.parseAsync(argv);
    return (process.exitCode as number | undefined) ?? ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
      // commander already printed the message on stderr
      return failure(json, ExitCode.usage, 'UsageError', e.message.replace(/^error: /, ''));
    }
    cleanupTemporaries();
    if (e instanceof RedraftError) {
      process.stderr.write(`${chalk.red('error')} ${e.message}\n`);
      return failure(json, e.exitCode, e.name, e.message.split('\n  fix: ')[0]!, e.hint);
    }
    process.stderr.write(`${chalk.red('internal error')} ${(e as Error)?.stack ?? String(e)}\n  please report this with the command you ran\n`);
    return failure(json, ExitCode.internal, 'InternalError', String((e as Error)?.message ?? e));
  }
}

/** With --json a failure is still exactly one document on stdout, so CI can parse every run. */
function failure(json: boolean, exitCode: number, kind: string, message: string, hint?: string): number {
  if (json && !Output.resultWritten) process.stdout.write(JSON.stringify({ ok: false, exitCode, error: { kind, message, ...(hint ? { hint } : {}) } }, null, 2) + '\n');
  return exitCode;
}
