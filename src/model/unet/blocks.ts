import * as tf from '@tensorflow/tfjs';
import type { ParamSource } from './params';
import { ResnetBlock2D, type ResnetOptions } from './resnet';
import { Downsample2D, Upsample2D } from './sampling';
import { Transformer2DModel, type Transformer2DOptions } from './transformer2d';

/** What every block sees besides its input: the time embedding, the text states and the attention chunk budget. */
export interface BlockContext { temb: tf.Tensor2D; ehs: tf.Tensor3D; chunkBytes: number }

export interface BlockOptions {
  layers: number;
  resnet: ResnetOptions;
  tembC: number;
  /** Transformer2D options for the cross-attention variants; undefined for DownBlock2D / UpBlock2D. */
  attention?: Transformer2DOptions;
}

/**
 * diffusers `CrossAttnDownBlock2D` (with `attention`) / `DownBlock2D` (without): `layers` × (resnet [→ transformer]),
 * then an optional Downsample2D. Returns the block output and the skip states (after each layer and after the
 * downsampler), in the order the up path consumes them from the end.
 */
export class DownBlock {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly downsampler?: Downsample2D;
  constructor(src: ParamSource, inC: number, outC: number, opts: BlockOptions & { downsamplePadding?: number }) {
    this.resnets = Array.from({ length: opts.layers }, (_, i) =>
      new ResnetBlock2D(src.sub(`resnets.${i}.`), i === 0 ? inC : outC, outC, opts.tembC, opts.resnet));
    const attn = opts.attention;
    this.attentions = attn ? Array.from({ length: opts.layers }, (_, i) => new Transformer2DModel(src.sub(`attentions.${i}.`), outC, attn)) : [];
    if (opts.downsamplePadding !== undefined) this.downsampler = new Downsample2D(src.sub('downsamplers.0.'), outC, opts.downsamplePadding);
  }
  forward(x: tf.Tensor4D, ctx: BlockContext): { out: tf.Tensor4D; skips: tf.Tensor4D[] } {
    return tf.tidy(() => {
      const skips: tf.Tensor4D[] = [];
      let h = x;
      this.resnets.forEach((resnet, i) => {
        h = resnet.forward(h, ctx.temb);
        const attn = this.attentions[i];
        if (attn) h = attn.forward(h, ctx.ehs, ctx.chunkBytes);
        skips.push(h);
      });
      if (this.downsampler) {
        h = this.downsampler.forward(h);
        skips.push(h);
      }
      return { out: h, skips };
    });
  }
}

/** diffusers `UNetMidBlock2DCrossAttn` (num_layers 1): resnet → (transformer → resnet) × 1. */
export class MidBlock2DCrossAttn {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  constructor(src: ParamSource, channels: number, opts: { tembC: number; resnet: ResnetOptions; attention: Transformer2DOptions }) {
    this.resnets = [0, 1].map((i) => new ResnetBlock2D(src.sub(`resnets.${i}.`), channels, channels, opts.tembC, opts.resnet));
    this.attentions = [new Transformer2DModel(src.sub('attentions.0.'), channels, opts.attention)];
  }
  forward(x: tf.Tensor4D, ctx: BlockContext): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.resnets[0]!.forward(x, ctx.temb);
      this.attentions.forEach((attn, i) => {
        h = attn.forward(h, ctx.ehs, ctx.chunkBytes);
        h = this.resnets[i + 1]!.forward(h, ctx.temb);
      });
      return h;
    });
  }
}

/**
 * diffusers `CrossAttnUpBlock2D` / `UpBlock2D`: `layers` × (concat the last skip on channels → resnet
 * [→ transformer]), then an optional Upsample2D. Resnet j takes prevC (j = 0) or outC, plus the skip's channels:
 * skipInC for the last layer (the skip from the level above), outC otherwise.
 */
export class UpBlock {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly upsampler?: Upsample2D;
  constructor(src: ParamSource, skipInC: number, outC: number, prevC: number, opts: BlockOptions & { upsample: boolean }) {
    this.resnets = Array.from({ length: opts.layers }, (_, j) => {
      const skipC = j === opts.layers - 1 ? skipInC : outC;
      const resIn = j === 0 ? prevC : outC;
      return new ResnetBlock2D(src.sub(`resnets.${j}.`), resIn + skipC, outC, opts.tembC, opts.resnet);
    });
    const attn = opts.attention;
    this.attentions = attn ? Array.from({ length: opts.layers }, (_, j) => new Transformer2DModel(src.sub(`attentions.${j}.`), outC, attn)) : [];
    if (opts.upsample) this.upsampler = new Upsample2D(src.sub('upsamplers.0.'), outC);
  }
  /** `skips` are this block's skip states in down-path order; they are consumed from the end. */
  forward(x: tf.Tensor4D, skips: tf.Tensor4D[], ctx: BlockContext, upsampleSize?: [number, number]): tf.Tensor4D {
    if (skips.length !== this.resnets.length) throw new Error(`up block needs ${this.resnets.length} skip states, got ${skips.length}`);
    return tf.tidy(() => {
      let h = x;
      this.resnets.forEach((resnet, j) => {
        h = resnet.forward(tf.concat([h, skips[skips.length - 1 - j]!], 3) as tf.Tensor4D, ctx.temb);
        const attn = this.attentions[j];
        if (attn) h = attn.forward(h, ctx.ehs, ctx.chunkBytes);
      });
      return this.upsampler ? this.upsampler.forward(h, upsampleSize) : h;
    });
  }
}
