import { describe, expect, it } from 'vitest';
import { loadClipBpeText } from '../../../tools/lib/clip-bpe-text';
import { ClipTokenizer } from './clip-tokenizer';
import { cleanText } from './text-clean';
import { deriveClipVocabFiles } from './vocab-from-bpe';

const { vocabJson, mergesTxt } = deriveClipVocabFiles(loadClipBpeText());
const vocab = JSON.parse(vocabJson) as Record<string, number>;
const tok = ClipTokenizer.fromFiles(vocabJson, mergesTxt);
const BOS = 49406, EOS = 49407;
const idsOf = (...tokens: string[]): number[] => tokens.map((t) => {
  const id = vocab[t];
  if (id === undefined) throw new Error(`not in vocab: ${t}`);
  return id;
});

describe('ClipTokenizer', () => {
  it('encodes whole words as single </w> tokens, unpadded by default', () => {
    expect(tok.encode('A photo of a CAT')).toEqual([BOS, ...idsOf('a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>'), EOS]);
  });

  it('BPE-encodes UTF-8 bytes (é = bytes C3 A9 = symbols "Ã©")', () => {
    expect(tok.encode('café')).toEqual([BOS, ...idsOf('cafÃ©</w>'), EOS]);
    expect(tok.encode('Café')).toEqual(tok.encode('Cafe\u0301')); // NFC
  });

  it('splits words into merges and punctuation runs', () => {
    const t = tok.tokenize("it's pneumonoultramicroscopic!!");
    // Every pre-token (regex match) ends in </w>; long words split into several merges.
    expect(t.slice(0, 2)).toEqual(['it</w>', "'s</w>"]);
    expect(t.at(-1)).toBe('!!</w>');
    expect(t.join('').replaceAll('</w>', ' ').trim()).toBe("it 's pneumonoultramicroscopic !!");
    expect(t.length).toBeGreaterThan(4);
  });

  it('truncates to [BOS] + 75 + [EOS] and pads to 77 with EOS (or the given id)', () => {
    const long = Array.from({ length: 100 }, () => 'cat').join(' ');
    const ids = tok.encode(long);
    expect(ids.length).toBe(77);
    expect(ids[0]).toBe(BOS);
    expect(ids[76]).toBe(EOS);
    const short = tok.encode('a cat', { padding: true });
    expect(short).toEqual([BOS, ...idsOf('a</w>', 'cat</w>'), EOS, ...Array<number>(73).fill(EOS)]);
    expect(tok.encode('a cat', { padding: 'max_length', padId: 0 }).slice(4)).toEqual(Array<number>(73).fill(0));
    expect(tok.encode('', { padding: true, maxLength: 5 })).toEqual([BOS, EOS, EOS, EOS, EOS]);
  });

  it('maps literal special tokens to their ids', () => {
    expect(tok.encode('a <|endoftext|> b')).toEqual([BOS, ...idsOf('a</w>'), EOS, ...idsOf('b</w>'), EOS]);
  });

  it('openclip mode: unescapes HTML twice (even next to "<") and pads with 0', () => {
    const oc = ClipTokenizer.fromFiles(vocabJson, mergesTxt, { variant: 'openclip' });
    expect(oc.padId).toBe(0);
    expect(cleanText('1 &amp;lt; 2 < 3', 'openclip')).toBe('1 < 2 < 3');
    expect(cleanText('1 &amp;lt; 2 < 3', 'ftfy')).toBe('1 &amp;lt; 2 < 3');
    expect(cleanText('1 &amp;lt; 2', 'ftfy')).toBe('1 < 2'); // ftfy repeats until stable
    const ids = oc.encode('a cat', { padding: true });
    expect(ids.length).toBe(77);
    expect(ids.slice(0, 4)).toEqual(tok.encode('a cat'));
    expect(ids.slice(4).every((i) => i === 0)).toBe(true);
  });

  it('decodes back to the cleaned text', () => {
    const text = 'a red fox, sleeping in the snow — watercolor 🦊 café';
    expect(tok.decode(tok.encode(text), { skipSpecialTokens: true })).toBe('a red fox , sleeping in the snow — watercolor 🦊 café');
    expect(tok.decode([BOS, ...idsOf('cat</w>'), EOS])).toBe('<|startoftext|>cat <|endoftext|>');
  });

  it('encodes a prompt in well under 1 ms once loaded', () => {
    const prompts = Array.from({ length: 200 }, (_, i) =>
      `A highly detailed matte painting of castle number ${i} at sunset, trending on artstation, 4k`);
    prompts.forEach((p) => tok.encode(p)); // warm the BPE cache
    const t0 = performance.now();
    for (const p of prompts) tok.encode(p);
    expect((performance.now() - t0) / prompts.length).toBeLessThan(1);
  });
});
