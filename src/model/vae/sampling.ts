import * as tf from '@tensorflow/tfjs';
import type { ConvParams } from '../nn';
import { conv2d } from '../input-grad-ops';
import { chunkCount, convChunks, joinChannels, splitChannels, type Chunks } from './channel-chunks';
import type { ParamSource } from '../params';

/**
 * diffusers Downsample2D with padding = 0 (the VAE encoder's): zero-pad right and bottom by one, then a 3×3
 * conv with stride 2 and no padding (torch pads symmetrically, so the asymmetric pad is explicit).
 */
export function loadDownsample(src: ParamSource, channels: number): ConvParams {
  return src.conv('conv', channels, channels, 3, 2, 0);
}

export function downsample(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  return tf.tidy(() => conv2d(tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), p));
}

/** diffusers Upsample2D: nearest ×2 then a 3×3 conv (padding 1). */
export function loadUpsample(src: ParamSource, channels: number): ConvParams {
  return src.conv('conv', channels, channels, 3, 1, 1);
}

/**
 * Upsample2D on channel chunks: the input is re-split so that each upsampled chunk fits `maxTensorBytes`, and the
 * conv's output is chunked by the same rule as any activation of its shape (`groups`: the next GroupNorm's).
 */
export function upsampleChunks(xs: Chunks, p: ConvParams, groups: number, maxTensorBytes: number): Chunks {
  return tf.tidy(() => {
    const [b, h, w] = xs[0]!.shape;
    const c = xs.reduce((s, x) => s + x.shape[3], 0);
    const kIn = chunkCount([b, 2 * h, 2 * w, c], groups, maxTensorBytes);
    const ins = kIn === xs.length ? xs : splitChannels(joinChannels(xs), kIn);
    const kOut = chunkCount([b, 2 * h, 2 * w, p.w.shape[3]], groups, maxTensorBytes);
    return convChunks(ins.map(nearestUpsample2x), p, kOut);
  });
}

/**
 * Nearest-neighbour ×2 (torch `interpolate(scale_factor=2, mode="nearest")`) by broadcasting each pixel over a
 * 2×2 block: plain ops on every backend (no ResizeNearestNeighborGrad kernel needed). Its gradient sums each 2×2
 * block of dy as four strided slices: autodiff of the broadcast would reduce over inner axes through a transpose
 * of the full-size gradient.
 */
export function nearestUpsample2x(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const up = (t: tf.Tensor) => tf.tidy(() => tf.mul(t.reshape([b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])).reshape([b, 2 * h, 2 * w, c]));
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: up(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.tidy(() => {
      const blocks = dy.reshape([b, h, 2, w, 2, c]);
      const at = (i: number, j: number) => tf.slice(blocks, [0, 0, i, 0, j, 0], [b, h, 1, w, 1, c]);
      return tf.addN([at(0, 0), at(0, 1), at(1, 0), at(1, 1)]).reshape([b, h, w, c]);
    }),
  }));
  return op(x) as tf.Tensor4D;
}
