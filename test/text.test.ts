/**
 * Text in, text out: tokenizer.json through @huggingface/tokenizers, chat templates through
 * @huggingface/jinja, generation_config.json's defaults, and `redraft generate --prompt /
 * --prompt-file / --chat` end to end on the qwen2 family fixture (a tiny Metaspace BPE
 * tokenizer.json written in the tokenizers JSON format, 32 tokens as the model's vocabulary).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { chatTemplateOf, encodePrompts, loadTokenizer, readGenerationConfig, renderChat, TextStream } from '../builders/text/index.js';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'redraft.js');
const FAM = path.join(ROOT, 'test', 'fixtures', 'families');
const QWEN = path.join(FAM, 'qwen2');
const DRAFTER = path.join(FAM, 'qwen2-drafter');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-text-'));

function redraft(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const gen = (...args: string[]) => redraft(['generate', '--model', QWEN, '--drafter', DRAFTER, ...args]);
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as { ok: boolean; tokens: number[][]; text: string[]; prompts: string[]; mode: string };

/** A copy of the qwen2 fixture with some files replaced (or removed with null). */
function variant(files: Record<string, unknown>): string {
  const d = tmp();
  for (const f of fs.readdirSync(QWEN)) fs.copyFileSync(path.join(QWEN, f), path.join(d, f));
  for (const [f, v] of Object.entries(files)) v === null ? fs.rmSync(path.join(d, f)) : fs.writeFileSync(path.join(d, f), typeof v === 'string' ? v : JSON.stringify(v));
  return d;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, '.build', 'bin', 'cli.js'))) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
});

describe('tokenizer.json', () => {
  const tok = loadTokenizer(QWEN);
  it('encodes with the BPE merges and decodes back', () => {
    // ▁hello ▁the ▁c at: merges applied in rank order; the Metaspace pre-tokenizer marks word starts.
    expect(tok.encode('hello the cat')).toEqual([25, 27, 29, 28]);
    expect(tok.decode([25, 27, 29, 28])).toBe('hello the cat');
    expect(tok.encode('hello world')).toEqual([25, 0, 9, 30, 7, 11]); // id 0 ("▁") is an ordinary token
  });
  it('special tokens split out and are skipped when decoding by default', () => {
    const ids = tok.encode('<|im_start|>user\nhello<|im_end|>', false);
    expect(ids[0]).toBe(3);
    expect(ids[ids.length - 1]).toBe(4);
    expect(tok.decode(ids)).toBe('user\nhello');
    expect(tok.decode(ids, false)).toBe('<|im_start|>user\nhello<|im_end|>');
  });
  it('a directory without tokenizer.json is a model error naming the fix', () => {
    expect(() => loadTokenizer(path.join(FAM, 'llama3'))).toThrow(/has no tokenizer.json[^]*--prompt-ids/);
  });
  it('streamed text equals the decoded whole', () => {
    const ids = tok.encode('hello the cat hello world');
    const s = new TextStream(tok);
    let out = '';
    for (let i = 1; i <= ids.length; i++) out += s.push(ids.slice(0, i), i === ids.length);
    expect(out).toBe(tok.decode(ids));
  });
});

/** A byte-level BPE tokenizer.json as Llama 3 and Qwen ship (256 byte symbols, a few merges, a BOS post-processor). */
function byteLevelDir(): string {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bytes.includes(b)) { bytes.push(b); chars.push(String.fromCodePoint(256 + n++)); }
  const sym = new Map(bytes.map((b, i) => [b, chars[i]!]));
  const vocab: Record<string, number> = {};
  [...Array(256).keys()].forEach((b) => (vocab[sym.get(b)!] = b));
  const enc = (t: string) => [...Buffer.from(t, 'utf8')].map((b) => sym.get(b)!).join('');
  const merges = [[enc('h'), enc('é')], [enc('hé'), enc('l')]];
  merges.forEach(([a, b], i) => (vocab[a! + b!] = 256 + i));
  // é is two bytes: merge them first so the pieces below are ranked.
  const e2 = enc('é');
  merges.unshift([e2[0]!, e2[1]!]);
  vocab[e2] = 258;
  const d = tmp();
  fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 259, content: '<|begin_of_text|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [259], tokens: ['<|begin_of_text|>'] } } },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  }));
  fs.writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>' }));
  return d;
}

describe('byte-level tokenizer.json (Llama 3 / Qwen style)', () => {
  const tok = loadTokenizer(byteLevelDir());
  it('the post-processor adds the BOS for plain text, not when asked not to', () => {
    const ids = tok.encode('hél!');
    expect(ids[0]).toBe(259);
    expect(tok.encode('hél!', false)).toEqual(ids.slice(1));
    expect(tok.decode(ids)).toBe('hél!');
  });
  it('streaming holds back a token that ends inside a UTF-8 character', () => {
    const ids = tok.encode('aé€b', false); // é and € are two and three bytes, one byte token each here
    expect(ids.length).toBeGreaterThan(4);
    const s = new TextStream(tok);
    const parts = ids.map((_, i) => s.push(ids.slice(0, i + 1), i === ids.length - 1));
    expect(parts.join('')).toBe('aé€b');
    expect(parts.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });
});

describe('chat template', () => {
  const tok = loadTokenizer(QWEN);
  it('renders the template of tokenizer_config.json with the assistant turn opened', () => {
    const t = chatTemplateOf(QWEN, tok.config);
    expect(renderChat(t, tok.config, [{ role: 'system', content: 'the cat' }, { role: 'user', content: 'hello' }])).toBe(
      '<|im_start|>system\nthe cat<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
    );
  });
  it('chat_template.jinja wins over tokenizer_config.json, and raise_exception is a model error', () => {
    const d = variant({ 'chat_template.jinja': "{{ raise_exception('roles must alternate') }}" });
    expect(() => encodePrompts(d, loadTokenizer(d), ['hello'], { chat: true })).toThrow(/roles must alternate/);
  });
  it('chat_template.json, strftime_now and bos_token as transformers passes them', () => {
    const d = variant({ 'chat_template.json': { chat_template: "{{ bos_token }}{{ strftime_now('%d %b %Y') }}|{{ messages[0]['content'] }}" } });
    const cfg = { ...loadTokenizer(d).config, bos_token: { content: '<s>', special: true } };
    const now = new Date();
    const date = `${String(now.getDate()).padStart(2, '0')} ${now.toLocaleString('en-US', { month: 'short' })} ${now.getFullYear()}`;
    expect(renderChat(chatTemplateOf(d, cfg), cfg, [{ role: 'user', content: 'hi' }])).toBe(`<s>${date}|hi`);
  });
  it('no template: a model error', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(QWEN, 'tokenizer_config.json'), 'utf8'));
    delete cfg.chat_template;
    const d = variant({ 'tokenizer_config.json': cfg });
    expect(() => chatTemplateOf(d, cfg)).toThrow(/no chat template/);
  });
});

describe('generation_config.json', () => {
  it('eos ids, max_new_tokens and sampling defaults', () => {
    expect(readGenerationConfig(QWEN, 32)).toMatchObject({ eosTokenIds: [4, 2], maxNewTokens: 6, doSample: false });
    const d = variant({ 'generation_config.json': { eos_token_id: 7, max_length: 30, do_sample: true, temperature: 0.7, top_p: 0.8 } });
    expect(readGenerationConfig(d, 32)).toMatchObject({ eosTokenIds: [7], maxLength: 30, doSample: true, temperature: 0.7, ignored: ['top_p=0.8'] });
    const bad = variant({ 'generation_config.json': { eos_token_id: 99 } });
    expect(() => readGenerationConfig(bad, 32)).toThrow(/"eos_token_id" must be an id or a list of ids in \[0, 32\)/);
  });
});


describe('redraft generate with text', () => {
  const tok = loadTokenizer(QWEN);
  it('--prompt: decoded text in --json next to the ids; greedy ReDrafter equals greedy decoding', () => {
    const r = gen('--prompt', 'hello the cat', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = json(r);
    expect(j.tokens[0].slice(0, 4)).toEqual([25, 27, 29, 28]);
    // generation_config.json: max_new_tokens 6 (unless an EOS, <|im_end|> or <|endoftext|>, came first).
    const generated = j.tokens[0].slice(4);
    expect(generated.length === 6 || [2, 4].includes(generated[generated.length - 1])).toBe(true);
    expect(j.text).toEqual([tok.decode(generated)]);
    const ar = json(gen('--prompt', 'hello the cat', '--json', '--autoregressive'));
    expect(ar.tokens).toEqual(j.tokens);
    const onnx = json(gen('--prompt', 'hello the cat', '--json', '--backend', 'onnx'));
    expect(onnx.text).toEqual(j.text);
  });
  it('text mode prints (streams) the decoded text on stdout and the numbers on stderr', () => {
    const j = json(gen('--prompt', 'hello the cat', '--max-new-tokens', '9', '--json'));
    const r = gen('--prompt', 'hello the cat', '--max-new-tokens', '9');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${j.text[0]}\n`);
    expect(r.stderr).toMatch(/steps, mean accepted tokens per step/);
  });
  it('--prompt-file: one prompt a line, one batch row each', () => {
    const f = path.join(tmp(), 'prompts.txt');
    fs.writeFileSync(f, 'hello the cat\n\nhello world\n');
    const j = json(gen('--prompt-file', f, '--json'));
    expect(j.tokens.map((t) => t.slice(0, 6))).toEqual([[25, 27, 29, 28, ...j.tokens[0].slice(4, 6)], [25, 0, 9, 30, 7, 11]]);
    expect(j.text).toHaveLength(2);
    const r = gen('--prompt-file', f);
    expect(r.stdout).toBe(`[0] ${j.text[0]}\n[1] ${j.text[1]}\n`);
  });
  it('--chat renders the chat template (and --system)', () => {
    const j = json(gen('--prompt', 'hello', '--chat', '--system', 'the cat', '--json'));
    expect(j.prompts).toEqual(['<|im_start|>system\nthe cat<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n']);
    const ids = tok.encode(j.prompts[0], false);
    expect(j.tokens[0].slice(0, ids.length)).toEqual(ids);
  });
  it('generation_config.json do_sample: greedy by default (lossless), sampling at its temperature with --sample', () => {
    const d = variant({ 'generation_config.json': { eos_token_id: [4, 2], max_new_tokens: 4, do_sample: true, temperature: 0.7 } });
    const run = (...a: string[]) => redraft(['generate', '--model', d, '--drafter', DRAFTER, '--prompt', 'hello', '--json', ...a]);
    const dflt = run();
    expect(json(dflt).mode).toBe('redrafter');
    expect(json(run('--sample')).mode).toBe('redrafter-sampling');
    expect(json(run('--greedy')).mode).toBe('redrafter');
    expect(run('--sample', '--greedy').code).toBe(2);
  });
  it('a prompt holding the pad id (the last vocabulary id here: no pad_token_id) is an ordinary prompt', () => {
    const pad = gen('--prompt', 'hello<|reserved_0|>', '--json');
    expect(pad.code, pad.stderr).toBe(0);
    expect(json(pad).tokens[0]).toContain(31);
    const ids = gen('--prompt-ids', '0,0,5,31', '--json');
    expect(ids.code, ids.stderr).toBe(0);
    expect(json(ids).tokens[0].slice(0, 4)).toEqual([0, 0, 5, 31]);
  });
  it('refusals: no tokenizer, contradicting flags', () => {
    const none = redraft(['generate', '--model', path.join(FAM, 'llama3'), '--drafter', path.join(FAM, 'llama3-drafter'), '--prompt', 'hi']);
    expect(none.code).toBe(4);
    expect(none.stderr).toMatch(/has no tokenizer.json/);
    // A built-in model has no directory to copy a tokenizer into: the fix names what works.
    const builtin = redraft(['generate', '--model', 'tiny-redrafter', '--prompt', 'abc']);
    expect([builtin.code, builtin.stderr]).toEqual([2, expect.stringMatching(/the built-in model 'tiny-redrafter' does not have[\s\S]*fix: pass token ids with --prompt-ids, or use a model directory with tokenizer.json/)]);
    // --seed seeds sampling only: with greedy decoding it is refused, as --greedy with --temperature is.
    const seed = gen('--prompt-ids', '5', '--seed', '1');
    expect([seed.code, seed.stderr]).toEqual([2, expect.stringMatching(/--seed seeds sampling, but this run decodes greedily[\s\S]*fix: pass --temperature T/)]);
    expect(gen('--prompt', 'hi', '--prompt-ids', '5').code).toBe(2);
    expect(gen().stderr).toMatch(/a prompt is required/);
    expect(gen('--prompt-ids', '5', '--chat').code).toBe(2);
  });
});
