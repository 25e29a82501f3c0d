import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomStore } from '../../test/random-weights';
import { storeSource } from '../model/weights';
import { aestheticExpectedKeys } from './aesthetic';
import { type ClipModelConfig, clipExpectedKeys } from '../model/clip/clip-model';
import { type OpenClipModelCfg, openClipExpectedKeys } from '../model/clip/openclip-model';
import {
  type RewardContext, type RewardId, type RewardModels, type RewardMix, disposeRewardModels, disposeRewardText,
  encodeRewardText, getReward, loadRewardModels, mixScore, modelsFor,
} from './registry';
import type { ResizeFilter } from './preprocess';

/**
 * d reward / d image against central finite differences, on small random-weight towers (no fixture data needed):
 * the gradient direction and 3 random unit directions per reward, f(x ± εd) in float32 with ε = 1e-2 (rounding
 * noise of f ≈ 1e-7 → FD noise ≈ 1e-5; truncation O(ε²)), compared as |fd − ⟨∇f, d⟩| ≤ 5e-4·‖∇f‖ + 1e-5
 * (measured ≤ 1e-4·‖∇f‖). Also: no tensor leaks across a
 * forward + backward, and a mix equals the weighted sum of its parts (gradient included).
 */
const clipCfg: ClipModelConfig = {
  projection_dim: 768, // the aesthetic head's input width
  text_config: { vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 2, max_position_embeddings: 12, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 },
  vision_config: { hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 2, image_size: 16, patch_size: 4, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 },
};
const hpsCfg: OpenClipModelCfg = {
  embed_dim: 12,
  vision_cfg: { image_size: 16, patch_size: 4, width: 16, layers: 2, head_width: 8 },
  text_cfg: { context_length: 12, vocab_size: 64, width: 16, heads: 2, layers: 2 },
};

let models: RewardModels;
let ctxText: ReturnType<typeof encodeRewardText>;
let before = 0;

beforeAll(async () => {
  before = tf.memory().numTensors;
  models = await loadRewardModels(['aesthetic', 'clip', 'hps'], async (m) => {
    if (m === 'clip-vit-l14') return { source: storeSource(randomStore(clipExpectedKeys(clipCfg), 11)), config: clipCfg };
    if (m === 'laion-aesthetic') return { source: storeSource(randomStore(aestheticExpectedKeys(768), 12)) };
    return { source: storeSource(randomStore(openClipExpectedKeys(hpsCfg), 13)), config: { model_cfg: hpsCfg } };
  });
  const clipIds = tf.tensor2d([[62, 5, 9, 17, 63]], [1, 5], 'int32'); // unpadded, EOT = max id last
  const hpsIds = tf.tensor2d([[62, 5, 9, 17, 63, 0, 0, 0, 0, 0, 0, 0]], [1, 12], 'int32'); // zero padded
  ctxText = encodeRewardText(models, { clip: clipIds, hps: hpsIds });
  tf.dispose([clipIds, hpsIds]);
});
afterAll(() => {
  disposeRewardText(ctxText);
  disposeRewardModels(models);
  expect(tf.memory().numTensors).toBe(before);
});

function image(size: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([2, size, size, 3], 0.1, 0.9, 'float32', seed) as tf.Tensor4D;
}

function checkGradient(f: (x: tf.Tensor4D) => tf.Tensor1D, x: tf.Tensor4D, seed: number): number {
  const total = (t: tf.Tensor4D) => tf.tidy(() => tf.sum(f(t)).dataSync()[0]!);
  const g = tf.grad((t: tf.Tensor) => tf.sum(f(t as tf.Tensor4D)))(x);
  const gNorm = tf.tidy(() => tf.norm(g).dataSync()[0]!);
  expect(gNorm).toBeGreaterThan(0);
  expect(Number.isFinite(gNorm)).toBe(true);
  const eps = 1e-2;
  let worst = 0;
  // Direction 0 is the gradient itself (⟨g, d⟩ = ‖g‖: catches a wrong scale), then 3 random unit directions.
  for (let k = 0; k < 4; k++) {
    const d = tf.tidy(() => {
      const r = k === 0 ? g : tf.randomNormal(x.shape, 0, 1, 'float32', seed + k);
      return tf.div(r, tf.norm(r));
    });
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, d)).dataSync()[0]!);
    const [xp, xm] = tf.tidy(() => [tf.add(x, tf.mul(d, eps)), tf.sub(x, tf.mul(d, eps))] as tf.Tensor4D[]) as [tf.Tensor4D, tf.Tensor4D];
    const fd = (total(xp) - total(xm)) / (2 * eps);
    tf.dispose([d, xp, xm]);
    const err = Math.abs(fd - analytic) / gNorm;
    worst = Math.max(worst, err);
    expect(Math.abs(fd - analytic)).toBeLessThan(5e-4 * gNorm + 1e-5);
  }
  g.dispose();
  return worst;
}

describe('reward gradients with respect to the image (random tiny towers)', () => {
  const cases: [RewardId, number, ResizeFilter][] = [
    ['aesthetic', 8, 'bilinear'], // 8 → 16: up-sampling
    ['clip', 12, 'bilinear'],
    ['hps', 24, 'bilinear-antialias'], // 24 → 16: the antialiased triangle filter
    ['aesthetic', 24, 'bilinear-antialias'],
  ];
  it.each(cases)('%s on %d² images (%s): finite differences, no leaks', (id, size, filter) => {
    const ctx: RewardContext = { models, text: ctxText, preprocess: { filter } };
    const x = image(size, 5);
    const start = tf.memory().numTensors;
    const worst = checkGradient((t) => getReward(id).score(t, ctx), x, 100);
    expect(tf.memory().numTensors).toBe(start);
    console.log(`gradient check ${id} ${size}² ${filter}: worst |fd − ⟨g,d⟩| / ‖g‖ = ${worst.toExponential(2)}`);
    x.dispose();
  });

  it('a mix is the weighted sum of its rewards (values and gradients), features shared', () => {
    const ctx: RewardContext = { models, text: ctxText };
    const mix: RewardMix = { aesthetic: 0.5, clip: 3, hps: -2 };
    const x = image(16, 9);
    const start = tf.memory().numTensors;
    const got = mixScore(mix, x, ctx);
    const parts = tf.tidy(() => tf.addN((Object.keys(mix) as RewardId[]).map((id) => tf.mul(getReward(id).score(x, ctx), mix[id]!))));
    expect(got.shape).toEqual([2]);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(got, parts))).dataSync()[0]!)).toBeLessThan(1e-5);
    const gMix = tf.grad((t: tf.Tensor) => tf.sum(mixScore(mix, t as tf.Tensor4D, ctx)))(x);
    const gSum = tf.grad((t: tf.Tensor) => tf.sum(tf.addN((Object.keys(mix) as RewardId[]).map((id) => tf.mul(getReward(id).score(t as tf.Tensor4D, ctx), mix[id]!)))))(x);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(gMix, gSum))).dataSync()[0]! / tf.max(tf.abs(gSum)).dataSync()[0]!)).toBeLessThan(1e-5);
    tf.dispose([got, parts, gMix, gSum]);
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
  });

  it('CLIP ViT-L/14 is one model for aesthetic + CLIP score', () => {
    expect(modelsFor(['aesthetic', 'clip'])).toEqual(['clip-vit-l14', 'laion-aesthetic']);
    expect(modelsFor(['clip', 'hps', 'aesthetic'])).toEqual(['clip-vit-l14', 'hpsv2-vit-h14', 'laion-aesthetic']);
  });

  it('CLIP score display form is 100·max(cos, 0)', () => {
    const d = getReward('clip').display;
    expect(d.fromRaw(0.31)).toBeCloseTo(31, 6);
    expect(d.fromRaw(-0.2)).toBe(0);
  });
});
