/**
 * Derives CLIP's `vocab.json` and `merges.txt` from OpenAI's `bpe_simple_vocab_16e6.txt` (the merges list CLIP
 * ships), exactly as openai/CLIP's SimpleTokenizer builds its encoder, and serialises them byte-identically to
 * what transformers' `CLIPTokenizer.save_pretrained` writes (the hub's SD1.5 tokenizer files).
 *
 * vocab = 256 byte symbols (bytes_to_unicode order) + the same with `</w>` + one entry per merge (the two halves
 * joined) + `<|startoftext|>` (49406) + `<|endoftext|>` (49407).
 */
import { byteSymbolPairs } from './byte-unicode';

/** CLIP uses merges lines 1 .. 49152 − 256 − 2 of the file (line 0 is a header). */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;
export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';

export interface ClipVocab {
  /** token → id, in id order. */
  vocab: Map<string, number>;
  /** merge lines "a b", in rank order. */
  merges: string[];
}

/** Builds the vocabulary from the raw bpe_simple_vocab_16e6.txt text (header line + merges). */
export function deriveClipVocab(bpeText: string): ClipVocab {
  const lines = bpeText.split('\n');
  const merges = lines.slice(1, CLIP_NUM_MERGES + 1);
  if (merges.length !== CLIP_NUM_MERGES || merges.some((m) => m.split(' ').length !== 2)) {
    throw new Error(`bpe text: expected ${CLIP_NUM_MERGES} merge lines "a b" after the header`);
  }
  const tokens: string[] = byteSymbolPairs().map(([, s]) => s);
  tokens.push(...tokens.map((s) => `${s}</w>`));
  for (const m of merges) tokens.push(m.replace(' ', ''));
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  const vocab = new Map<string, number>();
  tokens.forEach((t, i) => vocab.set(t, i));
  if (vocab.size !== tokens.length) throw new Error('bpe text: duplicate vocabulary entries');
  return { vocab, merges };
}

/** Code-point order (Python's str ordering), not UTF-16 code-unit order. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(), y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** `json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n"` (transformers' save format). */
export function serializeVocabJson(vocab: ReadonlyMap<string, number>): string {
  if (vocab.size === 0) return '{}\n';
  const keys = [...vocab.keys()].sort(compareCodePoints);
  // JSON.stringify escapes exactly like json.dumps(ensure_ascii=False) for these strings: \" \\ \b \f \n \r \t
  // and \u00XX (lowercase hex) for other control characters; everything else is written as is.
  const body = keys.map((k) => `  ${JSON.stringify(k)}: ${vocab.get(k)}`).join(',\n');
  return `{\n${body}\n}\n`;
}

/** transformers' merges.txt: `#version: 0.2` header, then one "a b" line per merge, each ending in "\n". */
export function serializeMergesTxt(merges: readonly string[]): string {
  return `#version: 0.2\n${merges.map((m) => `${m}\n`).join('')}`;
}

/** The two tokenizer files of an SD1.5 model folder, derived from bpe_simple_vocab_16e6.txt. */
export function deriveClipVocabFiles(bpeText: string): { vocabJson: string; mergesTxt: string } {
  const { vocab, merges } = deriveClipVocab(bpeText);
  return { vocabJson: serializeVocabJson(vocab), mergesTxt: serializeMergesTxt(merges) };
}
