import type { RewardModelId } from './registry';

/**
 * What each reward model needs from its files, in one place for the app (installed models) and the runner (model
 * folders): which manifest kind serves it, which weight files a folder may hold, and its config — read from the
 * model's config file when it has one, else the built-in one. HPSv2's checkpoint is a bare state_dict: its
 * architecture is open_clip's ViT-H-14 config, which is part of open_clip, not of the HPSv2 repository.
 */
export interface RewardModelNeeds {
  /** The manifest `kind` whose installs serve this model. */
  kind: 'clip' | 'openclip' | 'aesthetic-head';
  /** Weight files a model folder may hold, by preference (an install names its own: the file of role 'model'). */
  weightFiles: string[];
  /** null: the loader needs no config (the aesthetic head's shapes come from its weights). */
  config: null | {
    /** Config files a folder may hold, by preference (an install: the file of role 'config'). */
    files: string[];
    /** What the config is, for messages. */
    describe: string;
    /** Used when the model has no config file. */
    builtin?: unknown;
  };
}

/** open_clip's `ViT-H-14.json` model config (GELU, not QuickGELU): the architecture of HPSv2's checkpoint. */
export const OPEN_CLIP_VIT_H14_CONFIG = {
  embed_dim: 1024,
  vision_cfg: { image_size: 224, layers: 32, width: 1280, head_width: 80, patch_size: 14 },
  text_cfg: { context_length: 77, vocab_size: 49408, width: 1024, heads: 16, layers: 24 },
} as const;

export const REWARD_MODEL_NEEDS: Record<RewardModelId, RewardModelNeeds> = {
  'clip-vit-l14': {
    kind: 'clip',
    weightFiles: ['model.safetensors'],
    config: { files: ['config.json'], describe: "Hugging Face CLIPModel's config.json" },
  },
  'laion-aesthetic': {
    kind: 'aesthetic-head',
    weightFiles: ['model.safetensors', 'sac+logos+ava1-l14-linearMSE.pth'],
    config: null,
  },
  'hpsv2-vit-h14': {
    kind: 'openclip',
    weightFiles: ['open_clip_model.safetensors', 'HPS_v2_compressed.pt', 'HPS_v2.pt'],
    config: { files: ['open_clip_config.json'], describe: "open_clip's model config (open_clip_config.json)", builtin: OPEN_CLIP_VIT_H14_CONFIG },
  },
};

/** The reward model a manifest kind serves (undefined: not a reward model). */
export function rewardModelOfKind(kind: string): RewardModelId | undefined {
  return (Object.keys(REWARD_MODEL_NEEDS) as RewardModelId[]).find((m) => REWARD_MODEL_NEEDS[m].kind === kind);
}

/** The config a model loads with: its own file's, else the built-in one; a clear error when it has neither. */
export function rewardModelConfig(model: RewardModelId, fromFile: unknown): unknown {
  const need = REWARD_MODEL_NEEDS[model].config;
  if (!need) return undefined;
  const config = fromFile ?? need.builtin;
  if (config === undefined) throw new Error(`the ${model} model needs ${need.describe}, and its files have none`);
  return config;
}
