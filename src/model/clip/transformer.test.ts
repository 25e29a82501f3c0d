import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { randomStore } from '../../../test/random-weights';
import { causalMask, disposeParams } from '../nn';
import { declaredParams, loadFromStore } from '../params';
import type { WeightStore } from '../weights';
import { type ClipEncoderShape, checkpointedLayer, clipAttention, encoderLayer, hfEncoder } from './transformer';

const maxRel = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(b)).dataSync()[0]!, 1e-30));

describe('CLIP transformer block', () => {
  it('per-head attention equals nn.attention (values and gradients), with and without a causal mask', () => {
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([2, 6, 12], 0, 1, 'float32', s)) as tf.Tensor3D[];
    for (const mask of [undefined, causalMask(6)]) {
      const f = (perHead: boolean) => (x: tf.Tensor) => tf.sum(tf.sin(clipAttention(x as tf.Tensor3D, k!, v!, 3, mask, perHead)));
      const y1 = clipAttention(q!, k!, v!, 3, mask, true), y0 = clipAttention(q!, k!, v!, 3, mask, false);
      expect(maxRel(y1, y0)).toBeLessThan(1e-5);
      const g1 = tf.grad(f(true))(q!), g0 = tf.grad(f(false))(q!);
      expect(maxRel(g1, g0)).toBeLessThan(1e-5);
      tf.dispose([y1, y0, g1, g0, mask].filter((t): t is tf.Tensor => t !== undefined));
    }
    tf.dispose([q!, k!, v!]);
  });

  it('a checkpointed layer has the plain layer\'s value and input gradient, inside a larger graph; no leaks', () => {
    const shape: ClipEncoderShape = { layers: 1, width: 12, inner: 24, heads: 3, act: 'quick_gelu', eps: 1e-5 };
    const store: WeightStore = randomStore(declaredParams((src) => hfEncoder(src, shape)), 3);
    const enc = loadFromStore(store, (src) => hfEncoder(src, shape));
    store.dispose();
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([2, 5, 12], 0, 1, 'float32', 4) as tf.Tensor3D;
    for (const mask of [undefined, causalMask(5)]) {
      // Ops before and after the layer make the outer tape save tensors of its own.
      const f = (ckpt: boolean) => (t: tf.Tensor) => {
        const h = tf.tanh(t) as tf.Tensor3D;
        const y = ckpt ? checkpointedLayer(h, enc.layers[0]!, 3, 'quick_gelu', mask) : encoderLayer(h, enc.layers[0]!, 3, 'quick_gelu', mask);
        return tf.sum(tf.square(y));
      };
      const g1 = tf.grad(f(true))(x), g0 = tf.grad(f(false))(x);
      expect(maxRel(g1, g0)).toBeLessThan(1e-5);
      tf.dispose([g1, g0, mask].filter((t): t is tf.Tensor => t !== undefined));
    }
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeParams(enc);
  });
});
