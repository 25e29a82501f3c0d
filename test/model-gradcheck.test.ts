/**
 * Issue 3's gradient check: d(Σ image)/d(conditioning) through the last sampling step — guided UNet → LMS step →
 * VAE decode — by tfjs autodiff (with the UNet's and the decoder's gradient checkpointing, the default) against
 * central finite differences, on the built-in tiny model (tools/make-tiny-model). The image is the decoder's
 * output mapped to [0, 1] without the final clamp, so the function is smooth for finite differences.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, encodeIds, guidedNoise, promptIds, seededNoise, type StableDiffusion } from '../src/model/pipeline';
import { samplerSteps } from '../src/model/schedulers';
import { makeTinyModel } from '../tools/make-tiny-model';
import { fsModelFiles } from '../tools/lib/fs-model-files';

let root: string;
let sd: StableDiffusion;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'model-gradcheck-'));
  makeTinyModel(root);
  sd = await loadStableDiffusion(fsModelFiles(path.join(root, 'tiny-sd')));
});

afterAll(() => {
  disposeStableDiffusion(sd);
  fs.rmSync(root, { recursive: true, force: true });
});

it('d(sum of image)/d(conditioning) through the last step matches central finite differences', () => {
  const before = tf.memory().numTensors;
  const guidance = 7.5;
  const ids = promptIds(sd, 'a watercolor fox');
  const cond = encodeIds(sd, ids);
  const uncond = encodeIds(sd, promptIds(sd, '', ids.length));
  // 'trailing' spacing ends at t = 333 instead of t = 0, so the last step has σ ≈ 0.6 and a sizeable effect of C on
  // the image (with 'linspace' σ_last ≈ 0.03 and the derivative is drowned in float32 noise of Σ image).
  const scheduler = samplerSteps('lms', { ...sd.schedulerConfig, timestep_spacing: 'trailing' }, 3);
  const n = scheduler.timesteps.length;

  // Steps 0 … n−2 without gradients; keep z_{n−1} and the LMS derivative history.
  let z = tf.tidy(() => tf.mul(seededNoise([1, 8, 8, sd.latentChannels], 5), scheduler.initNoiseSigma)) as tf.Tensor4D;
  const history: tf.Tensor[] = [];
  for (let i = 0; i < n - 1; i++) {
    const t = scheduler.timesteps[i]!;
    const [next, derivative] = tf.tidy(() => {
      const eps = guidedNoise(sd.unet, scheduler.scale(i, z) as tf.Tensor4D, t, uncond, cond, guidance);
      const out = scheduler.step(i, z, eps, history);
      return [out.next, out.item!];
    });
    z.dispose();
    history.push(derivative!);
    z = next as tf.Tensor4D;
  }

  // The last step as a function of the conditioning.
  const last = n - 1;
  const image = (c: tf.Tensor) => tf.tidy(() => {
    const eps = guidedNoise(sd.unet, scheduler.scale(last, z) as tf.Tensor4D, scheduler.timesteps[last]!, uncond, c as tf.Tensor3D, guidance);
    const zN = scheduler.step(last, z, eps, history).next;
    const raw = sd.vae.decode(tf.div(zN, sd.vae.scalingFactor) as tf.Tensor4D);
    return tf.add(tf.div(raw, 2), 0.5);
  });
  const hostSum = (c: tf.Tensor): number => {
    const img = image(c);
    const s = (img.dataSync() as Float32Array).reduce((a, b) => a + b, 0); // float64 accumulation
    img.dispose();
    return s;
  };
  const grad = tf.grad((c: tf.Tensor) => tf.sum(image(c)))(cond);
  expect(grad.shape).toEqual(cond.shape);

  // Along the gradient's own direction (largest signal) and along a random direction. Float32 rounding puts
  // ≈1e-3 of noise on Σ image (≈6.8e3), hence steps of 0.2–0.5 (truncation error measured ≤ 5e-4 there).
  const random = tf.tidy(() => { const r = tf.randomNormal(cond.shape, 0, 1, 'float32', 17); return tf.div(r, tf.norm(r)); });
  const own = tf.tidy(() => tf.div(grad, tf.norm(grad)));
  for (const [name, d, eps, tol] of [['gradient direction', own, 0.2, 2e-3], ['random direction', random, 0.5, 5e-3]] as const) {
    const [plus, minus] = tf.tidy(() => [tf.add(cond, tf.mul(d, eps)), tf.sub(cond, tf.mul(d, eps))]);
    const fd = (hostSum(plus!) - hostSum(minus!)) / (2 * eps);
    const analytic = tf.tidy(() => tf.sum(tf.mul(grad, d)).dataSync()[0]!);
    const rel = Math.abs(analytic - fd) / Math.abs(fd);
    console.log(`[gradcheck] d(Σ image)/dC along the ${name}: autodiff ${analytic.toPrecision(6)}, central FD ${fd.toPrecision(6)}, rel ${rel.toExponential(2)}`);
    expect(Math.abs(analytic)).toBeGreaterThan(0.1);
    expect(rel, name).toBeLessThan(tol);
    tf.dispose([plus!, minus!]);
  }
  tf.dispose([own, random]);

  tf.dispose([grad, cond, uncond, z, ...history]);
  expect(tf.memory().numTensors).toBe(before);
});
