/**
 * `redraft build` over what is already in --out, as a hostile user leaves it: damaged outputs
 * are rebuilt, not "up to date"; a damaged config.json has a way out that build accepts; a
 * signal after the commit does not turn a finished build into exit 130; --json interrupts
 * still print one document; a build.json target meets the flag-conflict check.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-rebuild-'));
const files = (dir: string) => fs.readdirSync(dir).sort();

function redraft(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const BUILD = ['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--max-seq', '64'];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('damaged outputs are rebuilt, not up to date', () => {
  it('a truncated or edited model.onnx (same size) is rebuilt; the record holds each file\'s size and sha256', () => {
    const good = tmp();
    expect(redraft([...BUILD, '--out', good, '-q']).code).toBe(0);
    const bytes = fs.readFileSync(path.join(good, 'model.onnx'));
    const rec = JSON.parse(fs.readFileSync(path.join(good, 'config.json'), 'utf8'));
    expect(rec.fileDigests['model.onnx'].bytes).toBe(bytes.length);
    expect(rec.fileDigests['model.onnx'].sha256).toMatch(/^[0-9a-f]{64}$/);

    const k = tmp();
    fs.cpSync(good, k, { recursive: true });
    fs.truncateSync(path.join(k, 'model.onnx'), 5000);
    const r = redraft([...BUILD, '--out', k]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^built onnx/);
    expect(r.stderr).toMatch(/model\.onnx is 5000 bytes, the build wrote \d+: rebuilding/);
    expect(fs.readFileSync(path.join(k, 'model.onnx')).equals(bytes)).toBe(true);

    const flipped = Buffer.from(bytes);
    flipped[1000] ^= 0xff;
    fs.writeFileSync(path.join(k, 'model.onnx'), flipped);
    const e = redraft([...BUILD, '--out', k]);
    expect(e.stdout).toMatch(/^built onnx/);
    expect(e.stderr).toMatch(/model\.onnx is not the file the build wrote/);
    expect(fs.readFileSync(path.join(k, 'model.onnx')).equals(bytes)).toBe(true);
    expect(redraft([...BUILD, '--out', k]).stdout).toMatch(/is up to date/); // intact again
  });

  it('a --tp build with a truncated rank file is rebuilt', () => {
    const t = tmp();
    const tp = ['build', '--model', 'tiny-redrafter', '--target', 'onnx', '--tp', '2', '--out', t];
    expect(redraft([...tp, '-q']).code).toBe(0);
    const bytes = fs.readFileSync(path.join(t, 'rank1.onnx'));
    fs.truncateSync(path.join(t, 'rank1.onnx'), 100);
    const r = redraft(tp);
    expect(r.stdout).toMatch(/^built onnx/);
    expect(r.stderr).toMatch(/rank1\.onnx is 100 bytes/);
    expect(fs.readFileSync(path.join(t, 'rank1.onnx')).equals(bytes)).toBe(true);
  });
});

describe('a damaged config.json', () => {
  it('in a directory of build outputs: generate says rebuild with --force, and build --force does', () => {
    const k = tmp();
    expect(redraft([...BUILD, '--out', k, '-q']).code).toBe(0);
    fs.writeFileSync(path.join(k, 'config.json'), '{\n');
    const g = redraft(['generate', '--engine', k, '--prompt-ids', '5,6,7']);
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(/not valid JSON[\s\S]*fix: rebuild it: redraft build --model <the model> \.\.\. --out .* --force/);
    const plain = redraft([...BUILD, '--out', k]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/not valid JSON[\s\S]*fix: rebuild it: .*--force/);
    const forced = redraft([...BUILD, '--out', k, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(files(k)).toEqual(['config.json', 'model.onnx']);
    expect(redraft(['generate', '--engine', k, '--prompt-ids', '5,6,7', '--max-length', '8', '-q']).code).toBe(0);
  });

  it('a redraft record missing its fields is replaced with --force', () => {
    const k = tmp();
    expect(redraft([...BUILD, '--out', k, '-q']).code).toBe(0);
    fs.writeFileSync(path.join(k, 'config.json'), JSON.stringify({ redraft: { version: '0.1.0' } }));
    expect(redraft([...BUILD, '--out', k]).stderr).toMatch(/damaged redraft build record[\s\S]*fix: pass --force/);
    expect(redraft([...BUILD, '--out', k, '--force']).code).toBe(0);
  });

  it('beside files redraft did not write: nothing is replaced, and both commands say to delete it or build elsewhere', () => {
    const m = tmp();
    fs.writeFileSync(path.join(m, 'config.json'), '{');
    fs.writeFileSync(path.join(m, 'model.onnx'), 'mine');
    fs.writeFileSync(path.join(m, 'notes.txt'), 'mine');
    const fix = /fix: it also holds notes\.txt, which redraft did not write, so redraft will not replace it: delete .*config\.json \(or the directory\) yourself, or build into another --out/;
    const g = redraft(['generate', '--engine', m, '--prompt-ids', '5,6,7']);
    expect([g.code, g.stderr]).toEqual([2, expect.stringMatching(fix)]);
    const b = redraft([...BUILD, '--out', m, '--force']);
    expect([b.code, b.stderr]).toEqual([2, expect.stringMatching(fix)]);
    expect(fs.readFileSync(path.join(m, 'model.onnx'), 'utf8')).toBe('mine');
    expect(fs.readFileSync(path.join(m, 'config.json'), 'utf8')).toBe('{');
  });
});

describe('signals', () => {
  it('a SIGINT that lands after the outputs are committed does not make the build exit 130', async () => {
    const out = tmp();
    expect(redraft([...BUILD, '--out', out, '-q']).code).toBe(0);
    const ino = fs.statSync(path.join(out, 'config.json')).ino;
    // stdout is a FIFO filled to the brim: the build commits its files, then waits in its first
    // stdout write (the result) until the test reads, so the signal surely lands after the commit.
    const fifo = path.join(tmp(), 'stdout');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wfd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    const fill = Buffer.alloc(4096, 0x2e);
    for (;;) {
      try {
        fs.writeSync(wfd, fill);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw e;
      }
    }
    const child = spawn(process.execPath, [CLI, ...BUILD, '--out', out, '--force', '-q'], { cwd: ROOT, stdio: ['ignore', wfd, 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    fs.closeSync(wfd);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const t0 = Date.now();
    while (fs.statSync(path.join(out, 'config.json')).ino === ino || files(out).some((f) => f.includes('.tmp-'))) {
      expect(Date.now() - t0).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    let stdout = '';
    let done = false;
    void exited.then(() => (done = true));
    const chunk = Buffer.alloc(1 << 16);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(rfd, chunk, 0, chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        if (done) break;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (n === 0) break;
      stdout += chunk.subarray(0, n).toString('utf8');
    }
    fs.closeSync(rfd);
    const code = await exited;
    expect(stdout).toMatch(/built onnx for tiny-redrafter/);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/SIGINT arrived after the onnx build in .* was committed .*exit 0/);
    expect(files(out)).toEqual(['config.json', 'model.onnx']);
  }, 120_000);

  it('with --json an interrupt prints the error document (kind Interrupted, exit code 130)', async () => {
    const child = spawn(process.execPath, [CLI, '--json', 'generate', '--model', 'tiny-redrafter', '--prompt-ids', '5,6,7', '--max-seq', '4096', '--max-length', '4000', '-q'], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    await new Promise((r) => setTimeout(r, 2500));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const doc = JSON.parse(stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 130, error: { kind: 'Interrupted', message: expect.stringMatching(/interrupted \(SIGINT\)/) } });
  }, 60_000);
});

describe('--config build.json', () => {
  it('its target meets the flag-conflict check: "target": "plan" with --workspace is exit 2 naming the file', () => {
    const dir = tmp();
    const cfg = path.join(dir, 'build.json');
    fs.writeFileSync(cfg, JSON.stringify({ target: 'plan' }));
    const out = path.join(dir, 'out');
    const r = redraft(['build', '--model', 'tiny-redrafter', '--config', cfg, '--workspace', '100', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workspace is for TensorRT engine builds, not the target of --config .*build\.json \("target": "plan"\)/);
    expect(fs.existsSync(out)).toBe(false);
    fs.writeFileSync(cfg, JSON.stringify({ target: 'onnx' }));
    expect(redraft(['build', '--model', 'tiny-redrafter', '--config', cfg, '--dry-run', '--out', out]).stderr).toMatch(/--dry-run builds a TensorRT plan, but the target of --config/);
    expect(redraft(['build', '--model', 'tiny-redrafter', '--config', cfg, '--max-seq', '64', '--out', out, '-q']).code).toBe(0); // no conflict: builds
  });
});
