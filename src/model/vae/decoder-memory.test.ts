import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { WeightStore } from '../weights';
import { AutoencoderKL } from './autoencoder-kl';
import { parseVaeConfig } from './config';
import { expectedVaeKeys } from './autoencoder-kl';

/** Three levels, so the decoder has resnets with and without shortcuts, upsamplers and the mid attention. */
const CONFIG = parseVaeConfig({
  block_out_channels: [8, 16, 16], layers_per_block: 1, latent_channels: 4, norm_num_groups: 4,
  down_block_types: Array(3).fill('DownEncoderBlock2D'), up_block_types: Array(3).fill('UpDecoderBlock2D'),
});

function tinyVae(seed: number): AutoencoderKL {
  const m = new Map<string, tf.Tensor>();
  expectedVaeKeys(CONFIG).forEach(({ key, shape }, i) => m.set(key, tf.tidy(() => {
    const r = tf.randomNormal(shape, 0, 1, 'float32', seed + i);
    if (shape.length > 1) return tf.div(r, Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)));
    return key.includes('norm') && key.endsWith('.weight') ? tf.add(1, tf.mul(r, 0.1)) : tf.mul(r, 0.05);
  })));
  const store = new WeightStore(m);
  const vae = AutoencoderKL.fromWeights(CONFIG, store, { decoderOnly: true });
  store.dispose();
  return vae;
}

/** Largest tensor (bytes) any op creates while `f` runs, by watching the engine's tensor registration. */
function largestTensorDuring(f: () => void): { bytes: number; shape: number[] } {
  const engine = tf.engine() as unknown as { trackTensor: (t: tf.Tensor, b: unknown) => void };
  const original = engine.trackTensor;
  let largest = { bytes: 0, shape: [] as number[] };
  engine.trackTensor = function (t: tf.Tensor, b: unknown) {
    const bytes = t.size * 4;
    if (bytes > largest.bytes) largest = { bytes, shape: [...t.shape] };
    return original.call(this, t, b);
  };
  try {
    f();
  } finally {
    engine.trackTensor = original;
  }
  return largest;
}

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('VAE decoder memory layout', () => {
  const z = () => tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
  const r = () => tf.randomNormal([2, 24, 24, 3], 0, 1, 'float32', 8);
  const vjp = (vae: AutoencoderKL, zt: tf.Tensor4D, rt: tf.Tensor) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(vae.decode(x as tf.Tensor4D), rt)))(zt);

  it('checkpointed decode gives the same vjp as plain autodiff and leaks nothing', () => {
    const vae = tinyVae(100);
    const [zt, rt] = [z(), r()];
    const before = tf.memory().numTensors;
    vae.checkpointing = false;
    const plain = vjp(vae, zt, rt);
    vae.checkpointing = true;
    const ck = vjp(vae, zt, rt);
    expect(relErr(ck, plain)).toBeLessThan(1e-6);
    expect(tf.tidy(() => tf.norm(plain).dataSync()[0]!)).toBeGreaterThan(0);
    tf.dispose([plain, ck]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([zt, rt]);
    vae.dispose();
  });

  it('a small tensor budget splits activations along channels: same image and vjp, no tensor over the budget', () => {
    const vae = tinyVae(200);
    const [zt, rt] = [z(), r()];
    const full = vae.decode(zt);
    const fullGrad = vjp(vae, zt, rt);
    const unbounded = largestTensorDuring(() => tf.dispose(vjp(vae, zt, rt)));
    // Largest decoder activations: [2, 24, 24, 8] and [2, 24, 24, 16] (the upsampled last level) = 73 728 B.
    expect(unbounded.bytes).toBe(2 * 24 * 24 * 16 * 4);
    vae.maxTensorBytes = 2 * 24 * 24 * 4 * 4; // one GroupNorm group (4 channels) of the last level
    for (const checkpointing of [false, true]) {
      vae.checkpointing = checkpointing;
      let image: tf.Tensor | undefined;
      let grad: tf.Tensor | undefined;
      const seen = largestTensorDuring(() => {
        image = vae.decode(zt);
        grad = vjp(vae, zt, rt);
      });
      expect(seen.bytes).toBeLessThanOrEqual(vae.maxTensorBytes);
      expect(relErr(image!, full)).toBeLessThan(1e-6);
      expect(relErr(grad!, fullGrad)).toBeLessThan(1e-6);
      tf.dispose([image!, grad!]);
    }
    tf.dispose([full, fullGrad, zt, rt]);
    vae.dispose();
  });

  it('a forward-only decode frees each stage as it goes: its peak is a few activations, not all of them', async () => {
    const vae = tinyVae(300);
    const zt = tf.randomNormal([1, 16, 16, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
    const largest = largestTensorDuring(() => tf.dispose(vae.decode(zt))).bytes; // [1, 64, 64, 16]
    const base = tf.memory().numBytes;
    const tensorsBefore = tf.memory().numTensors;
    let image: tf.Tensor | undefined;
    const info = await tf.profile(() => { image = vae.decode(zt); });
    const peakInLargest = (info.peakBytes - base) / largest;
    // Measured 5.0 (around the last level's GroupNorm); keeping every intermediate until the decode's scope
    // ended, as before, peaked at 15.4
    expect(peakInLargest).toBeLessThan(6.5);
    image!.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore); // freeing early neither leaks nor double-frees
    zt.dispose();
    vae.dispose();
  });
});
