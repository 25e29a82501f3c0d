/** Human Preference Score v2: cosine of the normalised HPSv2 (OpenCLIP ViT-H/14) image and prompt features. */
import { defineReward } from './reward-def';
import { textImageCosine } from './reward-models';

export const hpsReward = defineReward({
  id: 'hps',
  label: 'HPSv2',
  description: 'Human Preference Score v2 (OpenCLIP ViT-H/14): cosine of normalised image and prompt features.',
  models: ['hpsv2-vit-h14'],
  text: 'hps',
  defaultWeight: 0,
  score: (image01, ctx, cache) => textImageCosine('hpsv2-vit-h14', image01, ctx, cache),
  display: { min: 0, max: 0.4, fromRaw: (r) => r },
});
