/**
 * ftfy's mojibake detector (`ftfy.badness.is_bad`, ftfy 6.3.1 by Robyn Speer, Apache-2.0; ported to JS regex
 * syntax): sequences of the ~400 characters that UTF-8 mojibake is made of, in combinations that real text
 * almost never contains (a lowercase accented letter followed by a currency sign, "â€", …).
 */
import { PY_SPACE } from './python-text';
import { MOJIBAKE_CATEGORIES as CAT } from './tables.generated';

const cls = (...names: string[]): string => `[${names.map((n) => CAT[n] ?? n).join('')}]`;

const ALTERNATIVES: string[] = [
  cls('c1'),
  cls('bad', 'lower_accented', 'upper_accented', 'box', 'start_punctuation', 'end_punctuation', 'currency',
    'numeric', 'law') + cls('bad'),
  '[a-zA-Z]' + cls('lower_common', 'upper_common') + cls('bad'),
  cls('bad') + cls('lower_accented', 'upper_accented', 'box', 'start_punctuation', 'end_punctuation', 'currency',
    'numeric', 'law'),
  cls('lower_accented', 'lower_common', 'box', 'end_punctuation', 'currency', 'numeric') + cls('upper_accented'),
  cls('box', 'end_punctuation', 'currency', 'numeric') + cls('lower_accented'),
  cls('lower_accented', 'box', 'end_punctuation') + cls('currency'),
  `[${PY_SPACE}]` + cls('upper_accented') + cls('currency'),
  cls('upper_accented', 'box') + cls('numeric', 'law'),
  cls('lower_accented', 'upper_accented', 'box', 'currency', 'end_punctuation') + cls('start_punctuation') +
    cls('numeric'),
  cls('lower_accented', 'upper_accented', 'currency', 'numeric', 'box', 'law') + cls('end_punctuation') +
    cls('start_punctuation'),
  cls('currency', 'numeric', 'box') + cls('start_punctuation'),
  '[a-z]' + cls('upper_accented') + cls('start_punctuation', 'currency'),
  cls('box') + cls('kaomoji'),
  cls('lower_accented', 'upper_accented', 'currency', 'numeric', 'start_punctuation', 'end_punctuation', 'law') +
    cls('box'),
  cls('box') + cls('end_punctuation'),
  // Python's \w is Unicode-aware; JS's is ASCII-only even with the u flag.
  cls('lower_accented', 'upper_accented') + cls('start_punctuation', 'end_punctuation') + '[\\p{L}\\p{N}_]',
  // The ligature œ when not followed by an unaccented Latin letter.
  '[Œœ][^A-Za-z]',
  // Degree signs after capital letters.
  cls('upper_accented') + '°',
  // Common Windows-1252 2-character mojibake not covered above.
  '[ÂÃÎÐ]' + cls('€œŠš¢£Ÿž\\xa0\\xad®©°·»', 'start_punctuation', 'end_punctuation', '–—´'),
  '×[²³]',
  // Windows-1252 mojibake of Arabic words: four characters, because the 'common' ones are included.
  ('[ØÙ]' + cls('common', 'currency', 'bad', 'numeric', 'start_punctuation', 'ŸŠ®°µ»')).repeat(2),
  // Windows-1252 mojibake that starts 3-character sequences of some South Asian alphabets.
  'à[²µ¹¼½¾]',
  // MacRoman mojibake.
  '√[±∂†≠®™´≤≥¥µø]',
  '≈[°¢]',
  '‚Ä[ìîïòôúùû†°¢π]',
  '‚[âó][àä°ê]',
  // Windows-1251 mojibake of U+2000..: and of Latin-1 / Cyrillic (3-character sequences).
  'вЂ',
  '[ВГРС]' + cls('c1', 'bad', 'start_punctuation', 'end_punctuation', 'currency', '°µ') + '[ВГРС]',
  // Python's '.' excludes only \n.
  'ГўВЂВ[^\\n][A-Za-z ]',
  // Windows-1252 encodings of 'à' and 'á', and of \xa0 itself.
  'Ã[\\xa0¡]',
  `[a-z][${PY_SPACE}]?[ÃÂ][ ]`,
  '^[ÃÂ][ ]',
  // Â before a character, as an encoding of exactly that character.
  cls('a-z.,?!', 'end_punctuation') + 'Â' + cls(' ', 'start_punctuation', 'end_punctuation'),
  // Windows-1253 mojibake of U+2000.. and of Latin-1 / Greek.
  'β€[™\\xa0Ά\\xad®°]',
  '[ΒΓΞΟ]' + cls('c1', 'bad', 'start_punctuation', 'end_punctuation', 'currency', '°') + '[ΒΓΞΟ]',
  // Windows-1257 mojibake of U+2000...
  'ā€',
];

const BADNESS_SOURCE = ALTERNATIVES.join('|');
const BADNESS_TEST = new RegExp(BADNESS_SOURCE, 'u');
const BADNESS_ALL = new RegExp(BADNESS_SOURCE, 'gu');

/** True when the text contains a sequence that looks like mojibake. */
export function isBad(text: string): boolean {
  return BADNESS_TEST.test(text);
}

/** Number of (non-overlapping) mojibake-looking sequences. */
export function badness(text: string): number {
  return text.match(BADNESS_ALL)?.length ?? 0;
}
