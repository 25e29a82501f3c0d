import { describe, expect, it } from 'vitest';
import { Rng } from './rng';

describe('Rng (xoshiro128** + Box–Muller)', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(sa);
    expect(new Rng(2 ** 40).nextU32()).not.toBe(new Rng(0).nextU32());
  });

  it('resumes exactly from a serialized state, including a cached Box–Muller value', () => {
    const r = new Rng(7);
    r.uniform();
    r.normal(); // leaves a spare
    const state = JSON.parse(JSON.stringify(r.getState()));
    expect(state.spare).not.toBeNull();
    const expected = [r.normal(), r.normal(), r.uniform(), r.nextU32()];
    const resumed = Rng.fromState(state);
    expect([resumed.normal(), resumed.normal(), resumed.uniform(), resumed.nextU32()]).toEqual(expected);
  });

  it('rejects invalid states', () => {
    expect(() => Rng.fromState({ s: [0, 0, 0, 0], spare: null })).toThrow(/not all zero/);
    expect(() => Rng.fromState({ s: [1, 2, 3] as unknown as [number, number, number, number], spare: null })).toThrow(/four uint32/);
  });

  it('draws uniform [0,1) and standard normal values with the right moments', () => {
    const r = new Rng(123);
    const n = 200_000;
    const u = r.uniformArray(n, 0, 1);
    expect(u.reduce((a, v) => Math.min(a, v), 1)).toBeGreaterThanOrEqual(0);
    expect(u.reduce((a, v) => Math.max(a, v), 0)).toBeLessThan(1);
    const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.005);
    const z = r.normalArray(n);
    const mz = mean(z);
    const vz = z.reduce((s, v) => s + (v - mz) ** 2, 0) / n;
    expect(Math.abs(mz)).toBeLessThan(0.01);
    expect(Math.abs(vz - 1)).toBeLessThan(0.02);
  });
});
