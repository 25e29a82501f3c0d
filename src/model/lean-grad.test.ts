import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { leanGrads, leanValueAndGrads } from './lean-grad';
import { checkpoint } from './checkpoint-grad';

describe('leanGrads', () => {
  const f = (a: tf.Tensor, b: tf.Tensor) => {
    const h = tf.tanh(tf.matMul(a, b));
    const g = checkpoint((t: tf.Tensor) => tf.tidy(() => tf.sigmoid(tf.mul(t, 3))), [h]);
    return tf.sum(tf.mul(tf.add(h, g), tf.square(h)));
  };

  it('gives exactly tf.grads\' gradients, zeros for an input off the path, and leaks nothing', () => {
    const a = tf.randomNormal([4, 5], 0, 1, 'float32', 1);
    const b = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
    const unused = tf.ones([2]);
    const before = tf.memory().numTensors;
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => f(x, y))([a, b]);
    const ours = leanGrads((x, y) => f(x!, y!), [a, b]);
    for (let i = 0; i < 2; i++) expect(Array.from(ours[i]!.dataSync())).toEqual(Array.from(ref[i]!.dataSync()));
    const two = tf.scalar(2);
    const { value, grads } = leanValueAndGrads(() => f(a, b), [a, unused], two);
    expect(value.dataSync()[0]).toBeCloseTo(tf.tidy(() => f(a, b).dataSync()[0]!), 5);
    expect(Array.from(grads[1]!.dataSync())).toEqual([0, 0]);
    expect(Array.from(grads[0]!.dataSync())).toEqual(Array.from(tf.tidy(() => tf.mul(ref[0]!, 2).dataSync())));
    tf.dispose([...ref, ...ours, value, ...grads, two]);
    expect(tf.memory().numTensors).toBe(before + 0);
    tf.dispose([a, b, unused]);
  });

  it('frees each intermediate gradient during the backward: peak below tf.grads\'', async () => {
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 3);
    // ops that save nothing for their backward, each intermediate freed once used: the forward holds ~2 tensors,
    // so the backward's gradients decide the peak (tf.grads keeps all 24, leanGrads about 2)
    const chain = (t: tf.Tensor) => {
      let h = t;
      for (let i = 0; i < 12; i++) {
        const next = tf.tidy(() => tf.neg(tf.add(h, 1)));
        if (h !== t) h.dispose();
        h = next;
      }
      return tf.sum(h);
    };
    const peak = async (run: () => tf.Tensor[]) => {
      const info = await tf.profile(() => { tf.dispose(run()); });
      return info.peakBytes;
    };
    const ref = await peak(() => tf.grads((t: tf.Tensor) => chain(t))([x]));
    const ours = await peak(() => leanGrads((t) => chain(t!), [x]));
    expect(ours).toBeLessThan(ref * 0.6);
    x.dispose();
  });
});
