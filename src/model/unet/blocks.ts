import * as tf from '@tensorflow/tfjs';
import { checkpoint, retain } from '../checkpoint-grad';
import type { ParamSource } from '../params';
import { ResnetBlock2D, type ResnetOptions } from './resnet';
import { Downsample2D, Upsample2D } from './sampling';
import { Transformer2DModel, type Transformer2DOptions } from './transformer2d';

/**
 * Gradient checkpointing granularity (see ../checkpoint-grad.ts; only acts while a gradient tape records):
 * - 'module': each ResnetBlock2D is one recomputed unit, and inside each Transformer2DModel so are GroupNorm+proj_in,
 *   every residual branch (self-attention, cross-attention, GEGLU feed-forward) and proj_out+residual;
 * - 'layer': each resnet together with its transformer (and, in up blocks, the skip concatenation) is one unit,
 *   the mid block another;
 * - 'large-layers': as 'layer' for the layers whose input holds at least `largeLayerMinBytes`; the smaller ones
 *   (the low-resolution levels, whose activations are small beside their weights' compute) keep their activations
 *   and are not recomputed, each as one `retain` unit (../checkpoint-grad.ts), whose backward frees them and its
 *   intermediate gradients as it goes (under tfjs's tf.grads plain autodiff would hold both until the backward
 *   ends). What this adds to a backward's memory are those small layers' saved tensors;
 * - 'off': plain autodiff (every activation is kept until the backward ends).
 */
export type CheckpointGranularity = 'module' | 'layer' | 'large-layers' | 'off';

/**
 * 'large-layers' default threshold: a layer input from this many bytes is recomputed, a smaller one is kept.
 * Kept layers hold only their saved tensors (retain), so at 32² latents with batch 2 all of them fit in tfjs-wasm's
 * 4 GiB heap beside the weights, and the top-level layers, whose self-attention over all pixels is the costliest
 * recomputation, are kept; at 64² the top level's inputs (10 MiB) are recomputed.
 */
export const LARGE_LAYER_MIN_BYTES = 2 ** 23;

/** What every block sees besides its input: the time embedding, the text states, the attention chunk budget. */
export interface BlockContext {
  temb: tf.Tensor2D;
  ehs: tf.Tensor3D;
  chunkBytes: number;
  checkpoint?: CheckpointGranularity;
  /** 'large-layers' threshold (LARGE_LAYER_MIN_BYTES when absent). */
  largeLayerMinBytes?: number;
}

/**
 * How a layer with input `x` runs: 'large-layers' resolves to 'layer' (recomputed) or 'retain' (kept, freed as its
 * backward goes: checkpoint-grad.ts `retain`) by x's size.
 */
function layerGranularity(ctx: BlockContext, x: tf.Tensor): Exclude<CheckpointGranularity, 'large-layers'> | 'retain' {
  const mode = ctx.checkpoint ?? 'off';
  if (mode !== 'large-layers') return mode;
  return x.size * 4 >= (ctx.largeLayerMinBytes ?? LARGE_LAYER_MIN_BYTES) ? 'layer' : 'retain';
}

/** The unit a whole layer runs as: recomputed in the backward ('layer'), kept with a lean backward ('retain'), or none. */
function wholeLayerUnit(mode: ReturnType<typeof layerGranularity>): typeof checkpoint | undefined {
  if (mode === 'layer') return checkpoint;
  if (mode === 'retain') return retain;
  return undefined;
}

/**
 * One layer of a down/up block: [concat skip →] resnet [→ transformer], as one unit ('layer' or 'retain') or
 * checkpointed per module ('module'). Tensors reach the recomputed function only as inputs (temb and ehs included), never by
 * closure, since the caller's tidy scope disposes them before the backward runs.
 */
function runLayer(ctx: BlockContext, x: tf.Tensor4D, resnet: ResnetBlock2D, attn?: Transformer2DModel, skip?: tf.Tensor4D): tf.Tensor4D {
  const mode = layerGranularity(ctx, x);
  const join = (h: tf.Tensor, s?: tf.Tensor) => (s ? tf.concat([h, s], 3) : h) as tf.Tensor4D;
  const res = (h: tf.Tensor, t: tf.Tensor, s?: tf.Tensor) => resnet.forward(join(h, s), t as tf.Tensor2D);
  const att = (h: tf.Tensor, e: tf.Tensor) => attn!.forward(h as tf.Tensor4D, e as tf.Tensor3D, ctx.chunkBytes);
  const withSkip = (xs: tf.Tensor[]) => (skip ? [...xs, skip] : xs);
  const unit = wholeLayerUnit(mode);
  if (unit) {
    const f = attn
      ? (h: tf.Tensor, t: tf.Tensor, e: tf.Tensor, s?: tf.Tensor) => tf.tidy(() => att(res(h, t, s), e))
      : (h: tf.Tensor, t: tf.Tensor, s?: tf.Tensor) => res(h, t, s);
    return unit(f as (...xs: tf.Tensor[]) => tf.Tensor4D, withSkip(attn ? [x, ctx.temb, ctx.ehs] : [x, ctx.temb]));
  }
  if (mode === 'module') {
    const h = checkpoint(res as (...xs: tf.Tensor[]) => tf.Tensor4D, withSkip([x, ctx.temb]));
    return attn ? attn.forward(h, ctx.ehs, ctx.chunkBytes, true) : h;
  }
  const h = res(x, ctx.temb, skip);
  return attn ? att(h, ctx.ehs) : h;
}

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
        h = runLayer(ctx, h, resnet, this.attentions[i]);
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
    // resnet₀ → (transformer_i → resnet_{i+1}) ≡ layers (resnet_i, transformer_i) then the last resnet alone.
    const body = (x0: tf.Tensor, temb: tf.Tensor, ehs: tf.Tensor) => tf.tidy(() => {
      const inner: BlockContext = { ...ctx, temb: temb as tf.Tensor2D, ehs: ehs as tf.Tensor3D, checkpoint: ctx.checkpoint === 'module' ? 'module' : 'off' };
      let h = x0 as tf.Tensor4D;
      this.resnets.forEach((resnet, i) => { h = runLayer(inner, h, resnet, this.attentions[i]); });
      return h;
    });
    const unit = wholeLayerUnit(layerGranularity(ctx, x));
    return unit ? unit(body, [x, ctx.temb, ctx.ehs]) : body(x, ctx.temb, ctx.ehs);
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
        h = runLayer(ctx, h, resnet, this.attentions[j], skips[skips.length - 1 - j]!);
      });
      return this.upsampler ? this.upsampler.forward(h, upsampleSize) : h;
    });
  }
}
