import * as tf from '@tensorflow/tfjs';
import { disposeParams, groupNorm, type ConvParams, type NormParams } from '../nn';
import type { WeightStore, WeightScope } from '../weights';
import type { WeightPrecision } from '../precision';
import { DEFAULT_ATTENTION_CHUNK_BYTES } from './attention';
import { DownBlock, MidBlock2DCrossAttn, UpBlock, type BlockContext, type CheckpointGranularity } from './blocks';
import { resolveUNetConfig, type UNetConfig, type UNetConfigJson } from './config';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../params';
import type { Transformer2DOptions } from './transformer2d';
import { TimestepEmbedding, timestepProjection, timestepsForBatch } from './time-embedding';
import { conv2d } from '../input-grad-ops';

export interface UNetForwardOptions {
  /** When given, receives (kept) copies of time_proj, time_embedding, conv_in, down_blocks.N, mid_block,
   * up_blocks.N (NHWC); the caller disposes them. */
  intermediates?: Map<string, tf.Tensor>;
  /** Upper bound on one attention-scores block in bytes (queries are chunked to stay under it). */
  attentionChunkBytes?: number;
  /**
   * Gradient checkpointing while a gradient tape records (tf.grad/tf.grads around the call): true (default) =
   * DEFAULT_CHECKPOINTING (DEFAULT_CHECKPOINTING_WASM on tfjs-wasm), false = plain autodiff, or a granularity.
   * Forward-only calls are never affected.
   */
  checkpointing?: boolean | CheckpointGranularity;
  /** 'large-layers' threshold in bytes of a layer's input (LARGE_LAYER_MIN_BYTES by default). */
  largeLayerMinBytes?: number;
}

/** Measured on SD1.5 (bench/model.ts): see the report in bench/results/model.json. */
export const DEFAULT_CHECKPOINTING: CheckpointGranularity = 'module';
/**
 * The default on tfjs-wasm: its heap (4 GiB) holds the activations of the layers with small inputs (under
 * LARGE_LAYER_MIN_BYTES), and not recomputing them spares most of the extra forward.
 */
export const DEFAULT_CHECKPOINTING_WASM: CheckpointGranularity = 'large-layers';

/**
 * diffusers 0.25 `UNet2DConditionModel` (the SD1.5 family) on tfjs. Activations are NHWC:
 * forward(sample [B,H,W,C], timestep, encoder_hidden_states [B,L,D]) → noise prediction [B,H,W,out_channels].
 */
export class UNet2DConditionModel {
  readonly convIn: ConvParams;
  readonly timeEmbedding: TimestepEmbedding;
  readonly downBlocks: DownBlock[];
  readonly midBlock: MidBlock2DCrossAttn;
  readonly upBlocks: UpBlock[];
  readonly convNormOut: NormParams;
  readonly convOut: ConvParams;

  constructor(readonly config: UNetConfig, src: ParamSource) {
    const c = config;
    const n = c.blockOutChannels.length;
    const boc = c.blockOutChannels;
    const resnet = { groups: c.normGroups, eps: c.normEps, outputScaleFactor: c.resnetOutScaleFactor };
    const attention = (i: number): Transformer2DOptions => ({
      heads: c.heads[i]!, crossDim: c.crossAttentionDim[i]!, layers: c.transformerLayersPerBlock[i]!,
      groups: c.normGroups, useLinearProjection: c.useLinearProjection,
    });

    this.convIn = src.conv('conv_in', c.inChannels, boc[0]!, c.convInKernel, 1, (c.convInKernel - 1) / 2);
    this.timeEmbedding = new TimestepEmbedding(src.sub('time_embedding.'), boc[0]!, c.timeEmbedDim);

    this.downBlocks = c.downBlockTypes.map((type, i) => new DownBlock(src.sub(`down_blocks.${i}.`), i === 0 ? boc[0]! : boc[i - 1]!, boc[i]!, {
      layers: c.layersPerBlock[i]!, resnet, tembC: c.timeEmbedDim,
      attention: type === 'CrossAttnDownBlock2D' ? attention(i) : undefined,
      downsamplePadding: i < n - 1 ? c.downsamplePadding : undefined,
    }));

    this.midBlock = new MidBlock2DCrossAttn(src.sub('mid_block.'), boc[n - 1]!, {
      tembC: c.timeEmbedDim, resnet: { ...resnet, outputScaleFactor: c.midBlockScaleFactor }, attention: attention(n - 1),
    });

    // Up block i mirrors down block n-1-i (diffusers reverses every per-block list).
    this.upBlocks = c.upBlockTypes.map((type, i) => {
      const mirror = n - 1 - i;
      return new UpBlock(src.sub(`up_blocks.${i}.`), boc[Math.max(mirror - 1, 0)]!, boc[mirror]!, boc[Math.min(mirror + 1, n - 1)]!, {
        layers: c.layersPerBlock[mirror]! + 1, resnet, tembC: c.timeEmbedDim,
        attention: type === 'CrossAttnUpBlock2D' ? attention(mirror) : undefined,
        upsample: i < n - 1,
      });
    });

    this.convNormOut = src.norm('conv_norm_out', boc[0]!, c.normEps);
    this.convOut = src.conv('conv_out', boc[0]!, c.outChannels, c.convOutKernel, 1, (c.convOutKernel - 1) / 2);
  }

  /**
   * Builds from a checkpoint's WeightStore (diffusers key names, torch layouts). Every key the config implies must
   * be present with its shape (all problems are reported at once); with `strict` (default) keys the config does
   * not use are an error too, as in torch's load_state_dict(strict=True).
   */
  static fromWeights(configJson: UNetConfigJson, store: WeightStore | WeightScope, opts: { strict?: boolean; precision?: WeightPrecision } = {}): UNet2DConditionModel {
    const b = unetBinding(configJson, opts);
    return loadFromStore(store, b.build, b.opts);
  }

  /** Builds from any parameter source (e.g. shared random weights for a benchmark). */
  static fromSource(configJson: UNetConfigJson, src: ParamSource): UNet2DConditionModel {
    return new UNet2DConditionModel(resolveUNetConfig(configJson), src);
  }

  forward(sample: tf.Tensor4D, timestep: number | tf.Tensor, encoderHiddenStates: tf.Tensor3D, opts: UNetForwardOptions = {}): tf.Tensor4D {
    const c = this.config;
    const [b, h, w, ch] = sample.shape;
    if (ch !== c.inChannels) throw new Error(`UNet sample has ${ch} channels, expected ${c.inChannels} (NHWC layout)`);
    if (encoderHiddenStates.shape[0] !== b) throw new Error(`encoder_hidden_states batch ${encoderHiddenStates.shape[0]} != sample batch ${b}`);
    const record = (name: string, t: tf.Tensor) => opts.intermediates?.set(name, tf.keep(t.clone()));

    return tf.tidy(() => {
      const tProj = timestepProjection(timestepsForBatch(timestep, b), c.blockOutChannels[0]!, c.flipSinToCos, c.freqShift);
      record('time_proj', tProj);
      const temb = this.timeEmbedding.forward(tProj);
      record('time_embedding', temb);
      const ctx: BlockContext = {
        temb, ehs: encoderHiddenStates, chunkBytes: opts.attentionChunkBytes ?? DEFAULT_ATTENTION_CHUNK_BYTES,
        checkpoint: checkpointGranularity(opts.checkpointing), largeLayerMinBytes: opts.largeLayerMinBytes,
      };

      const input = c.centerInputSample ? (tf.sub(tf.mul(sample, 2), 1) as tf.Tensor4D) : sample;
      let x = conv2d(input, this.convIn);
      record('conv_in', x);
      const skips: tf.Tensor4D[] = [x];
      this.downBlocks.forEach((block, i) => {
        const r = block.forward(x, ctx);
        x = r.out;
        skips.push(...r.skips);
        record(`down_blocks.${i}`, x);
      });

      x = this.midBlock.forward(x, ctx);
      record('mid_block', x);

      // Latents not divisible by 2^levels: upsample to the skip's size instead of ×2 (diffusers' upsample_size).
      const factor = 2 ** (this.upBlocks.length - 1);
      const forwardSize = h % factor !== 0 || w % factor !== 0;
      this.upBlocks.forEach((block, i) => {
        const own = skips.splice(skips.length - block.resnets.length);
        const next = skips[skips.length - 1];
        const size = forwardSize && block.upsampler && next ? ([next.shape[1], next.shape[2]] as [number, number]) : undefined;
        x = block.forward(x, own, ctx, size);
        record(`up_blocks.${i}`, x);
      });

      const normed = groupNorm(x, c.normGroups, this.convNormOut, 'silu');
      return conv2d(normed, this.convOut);
    });
  }

  dispose(): void {
    disposeParams(this);
  }
}

function checkpointGranularity(option: UNetForwardOptions['checkpointing']): CheckpointGranularity {
  if (option === undefined || option === true) return tf.getBackend() === 'wasm' ? DEFAULT_CHECKPOINTING_WASM : DEFAULT_CHECKPOINTING;
  return option === false ? 'off' : option;
}

/** The UNet's checkpoint binding (strict by default, as torch's load_state_dict). */
export function unetBinding(configJson: UNetConfigJson, opts: { strict?: boolean; precision?: WeightPrecision } = {}): ModelBinding<UNet2DConditionModel> {
  const config = resolveUNetConfig(configJson);
  return { build: (src) => new UNet2DConditionModel(config, src), opts: { strict: opts.strict ?? true, precision: opts.precision } };
}

/** Every parameter key and torch shape the config implies, computed by a dry bind (no tensor is allocated). */
export function expectedUnetKeys(configJson: UNetConfigJson): ParamSpec[] {
  const config = resolveUNetConfig(configJson);
  return declaredParams((src) => new UNet2DConditionModel(config, src));
}
