/** The LAION aesthetic score: the aesthetic head on the L2-normalised CLIP ViT-L/14 image embedding. */
import * as tf from '@tensorflow/tfjs';
import { aestheticForward } from './aesthetic';
import { defineReward, l2Normalize, need } from './reward-def';
import { imageFeatures } from './reward-models';

export const aestheticReward = defineReward({
  id: 'aesthetic',
  label: 'LAION aesthetic',
  description: 'LAION improved aesthetic predictor (MLP) on the L2-normalised CLIP ViT-L/14 image embedding; about 1–10.',
  models: ['clip-vit-l14', 'laion-aesthetic'],
  text: null,
  // the paper's default objective
  defaultWeight: 1,
  score: (image01, ctx, cache) => tf.tidy(() => aestheticForward(
    need(ctx.models.aesthetic, 'the aesthetic head'), l2Normalize(imageFeatures('clip-vit-l14', image01, ctx, cache)))),
  display: { min: 0, max: 10, fromRaw: (r) => r },
});
