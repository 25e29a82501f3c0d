/**
 * CLIP's byte-level BPE tokenizer with SD1.5's behaviour (transformers CLIPTokenizer, openai/CLIP
 * simple_tokenizer): clean-up (see text-clean.ts), the CLIP pre-tokenizer regex, UTF-8 bytes → GPT-2 byte
 * symbols, BPE with `</w>` word ends, then `[BOS] + content + [EOS]` truncated to maxLength (77) and optionally
 * padded. Pure TS, no Node APIs: the files' contents are passed in.
 */
import { BytePairEncoder } from './bpe';
import { BYTE_TO_SYMBOL, SYMBOL_TO_BYTE } from './byte-unicode';
import { pyStrip, WHITE_SPACE } from './python-text';
import { cleanText, type CleanVariant } from './text-clean';
import { CLIP_NUM_MERGES, END_OF_TEXT, START_OF_TEXT } from './vocab-from-bpe';

export interface ClipTokenizerOptions {
  /** Reference behaviour of the text clean-up; default 'ftfy' (SD1.5 as the IPGO notebook ran it). */
  variant?: CleanVariant;
  /** Id used by `encode({ padding: true })` when not given there; default: EOS (SD1.5), 0 for 'openclip'. */
  padId?: number;
  /** Context length; default 77. */
  maxLength?: number;
}

export interface EncodeOptions {
  /** Pad to maxLength. false (default) returns the true length L = content + 2 (what IPGO needs). */
  padding?: boolean | 'max_length';
  maxLength?: number;
  padId?: number;
}

const SPECIAL_SPLIT = /(<\|startoftext\|>|<\|endoftext\|>)/;
const PRE_TOKEN = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${WHITE_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);
const UTF8 = new TextEncoder();

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
  readonly variant: CleanVariant;
  private readonly decoder: string[] = [];
  private readonly bpe: BytePairEncoder;

  constructor(private readonly vocab: ReadonlyMap<string, number>, merges: readonly string[],
    opts: ClipTokenizerOptions = {}) {
    this.bosId = this.idOf(START_OF_TEXT);
    this.eosId = this.idOf(END_OF_TEXT);
    this.variant = opts.variant ?? 'ftfy';
    this.padId = opts.padId ?? (this.variant === 'openclip' ? 0 : this.eosId);
    this.maxLength = opts.maxLength ?? 77;
    for (const [tok, id] of vocab) this.decoder[id] = tok;
    this.bpe = new BytePairEncoder(merges);
  }

  /** From the contents of a model folder's `tokenizer/vocab.json` and `tokenizer/merges.txt`. */
  static fromFiles(vocabJsonText: string, mergesText: string, opts?: ClipTokenizerOptions): ClipTokenizer {
    const parsed = JSON.parse(vocabJsonText) as Record<string, number>;
    const vocab = new Map<string, number>();
    for (const token in parsed) vocab.set(token, parsed[token]!);
    // transformers: `merges.strip().split("\n")[1 : 49152 - 256 - 2 + 1]` (line 0 is the "#version" header).
    const merges = mergesText.trim().split('\n').slice(1, CLIP_NUM_MERGES + 1);
    return new ClipTokenizer(vocab, merges, opts);
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  /** BPE tokens of the text, without BOS/EOS and without truncation. */
  tokenize(text: string): string[] {
    if (this.variant === 'openclip') return this.tokenizeClean(cleanText(text, 'openclip'));
    // transformers splits out the special tokens before cleaning, then cleans each piece separately.
    return text.split(SPECIAL_SPLIT).flatMap((piece, i) =>
      i % 2 === 1 ? [piece] : piece === '' ? [] : this.tokenizeClean(cleanText(piece, this.variant)));
  }

  /** Content ids (no BOS/EOS, untruncated). */
  encodeContent(text: string): number[] {
    return this.tokenize(text).map((t) => this.vocab.get(t) ?? this.eosId);
  }

  /** `[BOS] + content[:maxLength − 2] + [EOS]`, optionally padded to maxLength. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const maxLength = opts.maxLength ?? this.maxLength;
    const content = this.encodeContent(text).slice(0, Math.max(0, maxLength - 2));
    const ids = [this.bosId, ...content, this.eosId];
    if (opts.padding) {
      const pad = opts.padId ?? this.padId;
      while (ids.length < maxLength) ids.push(pad);
    }
    return ids;
  }

  /** Text of the ids (transformers' decode): `</w>` → ' ', bytes → UTF-8 (invalid → U+FFFD), trimmed. */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    const special = new Set([this.bosId, this.eosId, this.padId]);
    const tokens = ids.filter((id) => !(opts.skipSpecialTokens && special.has(id))).map((id) => this.decoder[id] ?? '');
    const bytes = [...tokens.join('')].map((c) => SYMBOL_TO_BYTE.get(c) ?? 0x3f);
    return pyStrip(new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array(bytes)).replaceAll('</w>', ' '));
  }

  private tokenizeClean(clean: string): string[] {
    const out: string[] = [];
    for (const [word] of clean.matchAll(PRE_TOKEN)) {
      if (this.vocab.has(word) && (word === START_OF_TEXT || word === END_OF_TEXT)) {
        out.push(word);
        continue;
      }
      let symbols = '';
      for (const b of UTF8.encode(word)) symbols += BYTE_TO_SYMBOL[b];
      out.push(...this.bpe.encode(symbols));
    }
    return out;
  }

  private idOf(token: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new Error(`tokenizer vocabulary lacks ${token}`);
    return id;
  }
}
