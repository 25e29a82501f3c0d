import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { matmulChecksum, runMatmulBench } from './matmul-bench';

describe('matmul bench job', () => {
  it('computes the closed-form checksum on the active backend, streams progress, frees its tensors', async () => {
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const r = await runMatmulBench({ size: 37, repeats: 2 }, (p) => progress.push(p.done), () => false);
    expect(r.checksum).toBeCloseTo(matmulChecksum(37), 3);
    expect(r.expectedChecksum).toBe(matmulChecksum(37));
    expect(progress).toEqual([0, 1, 2]);
    expect(r.gflops).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input and honours cancel', async () => {
    await expect(runMatmulBench({ size: 0, repeats: 1 }, () => {}, () => false)).rejects.toThrow(/size must be/);
    await expect(runMatmulBench({ size: 8, repeats: 1 }, () => {}, () => true)).rejects.toMatchObject({ code: 'cancelled' });
  });
});
