import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { linearT, matMul2d, matMulConstLeft, matMulWeightT } from './clip-matmul';

const maxRel = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(tf.max(tf.abs(b)).dataSync()[0]!, 1e-30));

describe('transpose-free matmul gradients', () => {
  it('matmul variants: same values and input gradients as tf.matMul; no leaks', () => {
    const before = tf.memory().numTensors;
    const a = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
    const b = tf.randomNormal([7, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const w8 = tf.randomNormal([5, 8], 0, 1, 'float32', 3);
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, tf.range(0, y.size).reshape(y.shape)));
    const [refA, refB] = tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    const [gA, gB] = tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    const bT = tf.transpose(b) as tf.Tensor2D;
    const gRight = tf.grad((x: tf.Tensor) => loss(matMulWeightT(x as tf.Tensor2D, bT)))(a);
    const vRight = tf.tidy(() => maxRel(matMulWeightT(a, bT), tf.matMul(a, b)));
    expect(vRight).toBeLessThan(1e-6);
    const gLeft = tf.grad((y: tf.Tensor) => loss(matMulConstLeft(a, y as tf.Tensor2D)))(b);
    for (const [got, ref] of [[gA, refA], [gB, refB], [gRight, refA], [gLeft, refB]] as const) expect(maxRel(got!, ref!)).toBeLessThan(1e-6);
    const y = tf.tidy(() => linearT(w8.reshape([1, 5, 8]), { w: tf.ones([2, 8]) as tf.Tensor2D, b: tf.tensor1d([1, 2]) }));
    expect(y.shape).toEqual([1, 5, 2]);
    expect(y.dataSync()[1]).toBeCloseTo(tf.tidy(() => w8.sum(1).dataSync()[0]!) + 2, 4);
    tf.dispose([a, b, bT, w8, refA!, refB!, gA!, gB!, gRight, gLeft, y]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
