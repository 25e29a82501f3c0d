/** CLIP ViT-L/14 (Hugging Face CLIPModel): the image embedding of the aesthetic head and the CLIP score. */
import { type ClipModel, type ClipModelConfig, clipBinding, clipImageEmbeds, clipTextEmbeds } from '../../model/clip/clip-model';
import { defineRewardModel, need } from '../reward-def';

export const clipVitL14 = defineRewardModel({
  id: 'clip-vit-l14',
  role: 'clip',
  label: 'the CLIP model',
  needs: {
    kind: 'clip',
    weightFiles: ['model.safetensors'],
    config: { files: ['config.json'], describe: "Hugging Face CLIPModel's config.json" },
  },
  installs: { demo: 'demo-clip', tiny: 'tiny-clip', sd15: 'clip-vit-l14' },
  // the text tower only when a reward reads the prompt through it: the aesthetic head alone needs vision only
  binding: (config, { withText, precision }) => clipBinding(config as ClipModelConfig, withText ? ['vision', 'text'] : ['vision'], precision.clipVision),
  image: {
    size: (m: ClipModel) => need(m.vision, 'the CLIP vision tower').imageSize,
    features: (m: ClipModel, px) => clipImageEmbeds(m, px),
  },
  text: {
    // Stable Diffusion's own tokenizer, unpadded: the prompt ids SD encodes
    tokens: { variant: 'clip', padding: 'none' },
    features: (m: ClipModel, ids) => clipTextEmbeds(m, ids),
    parts: (m: ClipModel) => [m.text, m.textProjection],
  },
});
