import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam } from './adam';
import type { BoundaryShape } from './config';
import { orthonormalityErrorHost } from './orthonormal';
import { createParams, disposeIpgoParams, initHostParams, PARAM_NAMES, readParams, type IpgoParams, type ParamName } from './params';
import { Rng } from './rng';
import { applyUpdate } from './update';

const SHAPE: BoundaryShape = { numTokens: 3, rank: 4, textDim: 32, bound: 1, rotation: 'intended' };

function randomGrads(params: IpgoParams, rng: Rng, scale: number): Record<ParamName, tf.Tensor> {
  const out = {} as Record<ParamName, tf.Tensor>;
  for (const n of PARAM_NAMES) out[n] = tf.tensor(Float32Array.from(rng.normalArray(params[n].size), (v) => v * scale), params[n].shape);
  return out;
}

describe('applyUpdate (clip → Adam → retraction)', () => {
  it('keeps W orthonormal over 100 updates, clips large gradients, and leaks nothing', async () => {
    const rng = new Rng(21);
    const params = createParams(initHostParams(SHAPE, rng), SHAPE);
    const adam = new Adam<ParamName>(params, { lr: 1e-3 });
    const before = tf.memory().numTensors;
    let worst = 0;
    for (let i = 0; i < 100; i++) {
      const grads = randomGrads(params, rng, i % 2 ? 10 : 0.01);
      const r = await applyUpdate(params, grads, adam, 1.0);
      tf.dispose(Object.values(grads));
      expect(r.applied).toBe(true);
      if (i % 2) expect(r.clipScale).toBeCloseTo(1 / (r.gradNorm + 1e-6), 9);
      else expect(r.clipScale).toBe(1);
      worst = Math.max(worst, r.orthonormalityError);
    }
    expect(worst).toBeLessThan(1e-5);
    const host = await readParams(params);
    expect(orthonormalityErrorHost(host.W_prefix, 32, 12)).toBeLessThan(1e-5);
    expect(adam.stepCount).toBe(100);
    expect(tf.memory().numTensors).toBe(before);
    adam.dispose();
    disposeIpgoParams(params);
  });

  it('skips the whole update on a NaN/Inf gradient and names the offending parameter', async () => {
    const rng = new Rng(22);
    const params = createParams(initHostParams(SHAPE, rng), SHAPE);
    const adam = new Adam<ParamName>(params);
    const hostBefore = await readParams(params);
    const grads = randomGrads(params, rng, 1);
    grads.b_suffix.dispose();
    grads.b_suffix = tf.fill([32], NaN);
    const r = await applyUpdate(params, grads, adam, 1.0);
    expect(r.applied).toBe(false);
    expect(r.skippedReason).toMatch(/non-finite gradient .* in b_suffix; update skipped/);
    expect(adam.stepCount).toBe(0);
    expect(await readParams(params)).toEqual(hostBefore);
    tf.dispose(Object.values(grads));
    adam.dispose();
    disposeIpgoParams(params);
  });
});
