import { describe, expect, it } from 'vitest';
import { StepLR } from './lr-schedule';

describe('StepLR (torch chainable form)', () => {
  it('lr(epoch) = base · γ^⌊epoch/step⌋ for the prompt-wise and batch-wise defaults', () => {
    for (const [stepSize, gamma] of [[10, 0.9], [15, 0.95]] as const) {
      const s = new StepLR(1e-3, { stepSize, gamma });
      const seq = [s.lr];
      for (let e = 1; e < 50; e++) seq.push(s.step());
      seq.forEach((lr, e) => expect(lr).toBeCloseTo(1e-3 * gamma ** Math.floor(e / stepSize), 15));
      expect(seq[stepSize - 1]).toBe(1e-3);
      expect(seq[stepSize]).toBe(1e-3 * gamma);
    }
  });

  it('state round-trips and is validated', () => {
    const a = new StepLR(0.1, { stepSize: 3, gamma: 0.5 });
    for (let i = 0; i < 4; i++) a.step();
    const b = new StepLR(0.1, { stepSize: 3, gamma: 0.5 });
    b.setState(JSON.parse(JSON.stringify(a.getState())));
    expect([b.step(), b.step(), b.step()]).toEqual([a.step(), a.step(), a.step()]);
    expect(() => b.setState({ lastEpoch: -1, lr: 0.1 })).toThrow(/lastEpoch/);
    expect(() => new StepLR(0.1, { stepSize: 0, gamma: 0.5 })).toThrow(/stepSize/);
  });
});
