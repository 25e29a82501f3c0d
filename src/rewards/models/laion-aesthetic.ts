/** The LAION improved aesthetic predictor's head (aesthetic.ts), read on CLIP ViT-L/14's image embedding. */
import { aestheticBinding } from '../aesthetic';
import { defineRewardModel } from '../reward-def';

export const laionAesthetic = defineRewardModel({
  id: 'laion-aesthetic',
  role: 'aesthetic',
  label: 'the aesthetic head',
  needs: {
    kind: 'aesthetic-head',
    weightFiles: ['model.safetensors', 'sac+logos+ava1-l14-linearMSE.pth'],
    config: null,
  },
  installs: { demo: 'demo-aesthetic', tiny: 'tiny-aesthetic', sd15: 'laion-aesthetic-l14' },
  binding: () => aestheticBinding(),
});
