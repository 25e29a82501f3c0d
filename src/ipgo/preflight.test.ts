import { describe, expect, it } from 'vitest';
import { PREFLIGHT_COEFFICIENTS, predictUpdatePeak, preflight, type UpdateMemoryShape } from './preflight';

const GiB = 2 ** 30;
// SD1.5's widths, 1.5 GiB of weights, at 512²
const sd15: UpdateMemoryShape = { residentBytes: 1.5 * GiB, latentHeight: 64, latentWidth: 64, vaeScale: 8, unetWidth: 320, vaeWidth: 128, decoderParams: 49.5e6 };

describe('preflight', () => {
  it('predicts weights plus the largest phase, each linear in its activation feature', () => {
    const p = predictUpdatePeak(sd15);
    const k = PREFLIGHT_COEFFICIENTS;
    expect(p.phases.reward).toBeCloseTo(k.rewardImage * 512 * 512 * 128 * 4 + k.rewardRgb * 512 * 512 * 12 + k.rewardDecoder * 49.5e6 * 4);
    expect(p.phases.sampling).toBeCloseTo(PREFLIGHT_COEFFICIENTS.sampling * 2 * 64 * 64 * 320 * 4);
    expect(p.peak).toBeCloseTo(sd15.residentBytes + Math.max(p.phases.reward, p.phases.sampling, p.phases.backward));
    const half = predictUpdatePeak({ ...sd15, latentHeight: 32, latentWidth: 32 });
    const fixed = k.rewardDecoder * 49.5e6 * 4;
    expect(half.phases.reward - fixed).toBeCloseTo((p.phases.reward - fixed) / 4);
  });

  it('passes a run under the budget without advice', () => {
    const v = preflight(sd15, { budgetBytes: 64 * GiB, size: 512, int8Everywhere: false });
    expect(v.ok).toBe(true);
    expect(v.advice).toEqual([]);
    expect(v.message).toMatch(/within the 64\.0 GiB budget/);
  });

  it('refuses a run over the budget with a resolution that fits, int8 and the budget as advice', () => {
    const budget = predictUpdatePeak({ ...sd15, latentHeight: 40, latentWidth: 40 }).peak + 1;
    const v = preflight(sd15, { budgetBytes: budget, size: 512, int8Everywhere: false });
    expect(v.ok).toBe(false);
    expect(v.message).toMatch(/over the .* GiB budget/);
    expect(v.advice[0]).toBe('lower the resolution to 320×320 or less');
    expect(v.advice.some((a) => /int8/.test(a))).toBe(true);
    const allInt8 = preflight(sd15, { budgetBytes: budget, size: 512, int8Everywhere: true });
    expect(allInt8.advice.some((a) => /int8/.test(a))).toBe(false);
  });

  it('says when the weights alone do not fit', () => {
    const v = preflight(sd15, { budgetBytes: GiB, size: 512, int8Everywhere: true });
    expect(v.ok).toBe(false);
    expect(v.advice.some((a) => /weights alone exceed/.test(a))).toBe(true);
  });
});
