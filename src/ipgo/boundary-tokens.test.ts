import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { boundaryTokens, boundaryTokensHost, initSideHost, type SideHost } from './boundary-tokens';
import type { BoundaryShape } from './config';
import { orthonormalityErrorHost } from './orthonormal';
import { Rng } from './rng';
import { rotateTokens, rotateTokensHost } from './rotation';

const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i]! - b[i]!) ** 2; d += b[i]! ** 2; }
  return Math.sqrt(n / d);
};

const shapeOf = (rotation: 'intended' | 'off'): BoundaryShape => ({ numTokens: 5, rank: 2, textDim: 12, bound: 0.8, rotation });

/** Random side with ~20% of coefficients and angles outside their clamp ranges. */
function randomSide(shape: BoundaryShape, rng: Rng): SideHost {
  const side = initSideHost(shape, rng);
  for (let i = 0; i < side.x.length; i++) side.x[i] = side.x[i]! * (rng.uniform() < 0.2 ? 1.6 / shape.bound : 1);
  return side;
}

function tensors(h: SideHost, s: BoundaryShape): { x: tf.Tensor2D; W: tf.Tensor2D; b: tf.Tensor1D } {
  const m = s.numTokens * s.rank;
  return { x: tf.tensor2d(h.x, [s.numTokens, m + 2]), W: tf.tensor2d(h.W, [s.textDim, m]), b: tf.tensor1d(h.b) };
}

describe('boundary tokens', () => {
  it('rotation: vectorized tf equals the pair-by-pair reference for every start parity, and preserves norms', () => {
    const rng = new Rng(3);
    for (const [n, d] of [[7, 8], [4, 32], [3, 2]] as const) {
      const v = Float32Array.from(rng.normalArray(n * d));
      const ang = Float32Array.from(rng.uniformArray(n * 2, -3, 3));
      const got = tf.tidy(() => rotateTokens(tf.tensor2d(v, [n, d]), tf.tensor2d(ang, [n, 2])).dataSync());
      const ref = rotateTokensHost(v, ang, n, d);
      expect(relL2(got, ref)).toBeLessThan(1e-6);
      for (let i = 0; i < n; i++) {
        const norm = (a: ArrayLike<number>): number => Math.hypot(...Array.from(a).slice(i * d, (i + 1) * d));
        expect(norm(ref)).toBeCloseTo(norm(v), 5);
      }
    }
  });

  it('tf map equals the float64 host map (both rotation modes)', () => {
    for (const rotation of ['intended', 'off'] as const) {
      const s = shapeOf(rotation);
      const h = randomSide(s, new Rng(11));
      const t = tensors(h, s);
      const got = tf.tidy(() => boundaryTokens(t, s).dataSync());
      tf.dispose([t.x, t.W, t.b]);
      expect(relL2(got, boundaryTokensHost(h, s))).toBeLessThan(1e-6);
    }
  });

  it('gradients match central finite differences of the float64 map; clamped entries and (rotation off) angles get 0', () => {
    for (const rotation of ['intended', 'off'] as const) {
      const s = shapeOf(rotation);
      const rng = new Rng(5);
      const h = randomSide(s, rng);
      const cot = rng.normalArray(s.numTokens * s.textDim);
      const lossHost = (side: SideHost): number => boundaryTokensHost(side, s).reduce((acc, v, i) => acc + v * cot[i]!, 0);
      const before = tf.memory().numTensors;
      const t = tensors(h, s);
      const dy = tf.tensor2d(Float32Array.from(cot), [s.numTokens, s.textDim]);
      const g = tf.grads((x: tf.Tensor, W: tf.Tensor, b: tf.Tensor) =>
        boundaryTokens({ x: x as tf.Tensor2D, W: W as tf.Tensor2D, b: b as tf.Tensor1D }, s))([t.x, t.W, t.b], dy);
      const grads = { x: g[0]!.dataSync(), W: g[1]!.dataSync(), b: g[2]!.dataSync() };
      tf.dispose([t.x, t.W, t.b, dy, ...g]);
      expect(tf.memory().numTensors).toBe(before);

      const m = s.numTokens * s.rank;
      for (const key of ['x', 'W', 'b'] as const) {
        const numeric = new Float64Array(h[key].length);
        for (let i = 0; i < h[key].length; i++) {
          const eps = 1e-3;
          const plus = { ...h, [key]: Float64Array.from(h[key]) } as unknown as SideHost;
          const minus = { ...h, [key]: Float64Array.from(h[key]) } as unknown as SideHost;
          plus[key][i] = h[key][i]! + eps;
          minus[key][i] = h[key][i]! - eps;
          numeric[i] = (lossHost(plus) - lossHost(minus)) / (2 * eps);
        }
        expect(relL2(grads[key], numeric), `${rotation} ${key}`).toBeLessThan(1e-4);
        if (key === 'x') {
          for (let i = 0; i < h.x.length; i++) {
            const col = i % (m + 2);
            const lim = col < m ? s.bound : Math.PI;
            const inactive = Math.abs(h.x[i]!) > lim + 1e-3 || (col >= m && rotation === 'off');
            if (inactive) expect(grads.x[i]).toBe(0);
          }
        }
      }
    }
  });

  it('initialisation follows the notebook: ranges, orthonormal W, seeded', () => {
    const s: BoundaryShape = { numTokens: 4, rank: 5, textDim: 48, bound: 1, rotation: 'intended' };
    const a = initSideHost(s, new Rng(9));
    const m = 20;
    for (let i = 0; i < s.numTokens; i++) {
      for (let j = 0; j < m; j++) expect(Math.abs(a.x[i * (m + 2) + j]!)).toBeLessThanOrEqual(1);
      for (let j = m; j < m + 2; j++) expect(Math.abs(a.x[i * (m + 2) + j]!)).toBeLessThanOrEqual(Math.PI);
    }
    expect(Math.max(...a.b.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(m));
    expect(orthonormalityErrorHost(a.W, 48, m)).toBeLessThan(1e-6);
    expect(initSideHost(s, new Rng(9))).toEqual(a);
    expect(initSideHost(s, new Rng(10)).x).not.toEqual(a.x);
  });

  it('rejects parameters of the wrong shape', () => {
    const s = shapeOf('intended');
    const t = tensors(initSideHost(s, new Rng(1)), s);
    const bad = tf.zeros([3, 3]) as tf.Tensor2D;
    expect(() => boundaryTokens({ ...t, W: bad }, s)).toThrow(/W must be \[12,10\]/);
    tf.dispose([t.x, t.W, t.b, bad]);
  });
});
