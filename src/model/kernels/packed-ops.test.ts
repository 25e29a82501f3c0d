import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { KERNEL_TOLERANCE, checkKernels } from './self-check';

// Off WebGPU the packed layers dequantize one layer on the fly and run tfjs's own ops: the same check holds.
describe('packed-weight layers on the Node test backend (dequantized per layer)', () => {
  it('every packed op within 1e-5 of its reference op; no leaks', async () => {
    expect(tf.getBackend()).not.toBe('webgpu');
    const before = tf.memory().numTensors;
    for (const c of await checkKernels()) expect(c.maxRel, c.name).toBeLessThanOrEqual(KERNEL_TOLERANCE);
    expect(tf.memory().numTensors).toBe(before);
  });
});
