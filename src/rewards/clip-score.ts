/** The CLIP score: cosine of the normalised CLIP ViT-L/14 image and prompt-text embeddings. */
import * as tf from '@tensorflow/tfjs';
import { defineReward, l2Normalize, need, rowDot } from './reward-def';
import { imageFeatures } from './reward-models';

export const clipScoreReward = defineReward({
  id: 'clip',
  label: 'CLIP score',
  description: 'Cosine of the normalised CLIP ViT-L/14 image and prompt-text embeddings (shown as 100·max(cos, 0)).',
  models: ['clip-vit-l14'],
  text: 'clip',
  defaultWeight: 0,
  score: (image01, ctx, cache) => tf.tidy(() =>
    rowDot(l2Normalize(imageFeatures('clip-vit-l14', image01, ctx, cache)), need(ctx.text?.clip, 'CLIP text features'))),
  display: { min: 0, max: 100, fromRaw: (r) => Math.max(100 * r, 0) },
});
