import { describe, expect, it } from 'vitest';
import { resolveUNetConfig } from './config';

/** The SD1.5 unet/config.json fields that matter (the real file carries more, all null/default). */
export const SD15_CONFIG = {
  act_fn: 'silu', attention_head_dim: 8, block_out_channels: [320, 640, 1280, 1280], center_input_sample: false,
  cross_attention_dim: 768, down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2, mid_block_scale_factor: 1,
  norm_eps: 1e-5, norm_num_groups: 32, out_channels: 4, sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

describe('resolveUNetConfig', () => {
  it('reads SD1.5: attention_head_dim is the number of heads (legacy naming), lists per block', () => {
    const c = resolveUNetConfig(SD15_CONFIG);
    expect(c.heads).toEqual([8, 8, 8, 8]);
    expect(c.blockOutChannels.map((ch, i) => ch / c.heads[i]!)).toEqual([40, 80, 160, 160]);
    expect(c.layersPerBlock).toEqual([2, 2, 2, 2]);
    expect(c.transformerLayersPerBlock).toEqual([1, 1, 1, 1]);
    expect(c.crossAttentionDim).toEqual([768, 768, 768, 768]);
    expect(c.timeEmbedDim).toBe(1280);
    expect(c.useLinearProjection).toBe(false);
  });

  it('prefers num_attention_heads when set and accepts per-block lists', () => {
    const c = resolveUNetConfig({ ...SD15_CONFIG, num_attention_heads: [5, 10, 20, 20], transformer_layers_per_block: [1, 2, 3, 1] });
    expect(c.heads).toEqual([5, 10, 20, 20]);
    expect(c.transformerLayersPerBlock).toEqual([1, 2, 3, 1]);
  });

  it.each([
    ['class_embed_type', 'timestep'],
    ['addition_embed_type', 'text_time'],
    ['time_embedding_type', 'fourier'],
    ['resnet_time_scale_shift', 'scale_shift'],
    ['act_fn', 'gelu'],
    ['only_cross_attention', true],
    ['mid_block_type', 'UNetMidBlock2DSimpleCrossAttn'],
    ['encoder_hid_dim', 1024],
    ['time_cond_proj_dim', 256],
    ['dual_cross_attention', true],
    ['reverse_transformer_layers_per_block', [[1, 1, 1]]],
  ])('rejects unsupported %s = %j with a message naming it', (key, value) => {
    expect(() => resolveUNetConfig({ ...SD15_CONFIG, [key]: value })).toThrow(new RegExp(`${key}`));
  });

  it('rejects unknown block types, mismatched lengths and indivisible channels', () => {
    expect(() => resolveUNetConfig({ ...SD15_CONFIG, down_block_types: ['AttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] })).toThrow(/AttnDownBlock2D/);
    expect(() => resolveUNetConfig({ ...SD15_CONFIG, block_out_channels: [320, 640, 1280] })).toThrow(/same length/);
    expect(() => resolveUNetConfig({ ...SD15_CONFIG, norm_num_groups: 48 })).toThrow(/divisible/);
    expect(() => resolveUNetConfig({ ...SD15_CONFIG, transformer_layers_per_block: [[1, 1], 1, 1, 1] })).toThrow(/transformer_layers_per_block/);
  });
});
