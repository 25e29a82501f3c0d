import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { clipGradNorm } from './grad-clip';

describe('clipGradNorm (torch clip_grad_norm_)', () => {
  it('scales all gradients by max/(total + 1e-6) when the global norm exceeds max', async () => {
    const before = tf.memory().numTensors;
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]], [1, 2]) }; // global norm 5
    const r = await clipGradNorm(grads, 1);
    expect(r.totalNorm).toBeCloseTo(5, 6);
    expect(r.finite).toBe(true);
    const scale = 1 / (5 + 1e-6);
    expect(r.scale).toBeCloseTo(scale, 12);
    expect(r.grads.a.dataSync()[0]).toBeCloseTo(3 * scale, 6);
    expect(r.grads.b.dataSync()[1]).toBeCloseTo(4 * scale, 6);
    const same = await clipGradNorm(grads, 10);
    expect(same.scale).toBe(1);
    expect(Array.from(same.grads.b.dataSync())).toEqual([0, 4]);
    tf.dispose([...Object.values(grads), ...Object.values(r.grads), ...Object.values(same.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports NaN / Inf instead of scaling', async () => {
    const grads = { a: tf.tensor1d([1, NaN]), b: tf.tensor1d([Infinity]) };
    const r = await clipGradNorm(grads, 1);
    expect(r.finite).toBe(false);
    expect(r.scale).toBe(1);
    tf.dispose([...Object.values(grads), ...Object.values(r.grads)]);
  });
});
