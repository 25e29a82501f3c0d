import * as tf from '@tensorflow/tfjs';
import type { ConvParams } from '../nn';
import { chunkCount as chunkCountOf, type Stage } from './channel-chunks';
import type { ParamSource } from '../params';
import { loadVaeAttention, vaeAttention, type VaeAttention } from './attention';
import { checkpoint } from '../checkpoint-grad';
import type { Chunks } from './channel-chunks';
import { loadVaeResnet, resnetOutChannels, vaeResnet, vaeResnetChunks, type VaeResnet } from './resnet';
import { downsample, loadDownsample, loadUpsample, upsampleChunks } from './sampling';

/** How the decoder runs its blocks: per-tensor byte budget and gradient checkpointing (see checkpoint-grad.ts). */
export interface DecoderRunOptions {
  scoreBudgetBytes?: number;
  maxTensorBytes: number;
  checkpointing: boolean;
}

/**
 * A resnet on chunks, checkpointed (recomputed in the backward) when asked and when its output is one tensor
 * (tfjs custom gradients have a single output; at 512² batch 1 every SD1.5 decoder resnet output is one chunk).
 */
export function resnetUnit(xs: Chunks, p: VaeResnet, o: DecoderRunOptions): Chunks {
  const [b, h, w] = xs[0]!.shape;
  const single = chunkCountOf([b, h, w, resnetOutChannels(p)], p.groups, o.maxTensorBytes) === 1;
  if (!o.checkpointing || !single) return vaeResnetChunks(xs, p, o.maxTensorBytes);
  return [checkpoint((...ins: tf.Tensor[]) => vaeResnetChunks(ins as Chunks, p, o.maxTensorBytes)[0]!, xs)];
}

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

export function loadMidBlock(src: ParamSource, channels: number, n: NormSpec, addAttention: boolean): MidBlock {
  // built in checkpoint key order: resnet, attention, resnet
  const first = loadVaeResnet(src.sub('resnets.0.'), channels, channels, n.groups, n.eps);
  const attention = addAttention ? loadVaeAttention(src.sub('attentions.0.'), channels, n.groups, n.eps) : undefined;
  return { resnets: [first, loadVaeResnet(src.sub('resnets.1.'), channels, channels, n.groups, n.eps)], attention };
}

export function midBlock(x: tf.Tensor4D, p: MidBlock, scoreBudgetBytes?: number): tf.Tensor4D {
  return tf.tidy(() => {
    let h = vaeResnet(x, p.resnets[0]);
    if (p.attention) h = vaeAttention(h, p.attention, scoreBudgetBytes);
    return vaeResnet(h, p.resnets[1]);
  });
}

/** The mid block as stages on channel chunks: resnet, attention, resnet (each a checkpointed unit when asked). */
export function midBlockStages(p: MidBlock, run: DecoderRunOptions): Stage[] {
  const attn = p.attention;
  const attend: Stage = ([h]) => {
    const f = (t: tf.Tensor) => vaeAttention(t as tf.Tensor4D, attn!, run.scoreBudgetBytes);
    return [run.checkpointing ? checkpoint(f, [h!]) : f(h!)];
  };
  return [(h) => resnetUnit(h, p.resnets[0], run), ...(attn ? [attend] : []), (h) => resnetUnit(h, p.resnets[1], run)];
}

/** DownEncoderBlock2D: `layers` resnets, then (except in the last block) a stride-2 downsampler. */
export interface DownEncoderBlock {
  resnets: VaeResnet[];
  downsampler?: ConvParams;
}

/** A block's `layers` resnets: the first takes `inC` channels to `outC`, the others keep `outC`. */
function loadBlockResnets(src: ParamSource, inC: number, outC: number, layers: number, n: NormSpec): VaeResnet[] {
  return Array.from({ length: layers }, (_, j) => loadVaeResnet(src.sub(`resnets.${j}.`), j === 0 ? inC : outC, outC, n.groups, n.eps));
}

export function loadDownEncoderBlock(src: ParamSource, inC: number, outC: number, layers: number, n: NormSpec, addDownsample: boolean): DownEncoderBlock {
  return {
    resnets: loadBlockResnets(src, inC, outC, layers, n),
    downsampler: addDownsample ? loadDownsample(src.sub('downsamplers.0.'), outC) : undefined,
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

export function loadUpDecoderBlock(src: ParamSource, inC: number, outC: number, layers: number, n: NormSpec, addUpsample: boolean): UpDecoderBlock {
  return {
    resnets: loadBlockResnets(src, inC, outC, layers, n),
    upsampler: addUpsample ? loadUpsample(src.sub('upsamplers.0.'), outC) : undefined,
  };
}

/** UpDecoderBlock2D as stages on channel chunks: each resnet (a checkpointed unit when asked), the upsampler. */
export function upDecoderBlockStages(p: UpDecoderBlock, run: DecoderRunOptions): Stage[] {
  const up = p.upsampler;
  return [
    ...p.resnets.map((r): Stage => (x) => resnetUnit(x, r, run)),
    ...(up ? [(x: Chunks) => upsampleChunks(x, up, p.resnets[0]!.groups, run.maxTensorBytes)] : []),
  ];
}
