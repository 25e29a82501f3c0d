import * as tf from '@tensorflow/tfjs';
import { disposeParams, type ConvParams } from '../nn';
import type { WeightStore, WeightScope } from '../weights';
import type { WeightPrecision } from '../precision';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../params';
import { DEFAULT_SCORE_BUDGET_BYTES, vaeLegacyKeyMap } from './attention';
import { parseVaeConfig, type VaeConfig, type VaeConfigJson } from './config';
import { decoderForward, decoderStages, loadDecoder, type VaeDecoder } from './decoder';
import { runStageList, type Stage } from '../staged-vjp';
import { encoderForward, loadEncoder, type Tap, type VaeEncoder } from './encoder';
import { DEFAULT_MAX_TENSOR_BYTES } from './channel-chunks';
import { conv2d } from '../input-grad-ops';

/** DiagonalGaussianDistribution of the latent (NHWC): logvar clamped to [−30, 20], std = exp(logvar/2). */
export interface LatentDistribution {
  mean: tf.Tensor4D;
  logvar: tf.Tensor4D;
  std: tf.Tensor4D;
}

export interface VaeLoadOptions {
  /** Build only post_quant_conv + decoder (what text-to-image and IPGO need); encode() then throws. */
  decoderOnly?: boolean;
  /** What the device holds for the convolutions and attention projections (default fp32). */
  precision?: WeightPrecision;
}

/**
 * diffusers 0.25 AutoencoderKL on tfjs. NHWC in and out; differentiable with respect to its inputs.
 * decode(z) = decoder(post_quant_conv(z)) — the caller divides by `scalingFactor` first (see latentsToImage01).
 */
export class AutoencoderKL {
  /** Query-block budget of the mid-block attention scores (bytes). */
  attentionScoreBudgetBytes = DEFAULT_SCORE_BUDGET_BYTES;
  /**
   * Largest single tensor the decoder may create (bytes): larger activations are split along channels (exact;
   * see channel-chunks.ts). Default: WebGPU's default maxStorageBufferBindingSize, 128 MiB.
   */
  maxTensorBytes = DEFAULT_MAX_TENSOR_BYTES;
  /**
   * Gradient checkpointing in decode() while a gradient tape records (IPGO's vjp through the decoder): each resnet
   * and the mid attention keep only their input and are recomputed in the backward. No effect on forward-only calls.
   */
  checkpointing = true;

  private constructor(
    readonly config: VaeConfig,
    private readonly postQuantConv: ConvParams,
    private readonly decoder: VaeDecoder,
    private readonly quantConv: ConvParams | null,
    private readonly encoder: VaeEncoder | null,
  ) {}

  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  /** Builds from any parameter source; the encoder side first, in the order of the checkpoint's keys. */
  static fromSource(config: VaeConfigJson | VaeConfig, src: ParamSource, opts: VaeLoadOptions = {}): AutoencoderKL {
    const c = isResolved(config) ? config : parseVaeConfig(config);
    const L = c.latentChannels;
    const encoder = opts.decoderOnly ? null : loadEncoder(src.sub('encoder.'), c);
    const quantConv = opts.decoderOnly ? null : src.conv('quant_conv', 2 * L, 2 * L, 1, 1, 0);
    const postQuantConv = src.conv('post_quant_conv', L, L, 1, 1, 0);
    const decoder = loadDecoder(src.sub('decoder.'), c);
    return new AutoencoderKL(c, postQuantConv, decoder, quantConv, encoder);
  }

  /**
   * Builds from a diffusers config (the parsed `vae/config.json`, or a resolved VaeConfig) and a checkpoint with
   * diffusers or legacy (query/key/value/proj_attn) attention names; every problem is reported at once. The
   * module owns clones of its weights, so the store may be disposed afterwards.
   */
  static fromWeights(config: VaeConfigJson | VaeConfig, store: WeightStore | WeightScope, opts: VaeLoadOptions = {}): AutoencoderKL {
    const b = vaeBinding(config, opts);
    return loadFromStore(store, b.build, b.opts);
  }

  /** Latents [B, h, w, latent] (already divided by scalingFactor) → raw image [B, 8h, 8w, 3], about [−1, 1]. */
  decode(latents: tf.Tensor4D, tap?: Tap): tf.Tensor4D {
    return tf.tidy(() => {
      const z = conv2d(latents, this.postQuantConv);
      tap?.('post_quant_conv', z);
      const run = { scoreBudgetBytes: this.attentionScoreBudgetBytes, maxTensorBytes: this.maxTensorBytes, checkpointing: this.checkpointing };
      return decoderForward(z, this.decoder, run, tap);
    });
  }

  /**
   * Latents (as sampled, not yet divided by `scalingFactor`) → image in [0, 1], as stages grouped by decoder block
   * for a staged vjp (staged-vjp.ts): 1/scaling + post_quant_conv, the decoder's stages, then (x + 1)/2 clipped.
   * Each stage is the recomputed unit there, so the decoder's own checkpointing is off inside them.
   */
  imageStages(): Stage[][] {
    const run = { scoreBudgetBytes: this.attentionScoreBudgetBytes, maxTensorBytes: this.maxTensorBytes, checkpointing: false };
    const groups = decoderStages(this.decoder, run) as Stage[][];
    const first: Stage = ([z]) => [conv2d(tf.div(z!, this.scalingFactor) as tf.Tensor4D, this.postQuantConv)];
    const last: Stage = ([x]) => [tf.clipByValue(tf.add(tf.div(x!, 2), 0.5), 0, 1)];
    return groups.map((g, i) => [...(i === 0 ? [first] : []), ...g, ...(i === groups.length - 1 ? [last] : [])]);
  }

  /** Image [B, H, W, 3] in [−1, 1] → the latent distribution (moments = quant_conv(encoder(x))). */
  encode(image: tf.Tensor4D, tap?: Tap): LatentDistribution {
    if (!this.encoder || !this.quantConv) throw new Error('AutoencoderKL was loaded decoder-only: encode() is unavailable');
    const enc = this.encoder, qc = this.quantConv;
    return tf.tidy(() => {
      const moments = conv2d(encoderForward(image, enc, this.attentionScoreBudgetBytes, tap), qc);
      tap?.('moments', moments);
      const [mean, rawLogvar] = tf.split(moments, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      const logvar = tf.clipByValue(rawLogvar, -30, 20) as tf.Tensor4D;
      return { mean, logvar, std: tf.exp(tf.mul(logvar, 0.5)) as tf.Tensor4D };
    });
  }

  dispose(): void {
    disposeParams([this.postQuantConv, this.decoder, this.quantConv, this.encoder]);
  }
}

/** The VAE's checkpoint binding: diffusers or legacy attention names, not strict (decoder-only leaves keys). */
export function vaeBinding(config: VaeConfigJson | VaeConfig, opts: VaeLoadOptions = {}): ModelBinding<AutoencoderKL> {
  const c = isResolved(config) ? config : parseVaeConfig(config);
  // strict; a decoder-only load leaves the encoder's keys (IPGO never encodes)
  const leaves = opts.decoderOnly ? ['encoder.', 'quant_conv.'] : [];
  return { build: (src) => AutoencoderKL.fromSource(c, src, opts), opts: { aliases: vaeLegacyKeyMap(c), precision: opts.precision, strict: true, leaves } };
}

export interface ExpectedKeysOptions {
  /** Spell the mid-block attention as the real SD1.5 file does (query/key/value/proj_attn). */
  legacyAttentionNames?: boolean;
  /** 'decoder' lists only what decoding needs (post_quant_conv + decoder.*). */
  part?: 'all' | 'decoder';
}

/** Every key and torch shape AutoencoderKL(config) holds, from a dry bind of the builder (nothing allocated). */
export function expectedVaeKeys(config: VaeConfigJson | VaeConfig, opts: ExpectedKeysOptions = {}): ParamSpec[] {
  const specs = declaredParams((src) => AutoencoderKL.fromSource(config, src, { decoderOnly: opts.part === 'decoder' }));
  if (!opts.legacyAttentionNames) return specs;
  const legacy = vaeLegacyKeyMap(isResolved(config) ? config : parseVaeConfig(config));
  return specs.map((s) => ({ ...s, key: legacy[s.key] ?? s.key }));
}

function isResolved(c: VaeConfigJson | VaeConfig): c is VaeConfig {
  return Array.isArray((c as VaeConfig).blockOutChannels);
}

/** The pipeline's image: clamp(decode(latents / scalingFactor) / 2 + 0.5, 0, 1), NHWC. Differentiable in latents. */
export function latentsToImage01(vae: AutoencoderKL, latents: tf.Tensor4D): tf.Tensor4D {
  return runStageList(vae.imageStages().flat(), [latents])[0] as tf.Tensor4D;
}
