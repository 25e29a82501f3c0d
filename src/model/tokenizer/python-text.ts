/**
 * Python string semantics the reference tokenizers rely on, where JS differs: `\s` / str.isspace() (Python's
 * includes U+001C..U+001F and U+0085 and excludes U+FEFF; JS's \s is the reverse), strip(), split().
 */

/** Characters for which Python's str.isspace() is true (also what `re`'s `\s` matches in str patterns). */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** Unicode White_Space (what the `regex` module's and Rust's `\s` match). */
export const WHITE_SPACE = '\\t\\n\\v\\f\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** str.strip(). */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

/** str.split() without arguments. */
export function pySplit(text: string): string[] {
  const s = pyStrip(text);
  return s === '' ? [] : s.split(PY_SPACE_RUN);
}

/** CLIP's whitespace_clean: `re.sub(r"\s+", " ", text).strip()`. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(PY_SPACE_RUN, ' '));
}
