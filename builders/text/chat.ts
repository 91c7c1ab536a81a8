/**
 * Chat prompts: the model's own chat template (`chat_template.jinja`, or `chat_template` in
 * tokenizer_config.json) rendered with Hugging Face's Jinja implementation (@huggingface/jinja),
 * with the variables transformers' apply_chat_template passes (the library itself provides
 * raise_exception and strftime_now).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { ModelError } from '../../dsl/errors.js';

export interface ChatMessage {
  role: string;
  content: string;
}

/** A special token of tokenizer_config.json as text (a string, or an AddedToken object's content). */
export function specialToken(cfg: Record<string, unknown>, key: string): string | undefined {
  const v = cfg[key] as unknown;
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** The chat template of a model directory: chat_template.jinja, else tokenizer_config.json's (the "default" one of a list). */
export function chatTemplateOf(dir: string, tokenizerConfig: Record<string, unknown>): string {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  // Processors (and some older exports) keep it in chat_template.json as {"chat_template": "..."}.
  const json = path.join(dir, 'chat_template.json');
  if (fs.existsSync(json)) {
    try {
      const t = (JSON.parse(fs.readFileSync(json, 'utf8')) as { chat_template?: unknown }).chat_template;
      if (typeof t === 'string') return t;
    } catch (e) {
      throw new ModelError(`${json} is not valid JSON: ${(e as Error).message}`, 'fix or remove the file');
    }
  }
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: string; template?: string }[];
    const d = named.find((x) => x.name === 'default') ?? named[0];
    if (d && typeof d.template === 'string') return d.template;
  }
  throw new ModelError(`${dir} has no chat template (no chat_template.jinja, and tokenizer_config.json has no "chat_template")`, 'drop --chat to send the prompt as plain text, or use the instruct model\'s tokenizer files');
}

/** The rendered prompt text, ending with the assistant's turn opened (add_generation_prompt). */
export function renderChat(template: string, tokenizerConfig: Record<string, unknown>, messages: ChatMessage[], file = 'chat template'): string {
  let tpl: Template;
  try {
    tpl = new Template(template);
  } catch (e) {
    throw new ModelError(`${file} does not parse: ${(e as Error).message}`, 'fix the template, or drop --chat');
  }
  const vars: Record<string, unknown> = {
    messages,
    add_generation_prompt: true,
    bos_token: specialToken(tokenizerConfig, 'bos_token') ?? '',
    eos_token: specialToken(tokenizerConfig, 'eos_token') ?? '',
    pad_token: specialToken(tokenizerConfig, 'pad_token') ?? '',
    unk_token: specialToken(tokenizerConfig, 'unk_token') ?? '',
  };
  try {
    return tpl.render(vars);
  } catch (e) {
    // Jinja's own raise_exception (templates call it to refuse a conversation) lands here too.
    throw new ModelError(`${file} failed to render: ${(e as Error).message}`, 'check the messages the template expects (e.g. alternating user/assistant roles), or drop --chat');
  }
}

