/**
 * diffusers `UNet2DConditionModel` config.json → the resolved structure this port builds (diffusers 0.25 semantics).
 * Every structural field is read from the config; options this port does not implement throw a clear error
 * instead of being silently ignored.
 */

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

/** A diffusers config.json object as parsed (keys as diffusers writes them). */
export type UNetConfigJson = Record<string, unknown>;

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  /** Per down block (index i); up block i uses the reversed lists, as diffusers does. */
  layersPerBlock: number[];
  transformerLayersPerBlock: number[];
  /** Number of attention heads per down block (head dim = channels / heads). */
  heads: number[];
  crossAttentionDim: number[];
  normGroups: number;
  normEps: number;
  flipSinToCos: boolean;
  freqShift: number;
  timeEmbedDim: number;
  useLinearProjection: boolean;
  downsamplePadding: number;
  midBlockScaleFactor: number;
  resnetOutScaleFactor: number;
  convInKernel: number;
  convOutKernel: number;
  centerInputSample: boolean;
}

/** Options that must hold their "off" value (null / absent / false / the default string). */
const MUST_BE_OFF: Record<string, readonly unknown[]> = {
  addition_embed_type: [null, undefined],
  addition_time_embed_dim: [null, undefined],
  class_embed_type: [null, undefined],
  num_class_embeds: [null, undefined],
  class_embeddings_concat: [false, null, undefined],
  projection_class_embeddings_input_dim: [null, undefined],
  encoder_hid_dim: [null, undefined],
  encoder_hid_dim_type: [null, undefined],
  time_cond_proj_dim: [null, undefined],
  time_embedding_type: ['positional', undefined],
  time_embedding_act_fn: [null, undefined],
  timestep_post_act: [null, undefined],
  act_fn: ['silu', undefined],
  resnet_time_scale_shift: ['default', undefined],
  resnet_skip_time_act: [false, undefined],
  dual_cross_attention: [false, null, undefined],
  attention_type: ['default', undefined],
  cross_attention_norm: [null, undefined],
  mid_block_type: ['UNetMidBlock2DCrossAttn', undefined],
  mid_block_only_cross_attention: [null, false, undefined],
  reverse_transformer_layers_per_block: [null, undefined],
};

const DOWN_TYPES: readonly string[] = ['CrossAttnDownBlock2D', 'DownBlock2D'];
const UP_TYPES: readonly string[] = ['CrossAttnUpBlock2D', 'UpBlock2D'];

export function resolveUNetConfig(raw: UNetConfigJson): UNetConfig {
  for (const [key, allowed] of Object.entries(MUST_BE_OFF)) {
    if (!allowed.includes(raw[key])) {
      throw new Error(`UNet config: unsupported ${key} = ${JSON.stringify(raw[key])} (supported: ${allowed.filter((a) => a !== undefined).map((a) => JSON.stringify(a)).join(', ')})`);
    }
  }
  const oca = raw.only_cross_attention;
  if (!(oca === undefined || oca === false || (Array.isArray(oca) && oca.every((v) => v === false)))) {
    throw new Error(`UNet config: unsupported only_cross_attention = ${JSON.stringify(oca)}`);
  }

  const blockOutChannels = intList(raw, 'block_out_channels', [320, 640, 1280, 1280]);
  const n = blockOutChannels.length;
  const downBlockTypes = stringList(raw, 'down_block_types', DOWN_TYPES) as DownBlockType[];
  const upBlockTypes = stringList(raw, 'up_block_types', UP_TYPES) as UpBlockType[];
  if (downBlockTypes.length !== n || upBlockTypes.length !== n) {
    throw new Error(`UNet config: block_out_channels (${n}), down_block_types (${downBlockTypes.length}) and up_block_types (${upBlockTypes.length}) must have the same length`);
  }
  const normGroups = raw.norm_num_groups ?? 32;
  if (typeof normGroups !== 'number') throw new Error('UNet config: norm_num_groups = null (no output GroupNorm) is not supported');

  // diffusers' legacy naming: when num_attention_heads is null, attention_head_dim is the number of heads.
  const headsRaw = raw.num_attention_heads ?? raw.attention_head_dim ?? 8;
  const timeEmbedDim = raw.time_embedding_dim ?? blockOutChannels[0]! * 4;
  if (typeof timeEmbedDim !== 'number') throw new Error('UNet config: time_embedding_dim must be a number or null');
  const convInKernel = num(raw, 'conv_in_kernel', 3);
  const convOutKernel = num(raw, 'conv_out_kernel', 3);
  if (convInKernel % 2 !== 1 || convOutKernel % 2 !== 1) throw new Error('UNet config: conv_in_kernel / conv_out_kernel must be odd');

  const cfg: UNetConfig = {
    inChannels: num(raw, 'in_channels', 4),
    outChannels: num(raw, 'out_channels', 4),
    blockOutChannels,
    downBlockTypes,
    upBlockTypes,
    layersPerBlock: perBlock(raw.layers_per_block ?? 2, n, 'layers_per_block'),
    transformerLayersPerBlock: perBlock(raw.transformer_layers_per_block ?? 1, n, 'transformer_layers_per_block'),
    heads: perBlock(headsRaw, n, raw.num_attention_heads == null ? 'attention_head_dim' : 'num_attention_heads'),
    crossAttentionDim: perBlock(raw.cross_attention_dim ?? 1280, n, 'cross_attention_dim'),
    normGroups,
    normEps: num(raw, 'norm_eps', 1e-5),
    flipSinToCos: bool(raw, 'flip_sin_to_cos', true),
    freqShift: num(raw, 'freq_shift', 0),
    timeEmbedDim,
    useLinearProjection: bool(raw, 'use_linear_projection', false),
    downsamplePadding: num(raw, 'downsample_padding', 1),
    midBlockScaleFactor: num(raw, 'mid_block_scale_factor', 1),
    resnetOutScaleFactor: num(raw, 'resnet_out_scale_factor', 1),
    convInKernel,
    convOutKernel,
    centerInputSample: bool(raw, 'center_input_sample', false),
  };
  blockOutChannels.forEach((c, i) => {
    if (c % normGroups !== 0) throw new Error(`UNet config: block_out_channels[${i}] = ${c} is not divisible by norm_num_groups ${normGroups}`);
    if (c % cfg.heads[i]! !== 0) throw new Error(`UNet config: block_out_channels[${i}] = ${c} is not divisible by ${cfg.heads[i]} heads`);
  });
  if (cfg.downsamplePadding !== 0 && cfg.downsamplePadding !== 1) throw new Error(`UNet config: downsample_padding ${cfg.downsamplePadding} unsupported (0 or 1)`);
  return cfg;
}

function num(raw: UNetConfigJson, key: string, dflt: number): number {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`UNet config: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(raw: UNetConfigJson, key: string, dflt: boolean): boolean {
  const v = raw[key] ?? dflt;
  if (typeof v !== 'boolean') throw new Error(`UNet config: ${key} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function intList(raw: UNetConfigJson, key: string, dflt: number[]): number[] {
  const v = raw[key] ?? dflt;
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x > 0)) throw new Error(`UNet config: ${key} must be a list of positive integers`);
  return v as number[];
}

function stringList(raw: UNetConfigJson, key: string, allowed: readonly string[]): string[] {
  const v = raw[key];
  if (!Array.isArray(v)) throw new Error(`UNet config: ${key} must be a list`);
  for (const t of v) {
    if (!allowed.includes(t as string)) throw new Error(`UNet config: ${key} contains unsupported block type ${JSON.stringify(t)} (supported: ${allowed.join(', ')})`);
  }
  return v as string[];
}

/** An int or a per-block list of ints (diffusers accepts both for these fields). */
function perBlock(v: unknown, n: number, key: string): number[] {
  const list = Array.isArray(v) ? v : Array.from({ length: n }, () => v);
  if (list.length !== n || !list.every((x) => Number.isInteger(x) && (x as number) > 0)) {
    throw new Error(`UNet config: ${key} must be a positive integer or a list of ${n} positive integers, got ${JSON.stringify(v)}`);
  }
  return list as number[];
}
