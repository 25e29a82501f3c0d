/**
 * The text clean-up that runs before CLIP's pre-tokenizer regex. The reference implementations differ here (and
 * only here), so each is a variant:
 * - 'ftfy': transformers' slow CLIPTokenizer with ftfy installed — `whitespace_clean(ftfy.fix_text(t)).lower()`.
 *   The primary behaviour (SD1.5 / the IPGO notebook).
 * - 'openclip': openai/CLIP simple_tokenizer = open_clip (HPSv2) — ftfy, then `html.unescape` twice, strip,
 *   whitespace_clean, lower.
 * - 'no-ftfy': transformers' slow CLIPTokenizer without ftfy — BERT BasicTokenizer clean-up (drops control
 *   characters, spaces around CJK ideographs, NFC, lowercase), no HTML unescaping or quote uncurling.
 * - 'fast': CLIPTokenizerFast / tokenizer.json — NFC, whitespace runs → ' ', lowercase.
 */
import { ftfyFixText } from './ftfy-fix-text';
import { pythonHtmlUnescape } from './html-unescape';
import { pySplit, pyStrip, whitespaceClean, WHITE_SPACE } from './python-text';

export type CleanVariant = 'ftfy' | 'openclip' | 'no-ftfy' | 'fast';

/** Code points BERT's BasicTokenizer treats as CJK ideographs (it puts spaces around them). */
const CJK = /[\u4e00-\u9fff\u3400-\u4dbf\u{20000}-\u{2a6df}\u{2a700}-\u{2b73f}\u{2b740}-\u{2b81f}\u{2b820}-\u{2ceaf}\uf900-\ufaff\u{2f800}-\u{2fa1f}]/gu;

/** BERT BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize joined with ' '. */
function basicTokenizerClean(text: string): string {
  const cleaned = text
    // _clean_text: drop NUL, U+FFFD and category C* except \t \n \r; \t \n \r and Zs become ' '.
    .replace(/[\0\ufffd]|(?![\t\n\r])\p{C}/gu, '')
    .replace(/[\t\n\r\p{Zs}]/gu, ' ')
    .replace(CJK, (c) => ` ${c} `)
    .normalize('NFC');
  const tokens = pySplit(cleaned).map((t) => t.toLowerCase());
  return pySplit(tokens.join(' ')).join(' ');
}

const WHITE_SPACE_RUN = new RegExp(`[${WHITE_SPACE}]+`, 'gu');

/** The string CLIP's pre-tokenizer regex runs on, for the given reference behaviour. */
export function cleanText(text: string, variant: CleanVariant = 'ftfy'): string {
  switch (variant) {
    case 'ftfy':
      return whitespaceClean(ftfyFixText(text)).toLowerCase();
    case 'openclip':
      return whitespaceClean(pyStrip(pythonHtmlUnescape(pythonHtmlUnescape(ftfyFixText(text))))).toLowerCase();
    case 'no-ftfy':
      return basicTokenizerClean(text);
    case 'fast':
      return text.normalize('NFC').replace(WHITE_SPACE_RUN, ' ').toLowerCase();
  }
}
