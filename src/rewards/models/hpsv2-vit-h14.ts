/**
 * HPSv2: an OpenCLIP ViT-H/14 fine-tuned on human preferences. Its checkpoint is a bare state_dict: the
 * architecture is open_clip's ViT-H-14 config, which is part of open_clip, not of the HPSv2 repository, so it is
 * built in here for installs without an open_clip_config.json.
 */
import { type OpenClipModel, openClipBinding, openClipImageFeatures, openClipModelCfg, openClipTextFeatures } from '../../model/clip/openclip-model';
import { defineRewardModel, need } from '../reward-def';

/** open_clip's `ViT-H-14.json` model config (GELU, not QuickGELU): the architecture of HPSv2's checkpoint. */
export const OPEN_CLIP_VIT_H14_CONFIG = {
  embed_dim: 1024,
  vision_cfg: { image_size: 224, layers: 32, width: 1280, head_width: 80, patch_size: 14 },
  text_cfg: { context_length: 77, vocab_size: 49408, width: 1024, heads: 16, layers: 24 },
} as const;

export const hpsV2VitH14 = defineRewardModel({
  id: 'hpsv2-vit-h14',
  role: 'hps',
  label: 'the HPSv2 model',
  needs: {
    kind: 'openclip',
    weightFiles: ['open_clip_model.safetensors', 'HPS_v2_compressed.pt', 'HPS_v2.pt'],
    config: { files: ['open_clip_config.json'], describe: "open_clip's model config (open_clip_config.json)", builtin: OPEN_CLIP_VIT_H14_CONFIG },
  },
  // The demo set trains no HPS tower: its HPSv2 role is the random tiny one (demo-hps serves tiny-hps's files).
  installs: { demo: 'demo-hps', tiny: 'tiny-hps', sd15: 'hpsv2' },
  binding: (config, { withText, precision }) => openClipBinding(openClipModelCfg(config), withText ? ['vision', 'text'] : ['vision'], precision.vitHVision),
  image: {
    size: (m: OpenClipModel) => need(m.vision, 'the HPS vision tower').imageSize,
    features: (m: OpenClipModel, px) => openClipImageFeatures(m, px),
  },
  text: {
    // open_clip's tokenizer pads with zeros to the context length, and the tower reads the EOT position from the ids
    tokens: { variant: 'openclip', padding: 'max_length' },
    features: (m: OpenClipModel, ids) => openClipTextFeatures(m, ids),
    parts: (m: OpenClipModel) => [m.text, m.textProjection],
  },
});
