import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { conv2d, linear, type ConvParams } from '../nn';
import { conv2dX, linearX } from './input-grad-ops';

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('input-only-gradient conv2d / linear', () => {
  it.each([
    [3, 1, 1, [2, 7, 6, 5]], [3, 2, 1, [2, 7, 6, 5]], [3, 2, 0, [1, 9, 8, 3]], [1, 1, 0, [2, 4, 4, 6]],
    // ≥ 128 pixels: on wasm dx is a forward conv with the flipped kernel (see convInputGrad)
    [3, 1, 1, [2, 8, 8, 5]], [1, 1, 0, [2, 8, 9, 6]],
  ] as const)('conv2dX k=%i stride=%i pad=%i: value and dx equal autodiff through conv2d', (k, stride, pad, xShape) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([...xShape], 0, 1, 'float32', 1) as tf.Tensor4D;
      const p: ConvParams = { w: tf.randomNormal([k, k, xShape[3], 4], 0, 1, 'float32', 2) as tf.Tensor4D, b: tf.randomNormal([4], 0, 1, 'float32', 3) as tf.Tensor1D, stride, pad };
      const ref = conv2d(x, p);
      const r = tf.randomNormal(ref.shape, 0, 1, 'float32', 4);
      expect(relErr(conv2dX(x, p), ref)).toBe(0);
      const g = (f: (t: tf.Tensor4D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), r)))(x);
      expect(relErr(g((t) => conv2dX(t, p)), g((t) => conv2d(t, p)))).toBeLessThan(1e-6);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('linearX: value and dx equal autodiff through linear (3-D input)', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 5);
      const p = { w: tf.randomNormal([6, 3], 0, 1, 'float32', 6) as tf.Tensor2D, b: tf.randomNormal([3], 0, 1, 'float32', 7) as tf.Tensor1D };
      const r = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 8);
      expect(relErr(linearX(x, p), linear(x, p))).toBe(0);
      const g = (f: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), r)))(x);
      expect(relErr(g((t) => linearX(t, p)), g((t) => linear(t, p)))).toBeLessThan(1e-6);
    });
  });
});
