/**
 * ftfy's `fix_text` with its default configuration (ftfy 6.3.1 by Robyn Speer, Apache-2.0; ported), which is
 * what transformers' CLIPTokenizer and openai/CLIP's simple_tokenizer run before BPE when ftfy is installed:
 * per line, repeat until stable: unescape HTML entities (unless the text contains '<'), fix mojibake, C1
 * controls, Latin ligatures, full-width characters, curly quotes, line breaks, lone surrogates, terminal escapes,
 * control characters, then NFC.
 */
import { fixC1Controls, fixEncoding } from './ftfy-encoding';
import { ftfyUnescapeHtml } from './html-unescape';

const LIGATURES: Readonly<Record<string, string>> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž',
  'Ǉ': 'LJ', 'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj',
  'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'gu');

/** Half-width and full-width forms (U+FF01..U+FFEF) → their NFKC form; U+3000 ideographic space → ' '. */
const WIDTH_MAP: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>([['\u3000', ' ']]);
  for (let i = 0xff01; i < 0xfff0; i++) {
    const c = String.fromCharCode(i);
    const alt = c.normalize('NFKC');
    if (alt !== c) m.set(c, alt);
  }
  return m;
})();
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

const steps: Array<(t: string) => string> = [
  fixC1Controls,
  (t) => t.replace(LIGATURE_RE, (c) => LIGATURES[c]!),
  (t) => t.replace(WIDTH_RE, (c) => WIDTH_MAP.get(c) ?? c),
  // uncurl_quotes
  (t) => t.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'"),
  // fix_line_breaks
  (t) => t.replaceAll('\r\n', '\n').replace(/[\r\u2028\u2029\x85]/g, '\n'),
  // fix_surrogates: JS strings hold pairs as one character already; lone halves become U+FFFD.
  (t) => t.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'),
  // remove_terminal_escapes
  (t) => t.replace(/\x1b\[((?:\d|;)*)([a-zA-Z])/g, ''),
  // remove_control_chars
  (t) => t.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, ''),
  (t) => t.normalize('NFC'),
];

/** ftfy's fix_and_explain on one segment (explain off). */
function fixSegment(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const orig = text;
    if (unescapeHtml) text = ftfyUnescapeHtml(text);
    text = fixEncoding(text);
    for (const step of steps) text = step(text);
    if (text === orig) return text;
  }
}

/**
 * ftfy.fix_text(text) with default settings. Works line by line; HTML unescaping ('auto') is switched off for
 * the segment that contains a literal '<' and every segment after it, as ftfy does.
 */
export function ftfyFixText(text: string): string {
  let out = '', pos = 0, unescapeHtml = true;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    if (segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
    pos = end;
  }
  return out;
}
