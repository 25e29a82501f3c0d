import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { addLean, groupNorm, layerNorm, reshapeLean, type NormParams } from './nn';

/** GroupNorm (+ SiLU) written with plain ops, differentiated by tfjs autodiff: the reference for the custom op. */
function plainGroupNorm(x: tf.Tensor4D, groups: number, gamma: tf.Tensor, beta: tf.Tensor, eps: number, silu: boolean): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const g = x.reshape([n, h, w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 2, 4], true);
  const z = tf.add(tf.mul(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, eps))).reshape([n, h, w, c]), gamma), beta);
  return silu ? tf.mul(z, tf.sigmoid(z)) : z;
}

const relErr = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('groupNorm (memory-efficient backward)', () => {
  for (const [act, mean, std] of [['none', 0.3, 2], ['silu', 0.3, 2], ['silu', 6, 0.5]] as const) {
    it(`${act}, x ~ N(${mean}, ${std}²): value and gradients in x, γ, β match autodiff of the plain ops; no leaks`, () => {
      const x = tf.randomNormal([2, 5, 3, 12], mean, std, 'float32', 1) as tf.Tensor4D;
      const p: NormParams = { gamma: tf.randomNormal([12], 1, 0.5, 'float32', 2) as tf.Tensor1D, beta: tf.randomNormal([12], 0, 0.5, 'float32', 3) as tf.Tensor1D, eps: 1e-5 };
      const r = tf.randomNormal([2, 5, 3, 12], 0, 1, 'float32', 4);
      const before = tf.memory().numTensors;
      const loss = (f: (x: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, g, b), r));
      const ours = tf.grads(loss((a, g, b) => groupNorm(a, 3, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, eps: 1e-5 }, act)))([x, p.gamma, p.beta]);
      const ref = tf.grads(loss((a, g, b) => plainGroupNorm(a, 3, g, b, 1e-5, act === 'silu')))([x, p.gamma, p.beta]);
      for (let i = 0; i < 3; i++) expect(relErr(ours[i]!, ref[i]!)).toBeLessThan(1e-5);
      const y = groupNorm(x, 3, p, act);
      const yRef = tf.tidy(() => plainGroupNorm(x, 3, p.gamma, p.beta, 1e-5, act === 'silu'));
      expect(relErr(y, yRef)).toBeLessThan(1e-5);
      tf.dispose([...ours, ...ref, y, yRef]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, p.gamma, p.beta, r]);
    });
  }
});

describe('layerNorm (one op under a tape, saving only x)', () => {
  for (const [mean, std] of [[0.3, 2], [6, 0.5]] as const) {
    it(`x ~ N(${mean}, ${std}²): value and gradients in x, γ, β match autodiff of the plain ops; no leaks`, () => {
      const x = tf.randomNormal([2, 7, 24], mean, std, 'float32', 1);
      const gamma = tf.randomNormal([24], 1, 0.5, 'float32', 2), beta = tf.randomNormal([24], 0, 0.5, 'float32', 3);
      const r = tf.randomNormal([2, 7, 24], 0, 1, 'float32', 4);
      const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean: m, variance } = tf.moments(a, -1, true);
        return tf.add(tf.mul(tf.div(tf.sub(a, m), tf.sqrt(tf.add(variance, 1e-5))), g), b);
      };
      const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(a, { gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, eps: 1e-5 });
      const before = tf.memory().numTensors;
      const loss = (f: typeof plain) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), r));
      const got = tf.grads(loss(ours))([x, gamma, beta]);
      const ref = tf.grads(loss(plain))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) expect(relErr(got[i]!, ref[i]!)).toBeLessThan(1e-5);
      const y = ours(x, gamma, beta), yRef = tf.tidy(() => plain(x, gamma, beta));
      expect(relErr(y, yRef)).toBe(0);
      tf.dispose([...got, ...ref, y, yRef]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, gamma, beta, r]);
    });
  }
});

describe('addLean', () => {
  it('adds with broadcasting; gradients reduce to each input\'s shape; it saves nothing', () => {
    const a = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 5);
    const b = tf.randomNormal([4], 0, 1, 'float32', 6);
    const r = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 7);
    const before = tf.memory().numTensors;
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(addLean(x, y), r)))([a, b]);
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.add(x, y), r)))([a, b]);
    for (let i = 0; i < 2; i++) expect(Array.from(ours[i]!.dataSync())).toEqual(Array.from(ref[i]!.dataSync()));
    tf.dispose([...ours, ...ref]);
    expect(tf.memory().numTensors).toBe(before);
    // under a tape the inputs' buffers are not pinned: freeing them frees their bytes
    const one = tf.scalar(1);
    const bytes = tf.memory().numBytes;
    tf.grads((x: tf.Tensor) => {
      const big = tf.mul(x, 2);
      const y = addLean(big, one);
      big.dispose();
      expect(tf.memory().numBytes).toBeLessThan(bytes + 2 * 4 * x.size + 64);
      return tf.sum(y);
    })([a]).forEach((t) => t.dispose());
    tf.dispose([a, b, r, one]);
  });
});

describe('reshapeLean', () => {
  it('has tf.reshape\'s value and gradient, and copies nothing of its input under a tape', async () => {
    const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
    const r = tf.randomNormal([6, 4], 0, 1, 'float32', 2);
    const before = tf.memory().numTensors;
    let got: tf.Tensor | undefined;
    const info = await tf.profile(() => { got = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(reshapeLean(a, [6, 4]), r)))(x); });
    // tfjs's Reshape saves a clone of its input (an Identity kernel on x's shape) for its gradient
    expect(info.kernels.filter((k) => k.name === 'Identity' && String(k.inputShapes[0]) === '2,3,4')).toEqual([]);
    const ref = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(a.reshape([6, 4]), r)))(x);
    expect(relErr(got!, ref)).toBe(0);
    const y = reshapeLean(x, [4, 6]);
    expect(y.shape).toEqual([4, 6]);
    expect(tf.tidy(() => relErr(y, x.reshape([4, 6])))).toBe(0);
    tf.dispose([got!, ref, y]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r]);
  });
});
