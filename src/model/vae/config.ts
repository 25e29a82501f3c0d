/**
 * AutoencoderKL configuration (diffusers `vae/config.json`), resolved with diffusers 0.25 defaults.
 * The Encoder/Decoder hard-code GroupNorm eps 1e-6 in diffusers; `normEps` keeps that value unless a config says
 * otherwise (the key is not part of diffusers' format).
 */
export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  downBlockTypes: string[];
  upBlockTypes: string[];
  blockOutChannels: number[];
  layersPerBlock: number;
  actFn: 'silu';
  latentChannels: number;
  normNumGroups: number;
  sampleSize: number;
  scalingFactor: number;
  /** Encoder output = 2·latent channels (mean and logvar). Always true for AutoencoderKL. */
  doubleZ: boolean;
  midBlockAddAttention: boolean;
  normEps: number;
}

export type VaeConfigJson = Record<string, unknown>;

export function parseVaeConfig(json: VaeConfigJson): VaeConfig {
  const num = (k: string, d: number) => (json[k] === undefined || json[k] === null ? d : Number(json[k]));
  const arr = <T>(k: string, d: T[]) => (Array.isArray(json[k]) ? (json[k] as T[]) : d);
  const blockOutChannels = arr<number>('block_out_channels', [64]).map(Number);
  const cfg: VaeConfig = {
    inChannels: num('in_channels', 3),
    outChannels: num('out_channels', 3),
    downBlockTypes: arr('down_block_types', ['DownEncoderBlock2D']),
    upBlockTypes: arr('up_block_types', ['UpDecoderBlock2D']),
    blockOutChannels,
    layersPerBlock: num('layers_per_block', 1),
    actFn: (json.act_fn as 'silu' | undefined) ?? 'silu',
    latentChannels: num('latent_channels', 4),
    normNumGroups: num('norm_num_groups', 32),
    sampleSize: num('sample_size', 32),
    scalingFactor: num('scaling_factor', 0.18215),
    doubleZ: true,
    midBlockAddAttention: json.mid_block_add_attention === undefined ? true : Boolean(json.mid_block_add_attention),
    normEps: num('norm_eps', 1e-6),
  };
  validate(cfg);
  return cfg;
}

function validate(c: VaeConfig): void {
  const fail = (m: string) => {
    throw new Error(`VAE config: ${m}`);
  };
  if (c.actFn !== 'silu') fail(`act_fn "${c.actFn}" is not supported (silu only)`);
  if (c.downBlockTypes.length !== c.blockOutChannels.length) fail('down_block_types and block_out_channels differ in length');
  if (c.upBlockTypes.length !== c.blockOutChannels.length) fail('up_block_types and block_out_channels differ in length');
  for (const t of c.downBlockTypes) if (t !== 'DownEncoderBlock2D') fail(`down block "${t}" is not supported`);
  for (const t of c.upBlockTypes) if (t !== 'UpDecoderBlock2D') fail(`up block "${t}" is not supported`);
  for (const ch of c.blockOutChannels) if (ch % c.normNumGroups !== 0) fail(`${ch} channels are not divisible into ${c.normNumGroups} groups`);
}
