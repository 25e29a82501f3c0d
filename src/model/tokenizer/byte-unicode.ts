/**
 * GPT-2's reversible byte → printable-character table (`bytes_to_unicode` in openai/CLIP simple_tokenizer.py and
 * transformers' tokenization_clip.py). Byte-level BPE works on these characters so that every UTF-8 byte is a
 * visible, non-whitespace symbol and merges never see raw control bytes or spaces.
 */

/** Bytes that map to themselves, in the order the reference lists them ('!'..'~', '¡'..'¬', '®'..'ÿ'). */
function printableBytes(): number[] {
  const out: number[] = [];
  const range = (a: number, b: number): void => { for (let i = a; i <= b; i++) out.push(i); };
  range(0x21, 0x7e);
  range(0xa1, 0xac);
  range(0xae, 0xff);
  return out;
}

/**
 * The 256 (byte, symbol) pairs in the reference's dict insertion order: first the printable bytes (mapped to
 * themselves), then the remaining bytes in increasing order mapped to U+0100, U+0101, …
 * This order is the order of the first 256 vocabulary entries.
 */
export function byteSymbolPairs(): Array<[byte: number, symbol: string]> {
  const printable = printableBytes();
  const pairs: Array<[number, string]> = printable.map((b) => [b, String.fromCharCode(b)]);
  const taken = new Set(printable);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!taken.has(b)) pairs.push([b, String.fromCharCode(256 + n++)]);
  }
  return pairs;
}

/** byte value → its symbol. */
export const BYTE_TO_SYMBOL: readonly string[] = (() => {
  const table = new Array<string>(256);
  for (const [b, s] of byteSymbolPairs()) table[b] = s;
  return table;
})();

/** symbol → byte value (inverse of BYTE_TO_SYMBOL), used by decode. */
export const SYMBOL_TO_BYTE: ReadonlyMap<string, number> = new Map(byteSymbolPairs().map(([b, s]) => [s, b]));
