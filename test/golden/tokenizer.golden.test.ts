/**
 * Golden 6a: the CLIP tokenizer against tokenizer.jsonl (transformers CLIPTokenizer ± ftfy, CLIPTokenizerFast,
 * openai/open_clip simple_tokenizer). One test per jsonl row; inside it every column we implement is checked
 * exactly: `ids` (primary, ftfy variant) and `ids_padded`, `length`, `truncated`, plus `ids_openclip`,
 * `ids_no_ftfy` and `ids_fast` with the matching variant. A row marked `all_variants_agree` must also give the
 * same ids in every variant. Cases are discovered from the file.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { describeGolden, fixturePath, goldenPath, readJsonl } from '../golden';
import { ClipTokenizer } from '../../src/model/tokenizer/clip-tokenizer';
import type { CleanVariant } from '../../src/model/tokenizer/text-clean';

interface TokenizerRow {
  row: number;
  source: string;
  text: string;
  ids: number[];
  ids_padded: number[];
  length: number;
  truncated: boolean;
  all_variants_agree: boolean;
  ids_no_ftfy?: number[];
  ids_fast?: number[];
  ids_openclip?: number[];
}

const jsonl = goldenPath('tokenizer.jsonl');
const vocabFile = fixturePath('tiny-sd', 'tokenizer', 'vocab.json');
const mergesFile = fixturePath('tiny-sd', 'tokenizer', 'merges.txt');

/** Secondary columns and the variant that reproduces each. */
const VARIANT_COLUMNS: Array<[keyof TokenizerRow, CleanVariant]> = [
  ['ids_openclip', 'openclip'],
  ['ids_no_ftfy', 'no-ftfy'],
  ['ids_fast', 'fast'],
];

describeGolden('tokenizer (6a, tokenizer.jsonl)', [jsonl, vocabFile, mergesFile], () => {
  const vocabJson = fs.readFileSync(vocabFile, 'utf8');
  const merges = fs.readFileSync(mergesFile, 'utf8');
  const primary = ClipTokenizer.fromFiles(vocabJson, merges);
  const variants = new Map(VARIANT_COLUMNS.map(([, v]) => [v, ClipTokenizer.fromFiles(vocabJson, merges, { variant: v })]));

  for (const r of readJsonl<TokenizerRow>(jsonl)) {
    const label = `row ${r.row} ${r.source} ${JSON.stringify(r.text).slice(0, 50)}`;
    it(label, () => {
      const ids = primary.encode(r.text);
      expect(ids).toEqual(r.ids);
      expect(ids.length).toBe(r.length);
      expect(primary.encodeContent(r.text).length > 75).toBe(r.truncated);
      expect(primary.encode(r.text, { padding: 'max_length' })).toEqual(r.ids_padded);
      for (const [column, variant] of VARIANT_COLUMNS) {
        const expected = r[column] as number[] | undefined;
        const got = variants.get(variant)!.encode(r.text);
        if (expected !== undefined) expect(got, `${column} (${variant})`).toEqual(expected);
        if (r.all_variants_agree) expect(got, `${variant} on an all-variants-agree row`).toEqual(r.ids);
      }
    });
  }
});
