/**
 * Configs of the built-in tiny model: SD1.5's block structure at tiny widths (the same architecture facts as
 * the reference fixtures), plus tiny reward towers. Written as diffusers / transformers / open_clip config files.
 */
export const TEXT_ENCODER_CONFIG = {
  _name_or_path: 'ipgo-studio/tiny-sd', architectures: ['CLIPTextModel'], attention_dropout: 0.0, bos_token_id: 0,
  dropout: 0.0, eos_token_id: 2, hidden_act: 'quick_gelu', hidden_size: 32, initializer_factor: 1.0,
  initializer_range: 0.02, intermediate_size: 64, layer_norm_eps: 1e-5, max_position_embeddings: 77,
  model_type: 'clip_text_model', num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: 1, projection_dim: 32,
  torch_dtype: 'float32', vocab_size: 49408,
};

export const UNET_CONFIG = {
  _class_name: 'UNet2DConditionModel', _diffusers_version: '0.25.1', act_fn: 'silu', attention_head_dim: 2,
  block_out_channels: [32, 64, 64, 64], center_input_sample: false, cross_attention_dim: 32,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2,
  mid_block_scale_factor: 1, norm_eps: 1e-5, norm_num_groups: 8, out_channels: 4, sample_size: 8,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  use_linear_projection: false,
};

export const VAE_CONFIG = {
  _class_name: 'AutoencoderKL', _diffusers_version: '0.25.1', act_fn: 'silu', block_out_channels: [8, 16, 16, 16],
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
  in_channels: 3, latent_channels: 4, layers_per_block: 2, norm_num_groups: 4, out_channels: 3, sample_size: 64,
  scaling_factor: 0.18215,
  up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

/** SD1.5's scheduler_config.json: PNDM, and deliberately no timestep_spacing (LMS then uses "linspace"). */
export const SCHEDULER_CONFIG = {
  _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear',
  beta_start: 0.00085, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1,
  trained_betas: null, clip_sample: false, prediction_type: 'epsilon',
};

export const MODEL_INDEX = {
  _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.25.1',
  feature_extractor: [null, null], requires_safety_checker: false, safety_checker: [null, null],
  scheduler: ['diffusers', 'PNDMScheduler'], text_encoder: ['transformers', 'CLIPTextModel'],
  tokenizer: ['transformers', 'CLIPTokenizer'], unet: ['diffusers', 'UNet2DConditionModel'],
  vae: ['diffusers', 'AutoencoderKL'],
};

export const TOKENIZER_CONFIG = {
  add_prefix_space: false, bos_token: '<|startoftext|>', clean_up_tokenization_spaces: true, do_lower_case: true,
  eos_token: '<|endoftext|>', errors: 'replace', model_max_length: 77, pad_token: '<|endoftext|>',
  tokenizer_class: 'CLIPTokenizer', unk_token: '<|endoftext|>',
};

export const SPECIAL_TOKENS_MAP = {
  bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', unk_token: '<|endoftext|>',
};

const towerText = {
  hidden_act: 'quick_gelu', hidden_size: 32, intermediate_size: 128, layer_norm_eps: 1e-5, max_position_embeddings: 77,
  num_attention_heads: 4, num_hidden_layers: 2, vocab_size: 49408, projection_dim: 768, model_type: 'clip_text_model',
};

/** HF CLIPModel with projection_dim 768, so the real-shaped LAION aesthetic head reads its image embeddings. */
export const CLIP_CONFIG = {
  architectures: ['CLIPModel'], model_type: 'clip', projection_dim: 768, logit_scale_init_value: 2.6592,
  text_config: towerText,
  vision_config: {
    hidden_act: 'quick_gelu', hidden_size: 32, image_size: 32, intermediate_size: 128, layer_norm_eps: 1e-5,
    num_attention_heads: 4, num_channels: 3, num_hidden_layers: 2, patch_size: 8, projection_dim: 768,
    model_type: 'clip_vision_model',
  },
};

/** transformers' CLIPImageProcessor config for the tiny tower's 32-pixel input (OpenAI CLIP mean/std). */
export const CLIP_PREPROCESSOR_CONFIG = {
  crop_size: { height: 32, width: 32 }, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_rescale: true,
  do_resize: true, image_mean: [0.48145466, 0.4578275, 0.40821073], image_processor_type: 'CLIPImageProcessor',
  image_std: [0.26862954, 0.26130258, 0.27577711], resample: 3, rescale_factor: 0.00392156862745098, size: { shortest_edge: 32 },
};

export const OPEN_CLIP_CONFIG = {
  model_cfg: {
    embed_dim: 24,
    vision_cfg: { image_size: 32, layers: 2, width: 32, head_width: 8, patch_size: 8 },
    text_cfg: { context_length: 77, vocab_size: 49408, width: 32, heads: 4, layers: 2 },
  },
  preprocess_cfg: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
};
