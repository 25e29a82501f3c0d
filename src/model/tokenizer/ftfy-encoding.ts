/**
 * ftfy's `fix_encoding` (ftfy 6.3.1 by Robyn Speer, Apache-2.0; ported): undoes mojibake — UTF-8 bytes that were
 * decoded with a single-byte codec ("cafÃ©" → "café") — when the badness heuristic says the text looks broken.
 *
 * Bytes are handled as "binary strings" (one char per byte, U+0000..U+00FF) so that JS regexes can match them.
 */
import { isBad } from './ftfy-badness';
import { CHARMAP_ENCODINGS, UTF8_CLUES as CLUE } from './tables.generated';

interface Charmap {
  name: string;
  /** char → byte for every char this codec can produce. */
  encode: Map<string, number>;
  /** byte → char. */
  decode: string[];
}

const CHARMAPS: Charmap[] = CHARMAP_ENCODINGS.map(({ name, high, byte1a }) => {
  const decode: string[] = [];
  for (let b = 0; b < 0x80; b++) decode.push(String.fromCharCode(b));
  decode[0x1a] = byte1a;
  decode.push(...high);
  const encode = new Map<string, number>();
  decode.forEach((c, b) => { if (!encode.has(c)) encode.set(c, b); });
  return { name, encode, decode };
});
const SLOPPY_1252 = CHARMAPS.find((c) => c.name === 'sloppy-windows-1252')!;

/** ftfy's possible_encoding: ASCII except 0x1A, plus what bytes 0x80..0xFF and 0x1A decode to. */
function encodeWith(text: string, map: Charmap): string | null {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const b = code < 0x80 && code !== 0x1a ? code : map.encode.get(ch);
    if (b === undefined) return null;
    out += String.fromCharCode(b);
  }
  return out;
}

const ALTERED_UTF8 = /[\xc2\xc3\xc5\xce\xd0\xd9][ ]|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]|[\xf0][ ][\x80-\xbf][\x80-\xbf]|[\xf0][\x80-\xbf][ ][\x80-\xbf]|[\xf0][\x80-\xbf][\x80-\xbf][ ]/g;
const HAS_ALTERED_UTF8 = new RegExp(ALTERED_UTF8.source);
const A_GRAVE_WORD = /\xc3 (?! |quele|quela|quilo|s )/g;
const LOSSY_UTF8 = /[\xc2-\xdf][\x1a]|[\xc2-\xc3][?]|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]|\x1a/g;

/** ftfy's restore_byte_a0: UTF-8 sequences whose 0xA0 byte became a plain space. */
function restoreByteA0(bytes: string): string {
  return bytes.replace(A_GRAVE_WORD, '\xc3\xa0 ').replace(ALTERED_UTF8, (m) => m.replaceAll(' ', '\xa0'));
}

/** ftfy's replace_lossy_sequences: UTF-8 sequences with lost bytes become U+FFFD's encoding. */
function replaceLossySequences(bytes: string): string {
  return bytes.replace(LOSSY_UTF8, '\xef\xbf\xbd');
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8Strict(bytes: string): string {
  const arr = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) arr[i] = bytes.charCodeAt(i);
  return UTF8_STRICT.decode(arr);
}

/** CESU-8 surrogate pairs and Java's 0xC0 0x80 NUL, which ftfy's "utf-8-variants" codec also accepts. */
const UTF8_VARIANT_SEQ = /\xc0\x80|\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]/g;

function decodeUtf8Variants(bytes: string): string {
  let out = '', last = 0;
  for (const m of bytes.matchAll(UTF8_VARIANT_SEQ)) {
    out += decodeUtf8Strict(bytes.slice(last, m.index));
    if (m[0] === '\xc0\x80') {
      out += '\0';
    } else {
      const c = (i: number): number => m[0].charCodeAt(i);
      const hi = 0xd000 | ((c(1) & 0x3f) << 6) | (c(2) & 0x3f);
      const lo = 0xd000 | ((c(4) & 0x3f) << 6) | (c(5) & 0x3f);
      out += String.fromCharCode(hi, lo);
    }
    last = m.index + m[0].length;
  }
  return out + decodeUtf8Strict(bytes.slice(last));
}

const UTF8_DETECTOR = new RegExp(
  `(?<![${CLUE.utf8_continuation_strict}])(?:[${CLUE.utf8_first_of_2}][${CLUE.utf8_continuation}]` +
    `|[${CLUE.utf8_first_of_3}][${CLUE.utf8_continuation}]{2}` +
    `|[${CLUE.utf8_first_of_4}][${CLUE.utf8_continuation}]{3})+`,
  'gu',
);

const HAS_UTF8_RUN = new RegExp(UTF8_DETECTOR.source, 'u');

/** ftfy's decode_inconsistent_utf8: fixes mojibake runs inside otherwise fine text. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR, (sub) => (sub.length < text.length && isBad(sub) ? fixEncoding(sub) : sub));
}

const C1_CONTROL = /[\x80-\x9f]/g;
const HAS_C1_CONTROL = /[\x80-\x9f]/;

/** ftfy's fix_c1_controls: C1 control characters read as Windows-1252. */
export function fixC1Controls(text: string): string {
  return text.replace(C1_CONTROL, (c) => SLOPPY_1252.decode[c.charCodeAt(0)]!);
}

function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

function fixEncodingOneStep(text: string): string {
  if (text.length === 0 || isAscii(text) || !isBad(text)) return text;
  const possible: string[] = [];
  for (const map of CHARMAPS) {
    let bytes = encodeWith(text, map);
    if (bytes === null) continue;
    possible.push(map.name);
    if (map.name !== 'macroman' && HAS_ALTERED_UTF8.test(bytes)) bytes = restoreByteA0(bytes);
    if (map.name.startsWith('sloppy')) bytes = replaceLossySequences(bytes);
    try {
      return bytes.includes('\xed') || bytes.includes('\xc0') ? decodeUtf8Variants(bytes) : decodeUtf8Strict(bytes);
    } catch {
      // Not UTF-8 under this codec: try the next one.
    }
  }
  if (HAS_UTF8_RUN.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // ftfy checks for "windows-1252", which is never in its list (it holds "sloppy-windows-1252"), so Latin-1 text
  // is always re-read as strict Windows-1252 when that decodes.
  if (possible.includes('latin-1')) {
    const undefinedIn1252 = /[\x81\x8d\x8f\x90\x9d]/;
    if (!undefinedIn1252.test(text)) {
      const fixed = fixC1Controls(text);
      if (fixed !== text) return fixed;
    }
  }
  return HAS_C1_CONTROL.test(text) ? fixC1Controls(text) : text;
}

/** ftfy's fix_encoding: repeat single fixes until the text stops changing. */
export function fixEncoding(text: string): string {
  for (;;) {
    const next = fixEncodingOneStep(text);
    if (next === text) return text;
    text = next;
  }
}
