import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { KERNEL_TOLERANCE, checkKernels } from './self-check';

describe('custom kernels on WebGPU (Node, Dawn)', () => {
  it('every kernel within 1e-5 of its reference op (packed layers, fused attention), forward and gradients; no leaks', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const before = tf.memory().numTensors;
    const checks = await checkKernels();
    expect(checks.length).toBe(2 * (4 * 2 + 7 * 3) + 6 * 4); // packed, then fused attention (forward, dq, dk, dv)
    for (const c of checks) expect(c.maxRel, c.name).toBeLessThanOrEqual(KERNEL_TOLERANCE);
    expect(tf.memory().numTensors).toBe(before);
  });
});
