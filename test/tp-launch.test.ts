/**
 * `redraft generate --engine DIR --backend trt` as one rank of a tensor-parallel launch
 * (REDRAFT_TP_SIZE / REDRAFT_TP_RANK / REDRAFT_NCCL_ID_FILE, builders/trt/tp.ts), through the
 * CLI on the TensorRT, CUDA-runtime and NCCL doubles: two processes of a `build --tp 2 --target
 * trt` of tiny-redrafter exchange the NCCL id, join the communicator and run their rank engines;
 * the doubles' outputs are a pattern, not the model's, so the host loop's KV-contract check then
 * refuses them (exit 4) on both ranks, as on one GPU. And the refusals: no launch environment,
 * another size, a rank that was not built or whose file is gone, a stale rank, another backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDouble, runCli, type DoubleBuild } from './trt-double-util.js';

let b: DoubleBuild;
let root: string;
let dir: string;
const lib = (name: string) => path.join(b.dir, 'Release', name);
const envOf = () => ({ REDRAFT_NATIVE_ADDON: b.addonPath, TENSORRT_LIB: b.lib, CUDA_LIB: lib('libredraft_cudart_double.so'), NCCL_LIB: lib('libredraft_nccl_double.so') });
const launch = (size: number, rank: number, idFile: string) => ({ ...envOf(), REDRAFT_TP_SIZE: String(size), REDRAFT_TP_RANK: String(rank), REDRAFT_NCCL_ID_FILE: idFile, REDRAFT_NCCL_TIMEOUT_S: '60', CUDA_VISIBLE_DEVICES: String(rank) });
const GEN = ['--prompt-ids', '5,6,7,8;9,10', '--max-length', '14'];
const generate = (engine: string, env: Record<string, string>, more: string[] = []) => runCli(['generate', '--engine', engine, '--backend', 'trt', ...GEN, ...more], env);

beforeAll(async () => {
  b = buildDouble('v11.1');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tp-launch-'));
  dir = path.join(root, 'tp2');
  const built = await runCli(['build', '--model', 'tiny-redrafter', '--tp', '2', '--target', 'trt', '--out', dir, '--max-batch', '2', '--max-seq', '32', '-q'], envOf());
  expect(built.code, built.stderr).toBe(0);
  expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'rank0.engine', 'rank1.engine']);
}, 120_000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('generate --engine DIR --backend trt under a tensor-parallel launch (one process per rank)', () => {
  it('two rank processes exchange the NCCL id, join the communicator, run their own rank engine with their kv heads; the doubles\' pattern then breaks the KV contract (exit 4) on both', async () => {
    const idFile = path.join(root, 'nccl.id');
    // Rank 1 starts first: it waits for rank 0's id file.
    const r1 = generate(dir, launch(2, 1, idFile), ['--json']);
    const r0 = generate(dir, launch(2, 0, idFile), ['--json']);
    const ranks = await Promise.all([r0, r1]);
    expect(fs.readFileSync(idFile).byteLength, 'rank 0 wrote the 128-byte NCCL unique id').toBe(128);
    ranks.forEach((r, rank) => {
      expect(r.stderr).toMatch(new RegExp(`building rank ${rank} of 2 of tiny-redrafter`));
      expect(r.stderr, 'its own engine, on a communicator of both ranks').toMatch(new RegExp(`rank ${rank} of 2: \\S+rank${rank}\\.engine with communicator rank ${rank} of 2 \\(\\S+libredraft_nccl_double\\.so\\)`));
      expect(r.stderr).toMatch(/double: outputs are the double's pattern, not the model's/);
      // The runtime double refuses an enqueue of DistCollective layers without a communicator and
      // in-place outputs that do not share their caches' addresses: neither happened.
      expect(r.stderr, "the caches fed have the rank's kv heads (the engine's shape)").not.toMatch(/needs an NCCL communicator|must share the device memory|TensorRT run failed|profile|internal error|stale/);
      // The call ran, and the host checked what came back: the first enqueue got through.
      expect(r.stderr, `rank ${rank}: the step ran and returned the pattern as next_cache_lengths`).toMatch(/the engine broke the KV contract at step \d+: row \d+'s next_cache_lengths is \d+, the host counted \d+ tokens/);
      expect(r.code, `rank ${rank}: a contract violation is exit 4`).toBe(4);
      // --json: the error document only (no result was printed before the failure).
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exitCode: 4 });
    });
  }, 120_000);

  it('only rank 0 prints the result (with --json, tensorParallel: { rank: 0, size }); the other ranks print nothing on stdout and one line on stderr', async () => {
    // One prompt token to length 2 is the context call alone: the host loop asks no generation
    // step of the doubles, so the pattern gets through and both ranks finish.
    const short = ['--prompt-ids', '5', '--max-length', '2'];
    for (const json of [true, false]) {
      const idFile = path.join(root, `print-${json}.id`);
      const more = [...short, ...(json ? ['--json'] : [])];
      const [r0, r1] = await Promise.all([0, 1].map((rank) => runCli(['generate', '--engine', dir, '--backend', 'trt', ...more], launch(2, rank, idFile))));
      expect([r0.code, r1.code], r0.stderr + r1.stderr).toEqual([0, 0]);
      expect(r1.stdout, 'rank 1 prints nothing on stdout').toBe('');
      expect(r1.stderr).toMatch(/rank 1 of 2: 0 steps, 1 token in [\d.]+s \(rank 0 prints the result\)/);
      if (json) {
        const doc = JSON.parse(r0.stdout);
        expect(doc).toMatchObject({ ok: true, backend: 'trt', engine: dir, tensorParallel: { rank: 0, size: 2 }, steps: 0, generatedTokens: 1 });
        expect(doc.tokens).toHaveLength(1);
        expect(doc.tokens[0].slice(0, 1)).toEqual([5]);
      } else expect(r0.stdout).toMatch(/^row 0: 5 \d+\n/);
    }
  }, 120_000);

  it('without REDRAFT_TP_SIZE, --backend trt names the launch contract (exit 2); --backend interp points to the model\'s --tp simulation', async () => {
    const trt = await generate(dir, envOf());
    expect(trt.code, trt.stderr).toBe(2);
    expect(trt.stderr).toMatch(/is a --tp 2 build .*the launch contract: REDRAFT_TP_SIZE, REDRAFT_TP_RANK, REDRAFT_NCCL_ID_FILE.*REDRAFT_TP_SIZE is not set/);
    expect(trt.stderr).toMatch(/REDRAFT_TP_SIZE=2 REDRAFT_TP_RANK=<R> REDRAFT_NCCL_ID_FILE=\S+ CUDA_VISIBLE_DEVICES=\S+ redraft generate --engine \S+ --backend trt/);
    const interp = await runCli(['generate', '--engine', dir, '--backend', 'interp', ...GEN], envOf());
    expect(interp.code, interp.stderr).toBe(2);
    expect(interp.stderr).toMatch(/simulate it from the model: --model tiny-redrafter\b.* --tp 2 \(--backend interp\)/);
    // bench runs no rank engines: it says generate does.
    const bench = await runCli(['bench', '--engine', dir, '--backend', 'trt', ...GEN, '--runs', '1'], launch(2, 0, path.join(root, 'bench.id')));
    expect(bench.code, bench.stderr).toBe(2);
    expect(bench.stderr).toMatch(/only `redraft generate` runs them/);
  }, 120_000);

  it('a launch that does not fit the build is exit 2 naming why, before any communicator: another size, another backend, a rank not built, a missing or stale rank engine, a one-GPU build', async () => {
    const id = (n: string) => path.join(root, `${n}.id`);
    const size3 = await generate(dir, launch(3, 0, id('size3')));
    expect(size3.code, size3.stderr).toBe(2);
    expect(size3.stderr).toMatch(/was built for --tp 2, this process was launched as rank 0 of 3 \(REDRAFT_TP_SIZE=3\)/);
    const interp = await runCli(['generate', '--engine', dir, '--backend', 'interp', ...GEN], launch(2, 0, id('interp')));
    expect(interp.code, interp.stderr).toBe(2);
    expect(interp.stderr).toMatch(/launched as rank 0 of 2 \(REDRAFT_TP_SIZE=2\) runs rank0\.engine on --backend trt, not --backend interp/);
    const badRank = await generate(dir, launch(2, 2, id('rank2')));
    expect(badRank.code, badRank.stderr).toBe(2);
    expect(badRank.stderr).toMatch(/REDRAFT_TP_RANK=2 is not an integer in \[0, 1\]/);
    for (const n of ['size3', 'interp', 'rank2']) expect(fs.existsSync(id(n)), 'refused before the id exchange').toBe(false);

    // --rank 0 alone: rank 1 has no engine there.
    const only0 = path.join(root, 'rank0-only');
    const built = await runCli(['build', '--model', 'tiny-redrafter', '--tp', '2', '--rank', '0', '--target', 'trt', '--out', only0, '--max-batch', '2', '--max-seq', '32', '-q'], envOf());
    expect(built.code, built.stderr).toBe(0);
    const missing = await generate(only0, launch(2, 1, id('missing')));
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/holds no rank1\.engine \(built: rank 0 of 2\)/);
    expect(missing.stderr).toMatch(/redraft build --model tiny-redrafter --target trt .*--tp 2 --rank 1 --out/);
    // A rank file that is gone, and a rank whose recorded content hash is not its graph's.
    const broken = path.join(root, 'broken');
    fs.cpSync(dir, broken, { recursive: true });
    fs.rmSync(path.join(broken, 'rank1.engine'));
    const gone = await generate(broken, launch(2, 1, id('gone')));
    expect(gone.code, gone.stderr).toBe(2);
    expect(gone.stderr).toMatch(/rank1\.engine is missing \(config\.json lists rank 1 as built\)/);
    const cfgFile = path.join(broken, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    cfg.tensorParallel.ranks[0].contentHash = '0'.repeat(64);
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const stale = await generate(broken, launch(2, 0, id('stale')));
    expect(stale.code, stale.stderr).toBe(2);
    expect(stale.stderr).toMatch(/is stale: .*\(rank 0's content hash [0-9a-f]{12}, recorded 000000000000\)/);
    expect(stale.stderr).toMatch(/rebuild it: redraft build .*--tp 2 --out/);
    // A rank whose recorded I/O table is not its graph's (the one-device kv heads, say).
    const otherIo = path.join(root, 'other-io');
    fs.cpSync(dir, otherIo, { recursive: true });
    const ioCfg = JSON.parse(fs.readFileSync(path.join(otherIo, 'config.json'), 'utf8'));
    ioCfg.tensorParallel.ranks[1].io.inputs.find((x: { name: string }) => x.name === 'k_cache_0').shape[1] = 2;
    fs.writeFileSync(path.join(otherIo, 'config.json'), JSON.stringify(ioCfg));
    const io = await generate(otherIo, launch(2, 1, id('io')));
    expect(io.code, io.stderr).toBe(2);
    expect(io.stderr).toMatch(/is stale: the model it was built from \(builtin:tiny-redrafter\) no longer has rank 1's I\/O \(k_cache_0 float32 \[batch, 2, capacity, 8\]/);
    for (const n of ['missing', 'gone', 'stale', 'io']) expect(fs.existsSync(id(n)), 'refused before the id exchange').toBe(false);

    // A one-GPU build under a launch environment.
    const one = path.join(root, 'one');
    const single = await runCli(['build', '--model', 'tiny-redrafter', '--target', 'trt', '--out', one, '--max-batch', '2', '--max-seq', '32', '-q'], envOf());
    expect(single.code, single.stderr).toBe(0);
    const notTp = await generate(one, launch(2, 0, id('one')));
    expect(notTp.code, notTp.stderr).toBe(2);
    expect(notTp.stderr).toMatch(/is not a tensor-parallel build .*launched as rank 0 of 2/);
  }, 120_000);

  it('a rank whose peers never start is exit 3 after REDRAFT_NCCL_TIMEOUT_S', async () => {
    const r = await generate(dir, { ...launch(2, 1, path.join(root, 'never.id')), REDRAFT_NCCL_TIMEOUT_S: '1' });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/rank 1: rank 0 wrote no NCCL unique id to \S+never\.id within 1 s/);
  }, 120_000);
});
