import { expect, it } from 'vitest';
import { seededNoise } from './pipeline';

it('seeded noise is one fixed stream per seed, seed 0 included (tfjs reads a raw 0 as "no seed")', async () => {
  const draw = async (seed: number) => {
    const t = seededNoise([1, 4, 4, 4], seed);
    const data = await t.data();
    t.dispose();
    return Array.from(data);
  };
  expect(await draw(0)).toEqual(await draw(0));
  expect(await draw(7)).toEqual(await draw(7));
  expect(await draw(0)).not.toEqual(await draw(1));
  expect(() => seededNoise([1, 4, 4, 4], -1)).toThrow(/whole number/);
  expect(() => seededNoise([1, 4, 4, 4], 1.5)).toThrow(/whole number/);
});
