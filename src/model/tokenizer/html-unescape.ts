/**
 * HTML character references, two flavours:
 * - `pythonHtmlUnescape`: Python's `html.unescape` (what openai/CLIP's `basic_clean` applies twice): HTML5 named
 *   references (longest legacy prefix without ';' too), numeric references with the HTML5 replacement rules.
 * - `ftfyUnescapeHtml`: ftfy's `unescape_html` (what ftfy.fix_text applies): only complete `&…;` references, plus
 *   all-uppercase spellings of lowercase entity names (`&EACUTE;` → `É`).
 */
import { CHARMAP_ENCODINGS, HTML5_LEGACY_NAMES, HTML5_NAMED } from './tables.generated';

const LEGACY = new Set(HTML5_LEGACY_NAMES);

/** Python's html._invalid_charrefs: NUL, CR and the Windows-1252 reading of 0x80..0x9F. */
function invalidCharref(num: number): string | undefined {
  if (num === 0) return '\ufffd';
  if (num === 0x0d) return '\r';
  if (num >= 0x80 && num <= 0x9f) return CP1252_HIGH[num - 0x80];
  return undefined;
}
// ftfy's sloppy-windows-1252 maps the 5 undefined bytes to the same code points, as Python's table does.
const CP1252_HIGH = CHARMAP_ENCODINGS.find((e) => e.name === 'sloppy-windows-1252')!.high;

/** Python's html._invalid_codepoints (control characters, non-characters): these references decode to ''. */
function isInvalidCodepoint(c: number): boolean {
  return (c >= 0x1 && c <= 0x8) || c === 0xb || (c >= 0xe && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) ||
    (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) === 0xfffe;
}

function numericCharref(digits: string, hex: boolean): string {
  const num = parseInt(digits, hex ? 16 : 10);
  const special = invalidCharref(num);
  if (special !== undefined) return special;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(num)) return '';
  return String.fromCodePoint(num);
}

function namedCharref(s: string): string {
  if (s.endsWith(';') && Object.hasOwn(HTML5_NAMED, s.slice(0, -1))) return HTML5_NAMED[s.slice(0, -1)]!;
  if (LEGACY.has(s)) return HTML5_NAMED[s]!;
  // The longest legacy name that prefixes the reference (the spec's rule for "&notit;" → "¬it;").
  for (let x = s.length - 1; x > 1; x--) {
    const prefix = s.slice(0, x);
    if (LEGACY.has(prefix)) return HTML5_NAMED[prefix]! + s.slice(x);
  }
  return `&${s}`;
}

const PY_CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's `html.unescape`. */
export function pythonHtmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(PY_CHARREF, (_m, s: string) => {
    if (s[0] !== '#') return namedCharref(s);
    const hex = s[1] === 'x' || s[1] === 'X';
    return numericCharref(s.slice(hex ? 2 : 1).replace(/;$/, ''), hex);
  });
}

/** ftfy's HTML_ENTITIES: `&name;` for every HTML5 name, plus `&NAME;` for lowercase names Python would not know. */
const FTFY_ENTITIES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  for (const [name, char] of Object.entries(HTML5_NAMED)) m.set(`&${name};`, char);
  for (const [name, char] of Object.entries(HTML5_NAMED)) {
    if (name !== name.toLowerCase()) continue;
    const upper = `&${name.toUpperCase()};`;
    if (pythonHtmlUnescape(upper) === upper) m.set(upper, char.toUpperCase());
  }
  return m;
})();

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's `unescape_html` fixer. */
export function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (ref) => {
    const named = FTFY_ENTITIES.get(ref);
    if (named !== undefined) return named;
    if (ref.startsWith('&#')) {
      const decoded = pythonHtmlUnescape(ref);
      // A numeric reference that only partly decoded (e.g. "&#x12g;") is left alone.
      return decoded.includes(';') ? ref : decoded;
    }
    return ref;
  });
}
