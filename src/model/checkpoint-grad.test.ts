import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { checkpoint, retain } from './checkpoint-grad';

/** A small unit with several saved tensors and intermediate gradients: tanh, products, a softmax. */
const unit = (x: tf.Tensor, w: tf.Tensor) => tf.tidy(() => {
  const h = tf.tanh(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D));
  return tf.mul(tf.softmax(tf.mul(h, h), -1), tf.sigmoid(h));
});

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('retain (kept activations, lean backward)', () => {
  const x = tf.randomNormal([64, 32], 0, 1, 'float32', 1);
  const w = tf.randomNormal([32, 32], 0, 0.3, 'float32', 2);
  const r = tf.randomNormal([64, 32], 0, 1, 'float32', 3);
  /** Three units in a row under tfjs's tf.grads, each wrapped by `wrap`. */
  const chain = (wrap: (f: typeof unit, xs: tf.Tensor[]) => tf.Tensor) => (xi: tf.Tensor, wi: tf.Tensor) => {
    let h = xi;
    for (let i = 0; i < 3; i++) h = wrap(unit, [h, wi]);
    return tf.sum(tf.mul(h, r));
  };
  const plainWrap = (f: typeof unit, xs: tf.Tensor[]) => f(xs[0]!, xs[1]!);

  it('gives plain autodiff gradients without leaks, also for a unit the backward never reaches', () => {
    const before = tf.memory().numTensors;
    const plain = tf.grads(chain(plainWrap))([x, w]);
    for (const wrap of [retain, checkpoint]) {
      const got = tf.grads(chain(wrap))([x, w]);
      expect(relErr(got[0]!, plain[0]!)).toBeLessThan(1e-6);
      expect(relErr(got[1]!, plain[1]!)).toBeLessThan(1e-6);
      tf.dispose(got);
    }
    // d/dw only, through a retained unit of x alone (not on the path from w): its kept tensors are freed too
    const g = tf.grad((wi: tf.Tensor) => tf.sum(tf.mul(retain((xi: tf.Tensor) => tf.tanh(tf.mul(xi, 2)), [x]), unit(x, wi))))(w);
    expect(g.shape).toEqual([32, 32]);
    g.dispose();
    tf.dispose(plain);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('holds less memory during the backward than plain autodiff under tf.grads', async () => {
    const peak = async (wrap: (f: typeof unit, xs: tf.Tensor[]) => tf.Tensor) => {
      const base = tf.memory().numBytes;
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => { out = tf.grads(chain(wrap))([x, w]); });
      tf.dispose(out);
      return info.peakBytes - base;
    };
    expect(await peak(retain)).toBeLessThan(0.8 * (await peak(plainWrap)));
  });
});
