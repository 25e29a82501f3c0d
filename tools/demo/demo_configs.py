"""Configs of the demo model set, written verbatim as the diffusers / transformers config files of public/demo/."""

TEXT_ENCODER_CONFIG = {
    '_name_or_path': 'ipgo-studio/demo-sd', 'architectures': ['CLIPTextModel'], 'attention_dropout': 0.0, 'bos_token_id': 0,
    'dropout': 0.0, 'eos_token_id': 2, 'hidden_act': 'quick_gelu', 'hidden_size': 32, 'initializer_factor': 1.0,
    'initializer_range': 0.02, 'intermediate_size': 128, 'layer_norm_eps': 1e-5, 'max_position_embeddings': 77,
    'model_type': 'clip_text_model', 'num_attention_heads': 4, 'num_hidden_layers': 2, 'pad_token_id': 1,
    'projection_dim': 32, 'torch_dtype': 'float16', 'vocab_size': 49408,
}

# Latents are 8×8 (32-pixel images, VAE factor 4: three VAE levels where SD has four, so the small shapes survive the
# autoencoder): two UNet levels 8 → 4, cross-attention at both (where the position and background words are read).
UNET_CONFIG = {
    '_class_name': 'UNet2DConditionModel', '_diffusers_version': '0.25.1', 'act_fn': 'silu', 'attention_head_dim': 4,
    'block_out_channels': [16, 48], 'center_input_sample': False, 'cross_attention_dim': 32,
    'down_block_types': ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    'downsample_padding': 1, 'flip_sin_to_cos': True, 'freq_shift': 0, 'in_channels': 4, 'layers_per_block': 1,
    'mid_block_scale_factor': 1, 'norm_eps': 1e-5, 'norm_num_groups': 8, 'out_channels': 4, 'sample_size': 8,
    'up_block_types': ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], 'use_linear_projection': False,
}

VAE_CONFIG = {
    '_class_name': 'AutoencoderKL', '_diffusers_version': '0.25.1', 'act_fn': 'silu', 'block_out_channels': [8, 16, 16],
    'down_block_types': ['DownEncoderBlock2D'] * 3, 'in_channels': 3, 'latent_channels': 4, 'layers_per_block': 1,
    'mid_block_add_attention': False, 'norm_num_groups': 4, 'out_channels': 3, 'sample_size': 32,
    'scaling_factor': 1.0, 'up_block_types': ['UpDecoderBlock2D'] * 3,
}

# SD1.5's scheduler_config.json (PNDM, no timestep_spacing).
SCHEDULER_CONFIG = {
    '_class_name': 'PNDMScheduler', '_diffusers_version': '0.6.0', 'beta_end': 0.012, 'beta_schedule': 'scaled_linear',
    'beta_start': 0.00085, 'num_train_timesteps': 1000, 'set_alpha_to_one': False, 'skip_prk_steps': True, 'steps_offset': 1,
    'trained_betas': None, 'clip_sample': False, 'prediction_type': 'epsilon',
}

MODEL_INDEX = {
    '_class_name': 'StableDiffusionPipeline', '_diffusers_version': '0.25.1',
    'feature_extractor': [None, None], 'requires_safety_checker': False, 'safety_checker': [None, None],
    'scheduler': ['diffusers', 'PNDMScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
    'tokenizer': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'UNet2DConditionModel'],
    'vae': ['diffusers', 'AutoencoderKL'],
}

_TOWER_TEXT = {
    'hidden_act': 'quick_gelu', 'hidden_size': 32, 'intermediate_size': 128, 'layer_norm_eps': 1e-5,
    'max_position_embeddings': 77, 'num_attention_heads': 4, 'num_hidden_layers': 2, 'vocab_size': 49408,
    'projection_dim': 768, 'bos_token_id': 0, 'eos_token_id': 2, 'pad_token_id': 1, 'model_type': 'clip_text_model',
}

# projection_dim 768: the LAION-layout aesthetic head reads the image embedding at that width. The vision tower is
# wider and deeper than the text tower: telling a square from a circle a few pixels wide takes more than colour does.
CLIP_CONFIG = {
    'architectures': ['CLIPModel'], 'model_type': 'clip', 'projection_dim': 768, 'logit_scale_init_value': 2.6592,
    'text_config': _TOWER_TEXT,
    'vision_config': {
        'hidden_act': 'quick_gelu', 'hidden_size': 64, 'image_size': 32, 'intermediate_size': 256, 'layer_norm_eps': 1e-5,
        'num_attention_heads': 4, 'num_channels': 3, 'num_hidden_layers': 4, 'patch_size': 4, 'projection_dim': 768,
        'model_type': 'clip_vision_model',
    },
}

CLIP_PREPROCESSOR_CONFIG = {
    'crop_size': {'height': 32, 'width': 32}, 'do_center_crop': True, 'do_convert_rgb': True, 'do_normalize': True,
    'do_rescale': True, 'do_resize': True, 'image_mean': [0.48145466, 0.4578275, 0.40821073],
    'image_processor_type': 'CLIPImageProcessor', 'image_std': [0.26862954, 0.26130258, 0.27577711], 'resample': 3,
    'rescale_factor': 0.00392156862745098, 'size': {'shortest_edge': 32},
}
