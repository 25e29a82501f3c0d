import * as tf from '@tensorflow/tfjs';
import type { ConvParams, NormParams } from '../nn';
import { addChunks, chunkCount, convChunks, groupNormChunks, joinChannels, runStages, splitChannels, type Chunks } from './channel-chunks';
import type { ParamSource } from '../params';

/**
 * diffusers ResnetBlock2D as the VAE uses it: no time embedding, output_scale_factor 1.
 * h = conv2(silu(GN2(conv1(silu(GN1(x)))))); out = shortcut(x) + h (1×1 conv shortcut when channels change).
 */
export interface VaeResnet {
  norm1: NormParams;
  conv1: ConvParams;
  norm2: NormParams;
  conv2: ConvParams;
  shortcut?: ConvParams;
  groups: number;
}

export function loadVaeResnet(src: ParamSource, inC: number, outC: number, groups: number, eps: number): VaeResnet {
  return {
    norm1: src.norm('norm1', inC, eps),
    conv1: src.conv('conv1', inC, outC, 3, 1, 1),
    norm2: src.norm('norm2', outC, eps),
    conv2: src.conv('conv2', outC, outC, 3, 1, 1),
    shortcut: inC !== outC ? src.conv('conv_shortcut', inC, outC, 1, 1, 0) : undefined,
    groups,
  };
}

export function vaeResnet(x: tf.Tensor4D, p: VaeResnet, maxTensorBytes = Infinity): tf.Tensor4D {
  return tf.tidy(() => joinChannels(vaeResnetChunks(splitChannels(x, chunkCount(x.shape, p.groups, maxTensorBytes)), p, maxTensorBytes)));
}

/** Channels of the resnet's output (conv1's output channels). */
export const resnetOutChannels = (p: VaeResnet): number => p.conv1.w.shape[3];

/**
 * The resnet on channel chunks (see channel-chunks.ts); the output is chunked by the same rule as any activation
 * of its shape, so the residual sum pairs matching chunks. With one chunk these are exactly the plain ops.
 */
export function vaeResnetChunks(xs: Chunks, p: VaeResnet, maxTensorBytes: number): Chunks {
  return tf.tidy(() => {
    const [b, h, w] = xs[0]!.shape;
    const k = chunkCount([b, h, w, resnetOutChannels(p)], p.groups, maxTensorBytes);
    const hs = runStages(xs, [
      (x) => groupNormChunks(x, p.groups, p.norm1, 'silu'), (x) => convChunks(x, p.conv1, k),
      (x) => groupNormChunks(x, p.groups, p.norm2, 'silu'), (x) => convChunks(x, p.conv2, k),
    ]);
    const skip = p.shortcut ? convChunks(xs, p.shortcut, k) : xs;
    if (skip.length !== k) throw new Error(`VAE resnet: residual has ${skip.length} channel chunks, output ${k}`);
    return addChunks(skip, hs);
  });
}
