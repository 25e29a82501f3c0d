/** The CLIP score: cosine of the normalised CLIP ViT-L/14 image and prompt-text embeddings. */
import { defineReward } from './reward-def';
import { textImageCosine } from './reward-models';

export const clipScoreReward = defineReward({
  id: 'clip',
  label: 'CLIP score',
  description: 'Cosine of the normalised CLIP ViT-L/14 image and prompt-text embeddings (shown as 100·max(cos, 0)).',
  models: ['clip-vit-l14'],
  text: 'clip',
  defaultWeight: 0,
  score: (image01, ctx, cache) => textImageCosine('clip-vit-l14', image01, ctx, cache),
  display: { min: 0, max: 100, fromRaw: (r) => Math.max(100 * r, 0) },
});
