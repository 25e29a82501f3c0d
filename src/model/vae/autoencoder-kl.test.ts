import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WeightStore } from '../weights';
import { fixturePath, missingReason } from '../../../test/golden';
import { singleHeadAttention } from './attention';
import { AutoencoderKL, latentsToImage01 } from './autoencoder-kl';
import { parseVaeConfig } from './config';
import { expectedVaeKeys } from './autoencoder-kl';
import { vaeLegacyKeyMap } from './attention';
import type { ParamSpec as VaeKey } from '../params';
import { nearestUpsample2x } from './sampling';

/** A tiny VAE (2 blocks) for fast structural and gradient tests. */
const TINY = parseVaeConfig({
  block_out_channels: [8, 16],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
  layers_per_block: 1,
  latent_channels: 4,
  norm_num_groups: 4,
  scaling_factor: 0.18215,
});

/** Random weights for every key of the spec (norm gammas around 1, so activations stay O(1)). */
function randomStore(keys: VaeKey[], rename: (k: string) => string = (k) => k): WeightStore {
  const m = new Map<string, tf.Tensor>();
  keys.forEach(({ key, shape }, i) => {
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const isNormWeight = shape.length === 1 && key.endsWith('.weight');
    const t = tf.tidy(() => {
      const r = tf.randomNormal(shape, 0, 1, 'float32', 1000 + i);
      if (isNormWeight) return tf.add(1, tf.mul(r, 0.1));
      return shape.length === 1 ? tf.mul(r, 0.05) : tf.div(r, Math.sqrt(fanIn));
    });
    m.set(rename(key), t);
  });
  return new WeightStore(m);
}

describe('AutoencoderKL structure', () => {
  it('the builder takes exactly the keys expectedVaeKeys lists (diffusers and legacy names)', () => {
    const before = tf.memory().numTensors;
    const legacy = vaeLegacyKeyMap(TINY);
    expect(Object.keys(legacy)).toHaveLength(16);
    for (const rename of [(k: string) => k, (k: string) => legacy[k] ?? k]) {
      const store = randomStore(expectedVaeKeys(TINY), rename);
      const vae = AutoencoderKL.fromWeights(TINY, store);
      expect(store.unusedKeys()).toEqual([]);
      store.dispose();
      vae.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('decoder-only loading leaves exactly the encoder and quant_conv unused', () => {
    const store = randomStore(expectedVaeKeys(TINY));
    const vae = AutoencoderKL.fromWeights(TINY, store, { decoderOnly: true });
    const decoderKeys = new Set(expectedVaeKeys(TINY, { part: 'decoder' }).map((k) => k.key));
    expect(store.unusedKeys().sort()).toEqual(store.keys().filter((k) => !decoderKeys.has(k)).sort());
    expect(store.unusedKeys().every((k) => k.startsWith('encoder.') || k.startsWith('quant_conv.'))).toBe(true);
    const img = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => vae.encode(img)).toThrow(/decoder-only/);
    tf.dispose(img);
    store.dispose();
    vae.dispose();
  });

  it('a weight of the wrong shape fails with its key', () => {
    const keys = expectedVaeKeys(TINY).map((k) => (k.key === 'decoder.conv_in.weight' ? { ...k, shape: [16, 4, 1, 1] } : k));
    const store = randomStore(keys);
    expect(() => AutoencoderKL.fromWeights(TINY, store)).toThrow(/decoder\.conv_in\.weight/);
    store.dispose();
  });

  it('output shapes: 2^(blocks−1) upscaling, latent channels out of the encoder', () => {
    const before = tf.memory().numTensors;
    const store = randomStore(expectedVaeKeys(TINY));
    const vae = AutoencoderKL.fromWeights(TINY, store);
    store.dispose();
    const z = tf.randomNormal([2, 4, 6, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
    const x = vae.decode(z);
    expect(x.shape).toEqual([2, 8, 12, 3]);
    const d = vae.encode(x);
    expect(d.mean.shape).toEqual([2, 4, 6, 4]);
    tf.dispose([z, x, d.mean, d.logvar, d.std]);
    vae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('AutoencoderKL numerics', () => {
  it('query-chunked attention equals the one-block attention', () => {
    const before = tf.memory().numTensors;
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([2, 37, 8], 0, 1, 'float32', s) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const full = singleHeadAttention(q, k, v, 0.35, 1 << 30);
    const chunked = singleHeadAttention(q, k, v, 0.35, 4 * 2 * 37 * 5); // 5 query rows per block
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(full, chunked))).dataSync()[0]!);
    expect(diff).toBeLessThan(1e-6);
    tf.dispose([q, k, v, full, chunked]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('nearest ×2 upsampling equals tf.image.resizeNearestNeighbor (torch "nearest")', () => {
    const x = tf.randomNormal([1, 3, 5, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const a = nearestUpsample2x(x);
    const b = tf.image.resizeNearestNeighbor(x, [6, 10]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([x, a, b]);
  });

  it('tf.grad of the decoder w.r.t. latents matches central finite differences; no leaks', () => {
    const store = randomStore(expectedVaeKeys(TINY, { part: 'decoder' }));
    const vae = AutoencoderKL.fromWeights(TINY, store, { decoderOnly: true });
    store.dispose();
    const z0 = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 11) as tf.Tensor4D;
    const dir = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 12) as tf.Tensor4D;
    const w = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 13);
    const before = tf.memory().numTensors;
    const loss = (z: tf.Tensor) => tf.tidy(() => tf.sum(tf.mul(vae.decode(z as tf.Tensor4D), w)));
    const g = tf.grad(loss)(z0);
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, dir)).dataSync()[0]!);
    const h = 1e-2;
    const at = (s: number) => tf.tidy(() => loss(tf.add(z0, tf.mul(dir, s))).dataSync()[0]!);
    const numeric = (at(h) - at(-h)) / (2 * h);
    const rel = Math.abs(analytic - numeric) / Math.abs(numeric);
    console.log(`VAE decoder directional derivative: autograd ${analytic}, finite difference ${numeric}, rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-2);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // latentsToImage01 stays differentiable (clamp passes gradients inside [0, 1])
    const gi = tf.grad((z: tf.Tensor) => tf.sum(latentsToImage01(vae, tf.mul(z, 0.02) as tf.Tensor4D)))(z0);
    expect(tf.tidy(() => tf.sum(tf.abs(gi)).dataSync()[0]!)).toBeGreaterThan(0);
    gi.dispose();
    tf.dispose([z0, dir, w]);
    vae.dispose();
  });
});

const SHAPES = fixturePath('sd15-shapes.json');
const shapesMissing = missingReason([SHAPES]);

describe.skipIf(shapesMissing !== null)('expectedVaeKeys vs the real SD1.5 VAE (dry bind, no allocation)', () => {
  interface Sd15Vae { config_json: Record<string, unknown>; keys: VaeKey[]; legacy_key_map: Record<string, string>; num_parameters: number; decoder_num_parameters?: number }
  const load = () => (JSON.parse(fs.readFileSync(SHAPES, 'utf8')) as { sd15: { vae: Sd15Vae } }).sd15.vae;
  const sorted = (ks: VaeKey[]) => ks.map(({ key, shape }) => ({ key, shape })).sort((a, b) => a.key.localeCompare(b.key));
  const params = (ks: VaeKey[]) => ks.reduce((n, k) => n + k.shape.reduce((a, b) => a * b, 1), 0);

  it('same keys and shapes, diffusers names and the legacy names stored in the real file', () => {
    const raw = load();
    const real = { ...raw, keys: raw.keys.map(({ key, shape }) => ({ key, shape })) };
    const cfg = parseVaeConfig(real.config_json);
    expect(sorted(expectedVaeKeys(cfg))).toEqual(sorted(real.keys));
    const asStored = real.keys.map((k) => ({ key: real.legacy_key_map[k.key] ?? k.key, shape: k.shape }));
    expect(sorted(expectedVaeKeys(cfg, { legacyAttentionNames: true }))).toEqual(sorted(asStored));
    expect(vaeLegacyKeyMap(cfg)).toEqual(real.legacy_key_map);
    expect(params(expectedVaeKeys(cfg))).toBe(real.num_parameters);
    if (real.decoder_num_parameters !== undefined) {
      expect(params(expectedVaeKeys(cfg, { part: 'decoder' }))).toBe(real.decoder_num_parameters);
    }
  });
});
