/**
 * A small seedable PRNG whose whole state is a JSON-safe object, so a resumed run draws exactly the numbers the
 * uninterrupted run would have. xoshiro128** (Blackman & Vigna) on 32-bit integer ops (Math.imul), seeded by
 * splitmix32; uniform doubles take 53 bits from two outputs; Gaussians by Box–Muller with the second value cached
 * (the cache is part of the state).
 */

export interface RngState {
  /** xoshiro128** state, four uint32 (never all zero). */
  s: [number, number, number, number];
  /** The spare Box–Muller value, or null. */
  spare: number | null;
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** splitmix32 step: a well-mixed uint32 stream used only to fill the xoshiro state from a seed. */
function splitmix32(state: { v: number }): number {
  state.v = (state.v + 0x9e3779b9) >>> 0;
  let z = state.v;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private s: Uint32Array;
  private spare: number | null = null;

  /** `seed`: any safe integer (both 32-bit halves are mixed in). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new Error(`Rng seed must be a safe integer, got ${seed}`);
    const lo = { v: (seed >>> 0) ^ 0x6a09e667 };
    const hi = { v: Math.floor(Math.abs(seed) / 2 ** 32) ^ (seed < 0 ? 0xbb67ae85 : 0) };
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) this.s[i] = (splitmix32(lo) ^ splitmix32(hi)) >>> 0;
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return { s: [this.s[0]!, this.s[1]!, this.s[2]!, this.s[3]!], spare: this.spare };
  }

  setState(state: RngState): void {
    const ok = Array.isArray(state.s) && state.s.length === 4 &&
      state.s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff) && state.s.some((v) => v !== 0);
    if (!ok) throw new Error('invalid Rng state: s must be four uint32 values, not all zero');
    if (state.spare !== null && !Number.isFinite(state.spare)) throw new Error('invalid Rng state: spare must be finite or null');
    this.s = Uint32Array.from(state.s);
    this.spare = state.spare;
  }

  /** Next uint32 (xoshiro128**). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Standard normal (Box–Muller; u1 ∈ (0, 1] keeps the log finite). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** n values uniform in [lo, hi). */
  uniformArray(n: number, lo: number, hi: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  normalArray(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }
}
