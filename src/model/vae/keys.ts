import { ATTENTION_NAMES, LEGACY_ATTENTION_NAMES } from './attention';
import type { VaeConfig } from './config';

/** One checkpoint entry: key and torch shape. */
export interface VaeKey {
  key: string;
  shape: number[];
}

export interface ExpectedKeysOptions {
  /** Spell the mid-block attention as the real SD1.5 file does (query/key/value/proj_attn). */
  legacyAttentionNames?: boolean;
  /** 'decoder' lists only what decoding needs (post_quant_conv + decoder.*). */
  part?: 'all' | 'decoder';
}

/**
 * Every key and torch shape AutoencoderKL(config) holds — the same structure the loaders in this folder take,
 * so a key/shape listing of a real checkpoint can be checked without allocating anything (dry bind).
 */
export function expectedVaeKeys(c: VaeConfig, opts: ExpectedKeysOptions = {}): VaeKey[] {
  const keys: VaeKey[] = [];
  const att = opts.legacyAttentionNames ? LEGACY_ATTENTION_NAMES : ATTENTION_NAMES;
  const convK = (name: string, inC: number, outC: number, k: number) => {
    keys.push({ key: `${name}.weight`, shape: [outC, inC, k, k] }, { key: `${name}.bias`, shape: [outC] });
  };
  const normK = (name: string, ch: number) => {
    keys.push({ key: `${name}.weight`, shape: [ch] }, { key: `${name}.bias`, shape: [ch] });
  };
  const linearK = (name: string, inF: number, outF: number) => {
    keys.push({ key: `${name}.weight`, shape: [outF, inF] }, { key: `${name}.bias`, shape: [outF] });
  };
  const resnetK = (p: string, inC: number, outC: number) => {
    normK(`${p}norm1`, inC);
    convK(`${p}conv1`, inC, outC, 3);
    normK(`${p}norm2`, outC);
    convK(`${p}conv2`, outC, outC, 3);
    if (inC !== outC) convK(`${p}conv_shortcut`, inC, outC, 1);
  };
  const midK = (p: string, ch: number) => {
    resnetK(`${p}resnets.0.`, ch, ch);
    if (c.midBlockAddAttention) {
      normK(`${p}attentions.0.group_norm`, ch);
      for (const n of [att.q, att.k, att.v, att.out]) linearK(`${p}attentions.0.${n}`, ch, ch);
    }
    resnetK(`${p}resnets.1.`, ch, ch);
  };
  const ch = c.blockOutChannels;
  const last = ch[ch.length - 1]!;
  const L = c.latentChannels;

  if (opts.part !== 'decoder') {
    convK('encoder.conv_in', c.inChannels, ch[0]!, 3);
    ch.forEach((outC, i) => {
      const inC = i === 0 ? ch[0]! : ch[i - 1]!;
      for (let j = 0; j < c.layersPerBlock; j++) resnetK(`encoder.down_blocks.${i}.resnets.${j}.`, j === 0 ? inC : outC, outC);
      if (i < ch.length - 1) convK(`encoder.down_blocks.${i}.downsamplers.0.conv`, outC, outC, 3);
    });
    midK('encoder.mid_block.', last);
    normK('encoder.conv_norm_out', last);
    convK('encoder.conv_out', last, (c.doubleZ ? 2 : 1) * L, 3);
    convK('quant_conv', 2 * L, 2 * L, 1);
  }
  convK('post_quant_conv', L, L, 1);
  const rev = [...ch].reverse();
  convK('decoder.conv_in', L, rev[0]!, 3);
  midK('decoder.mid_block.', rev[0]!);
  rev.forEach((outC, i) => {
    const inC = i === 0 ? rev[0]! : rev[i - 1]!;
    for (let j = 0; j < c.layersPerBlock + 1; j++) resnetK(`decoder.up_blocks.${i}.resnets.${j}.`, j === 0 ? inC : outC, outC);
    if (i < rev.length - 1) convK(`decoder.up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3);
  });
  normK('decoder.conv_norm_out', ch[0]!);
  convK('decoder.conv_out', ch[0]!, c.outChannels, 3);
  return keys;
}

/**
 * diffusers name → legacy name of the mid-block attention weights (what `sd15.vae.legacy_key_map` lists), for
 * WeightStore aliases; the loaders also accept either spelling directly.
 */
export function vaeLegacyKeyMap(c: VaeConfig): Record<string, string> {
  const map: Record<string, string> = {};
  if (!c.midBlockAddAttention) return map;
  for (const part of ['encoder', 'decoder']) {
    for (const k of ['q', 'k', 'v', 'out'] as const) {
      for (const suffix of ['weight', 'bias']) {
        const p = `${part}.mid_block.attentions.0.`;
        map[`${p}${ATTENTION_NAMES[k]}.${suffix}`] = `${p}${LEGACY_ATTENTION_NAMES[k]}.${suffix}`;
      }
    }
  }
  return map;
}
