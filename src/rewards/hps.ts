/** Human Preference Score v2: cosine of the normalised HPSv2 (OpenCLIP ViT-H/14) image and prompt features. */
import * as tf from '@tensorflow/tfjs';
import { defineReward, l2Normalize, need, rowDot } from './reward-def';
import { imageFeatures } from './reward-models';

export const hpsReward = defineReward({
  id: 'hps',
  label: 'HPSv2',
  description: 'Human Preference Score v2 (OpenCLIP ViT-H/14): cosine of normalised image and prompt features.',
  models: ['hpsv2-vit-h14'],
  text: 'hps',
  defaultWeight: 0,
  score: (image01, ctx, cache) => tf.tidy(() =>
    rowDot(l2Normalize(imageFeatures('hpsv2-vit-h14', image01, ctx, cache)), need(ctx.text?.hps, 'HPS text features'))),
  display: { min: 0, max: 0.4, fromRaw: (r) => r },
});
