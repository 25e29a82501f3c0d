import * as tf from '@tensorflow/tfjs';
import type { ConvParams } from '../nn';
import type { WeightScope } from '../weights';
import { loadVaeAttention, vaeAttention, type VaeAttention } from './attention';
import { loadVaeResnet, vaeResnet, type VaeResnet } from './resnet';
import { downsample, loadDownsample, loadUpsample, upsample } from './sampling';

/** Norm settings shared by every VAE block. */
export interface NormSpec {
  groups: number;
  eps: number;
}

/** UNetMidBlock2D without time embedding: resnet → attention (single head) → resnet. */
export interface MidBlock {
  resnets: [VaeResnet, VaeResnet];
  attention?: VaeAttention;
}

export function loadMidBlock(ws: WeightScope, channels: number, n: NormSpec, addAttention: boolean): MidBlock {
  return {
    resnets: [
      loadVaeResnet(ws.sub('resnets.0.'), channels, channels, n.groups, n.eps),
      loadVaeResnet(ws.sub('resnets.1.'), channels, channels, n.groups, n.eps),
    ],
    attention: addAttention ? loadVaeAttention(ws.sub('attentions.0.'), channels, n.groups, n.eps) : undefined,
  };
}

export function midBlock(x: tf.Tensor4D, p: MidBlock, scoreBudgetBytes?: number): tf.Tensor4D {
  return tf.tidy(() => {
    let h = vaeResnet(x, p.resnets[0]);
    if (p.attention) h = vaeAttention(h, p.attention, scoreBudgetBytes);
    return vaeResnet(h, p.resnets[1]);
  });
}

/** DownEncoderBlock2D: `layers` resnets, then (except in the last block) a stride-2 downsampler. */
export interface DownEncoderBlock {
  resnets: VaeResnet[];
  downsampler?: ConvParams;
}

export function loadDownEncoderBlock(ws: WeightScope, inC: number, outC: number, layers: number, n: NormSpec, addDownsample: boolean): DownEncoderBlock {
  return {
    resnets: Array.from({ length: layers }, (_, j) => loadVaeResnet(ws.sub(`resnets.${j}.`), j === 0 ? inC : outC, outC, n.groups, n.eps)),
    downsampler: addDownsample ? loadDownsample(ws.sub('downsamplers.0.'), outC) : undefined,
  };
}

export function downEncoderBlock(x: tf.Tensor4D, p: DownEncoderBlock): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    for (const r of p.resnets) h = vaeResnet(h, r);
    return p.downsampler ? downsample(h, p.downsampler) : h;
  });
}

/** UpDecoderBlock2D: `layers` (= layers_per_block + 1) resnets, then (except in the last block) a ×2 upsampler. */
export interface UpDecoderBlock {
  resnets: VaeResnet[];
  upsampler?: ConvParams;
}

export function loadUpDecoderBlock(ws: WeightScope, inC: number, outC: number, layers: number, n: NormSpec, addUpsample: boolean): UpDecoderBlock {
  return {
    resnets: Array.from({ length: layers }, (_, j) => loadVaeResnet(ws.sub(`resnets.${j}.`), j === 0 ? inC : outC, outC, n.groups, n.eps)),
    upsampler: addUpsample ? loadUpsample(ws.sub('upsamplers.0.'), outC) : undefined,
  };
}

export function upDecoderBlock(x: tf.Tensor4D, p: UpDecoderBlock): tf.Tensor4D {
  return tf.tidy(() => {
    let h = x;
    for (const r of p.resnets) h = vaeResnet(h, r);
    return p.upsampler ? upsample(h, p.upsampler) : h;
  });
}
