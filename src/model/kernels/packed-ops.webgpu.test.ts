import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { KERNEL_TOLERANCE, checkPackedKernels } from './self-check';

describe('packed-weight kernels on WebGPU (Node, Dawn)', () => {
  it('every kernel within 1e-5 of its reference op, forward and input gradient; no leaks', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const before = tf.memory().numTensors;
    const checks = await checkPackedKernels();
    expect(checks.length).toBe(2 * (4 * 2 + 5 * 3));
    for (const c of checks) expect(c.maxRel, c.name).toBeLessThanOrEqual(KERNEL_TOLERANCE);
    expect(tf.memory().numTensors).toBe(before);
  });
});
