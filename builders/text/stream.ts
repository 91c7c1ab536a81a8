/**
 * Decoded text as tokens arrive: each call decodes the whole generated sequence and returns the
 * part not yet returned, holding back a trailing U+FFFD (a byte-level token that ends inside a
 * UTF-8 character) until the next token completes it.
 */
import type { TextTokenizer } from './tokenizer.js';

export class TextStream {
  private printed = '';
  constructor(private readonly tok: TextTokenizer) {}

  /** The new text of `ids` (the generated tokens so far, EOS excluded). */
  push(ids: readonly number[], final = false): string {
    let text = this.tok.decode(ids);
    if (!final) text = text.replace(/\uFFFD+$/, '');
    if (!text.startsWith(this.printed)) {
      // Decoding is not prefix-stable here (a cleanup rule changed earlier text): emit only what follows the common prefix.
      let i = 0;
      while (i < text.length && text[i] === this.printed[i]) i++;
      const delta = text.slice(Math.max(i, this.printed.length));
      this.printed = text;
      return delta;
    }
    const delta = text.slice(this.printed.length);
    this.printed = text;
    return delta;
  }
}
