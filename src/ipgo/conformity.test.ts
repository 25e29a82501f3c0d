import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildConditioning, checkContextLength, conformityPenalty } from './conformity';
import { Rng } from './rng';

describe('conditioning and conformity penalty', () => {
  it('concatenates prefix, prompt states and suffix', () => {
    const before = tf.memory().numTensors;
    const [n, l, d] = [2, 3, 4];
    const pre = tf.fill([n, d], 1) as tf.Tensor2D, suf = tf.fill([n, d], 3) as tf.Tensor2D;
    const h = tf.fill([1, l, d], 2) as tf.Tensor3D;
    const c = buildConditioning(pre, h, suf);
    expect(c.shape).toEqual([1, l + 2 * n, d]);
    expect(Array.from(c.dataSync()).filter((_, i) => i % d === 0)).toEqual([1, 1, 2, 2, 2, 3, 3]);
    tf.dispose([pre, suf, h, c]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses L + 2n > 77 with a clear message, before creating any tensor', () => {
    expect(() => checkContextLength(57, 10)).not.toThrow();
    expect(() => checkContextLength(58, 10)).toThrow(/58 tokens .* \+ 2 × 10 injected tokens = 78 > 77; shorten the prompt to at most 55 text tokens/);
    const pre = tf.zeros([10, 4]) as tf.Tensor2D, h = tf.zeros([1, 58, 4]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    expect(() => buildConditioning(pre, h, pre)).toThrow(/78 > 77/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pre, h]);
  });

  it('penalty equals mean_d |mean_t C − mean_t H| and its gradient is sign(diff) / (D·T)', () => {
    const rng = new Rng(2);
    const [t, l, d] = [7, 3, 5];
    const cv = Float32Array.from(rng.normalArray(t * d)), hv = Float32Array.from(rng.normalArray(l * d));
    let ref = 0;
    const sign: number[] = [];
    for (let j = 0; j < d; j++) {
      let mc = 0, mh = 0;
      for (let i = 0; i < t; i++) mc += cv[i * d + j]! / t;
      for (let i = 0; i < l; i++) mh += hv[i * d + j]! / l;
      ref += Math.abs(mc - mh) / d;
      sign.push(Math.sign(mc - mh));
    }
    const before = tf.memory().numTensors;
    const c = tf.tensor3d(cv, [1, t, d]), h = tf.tensor3d(hv, [1, l, d]);
    const pen = conformityPenalty(c, h);
    expect(pen.dataSync()[0]).toBeCloseTo(ref, 6);
    const g = tf.grad((cc: tf.Tensor) => conformityPenalty(cc as tf.Tensor3D, h))(c);
    const gv = g.dataSync();
    for (let i = 0; i < t; i++) for (let j = 0; j < d; j++) expect(gv[i * d + j]).toBeCloseTo(sign[j]! / (d * t), 7);
    // Central finite difference in one random direction (the penalty is piecewise linear: exact away from kinks).
    const dir = Float32Array.from(rng.normalArray(t * d));
    const eps = 1e-3;
    const at = (s: number): number => tf.tidy(() => conformityPenalty(tf.add(c, tf.mul(tf.tensor3d(dir, [1, t, d]), s)) as tf.Tensor3D, h).dataSync()[0]!);
    const fd = (at(eps) - at(-eps)) / (2 * eps);
    const analytic = Array.from(gv).reduce((s, v, i) => s + v * dir[i]!, 0);
    expect(Math.abs(fd - analytic)).toBeLessThan(1e-4);
    tf.dispose([c, h, pen, g]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
