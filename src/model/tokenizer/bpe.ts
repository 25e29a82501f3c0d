/**
 * Byte-pair encoding of one pre-token, as CLIP's `bpe()` (openai simple_tokenizer / transformers
 * tokenization_clip): the last symbol carries `</w>`, then the lowest-ranked adjacent pair is merged everywhere
 * (left to right, non-overlapping) until no ranked pair remains. Results are cached per pre-token.
 */
export class BytePairEncoder {
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  /** `merges`: "a b" lines in rank order (rank = index). */
  constructor(merges: readonly string[]) {
    this.ranks = new Map();
    merges.forEach((m, i) => {
      if (!this.ranks.has(m)) this.ranks.set(m, i);
    });
  }

  /** Splits `word` (already mapped to byte symbols, one UTF-16 unit each) into vocabulary symbols. */
  encode(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = this.merge(word);
    // Bounded so that a long session of distinct prompts cannot grow memory without limit.
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(word, out);
    return out;
  }

  private merge(word: string): string[] {
    let symbols = [...word.slice(0, -1)];
    symbols.push(`${word.slice(-1)}</w>`);
    while (symbols.length > 1) {
      let best = Infinity, first = '', second = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < best) { best = r; first = symbols[i]!; second = symbols[i + 1]!; }
      }
      if (best === Infinity) break;
      const next: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === first && symbols[i + 1] === second && i + 1 < symbols.length) {
          next.push(first + second);
          i++;
        } else {
          next.push(symbols[i]!);
        }
      }
      symbols = next;
    }
    return symbols;
  }
}
