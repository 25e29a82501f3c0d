import * as tf from '@tensorflow/tfjs';
import { conv2d, type ConvParams } from '../nn';
import type { WeightScope } from '../weights';
import { conv } from './params';

/**
 * diffusers Downsample2D with padding = 0 (the VAE encoder's): zero-pad right and bottom by one, then a 3×3
 * conv with stride 2 and no padding (torch pads symmetrically, so the asymmetric pad is explicit).
 */
export function loadDownsample(ws: WeightScope, channels: number): ConvParams {
  return conv(ws, 'conv', channels, channels, 3, 2, 0);
}

export function downsample(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  return tf.tidy(() => conv2d(tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), p));
}

/** diffusers Upsample2D: nearest ×2 then a 3×3 conv (padding 1). */
export function loadUpsample(ws: WeightScope, channels: number): ConvParams {
  return conv(ws, 'conv', channels, channels, 3);
}

export function upsample(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  return tf.tidy(() => conv2d(nearestUpsample2x(x), p));
}

/**
 * Nearest-neighbour ×2 (torch `interpolate(scale_factor=2, mode="nearest")`) by broadcasting each pixel over a
 * 2×2 block: plain differentiable ops on every backend (no ResizeNearestNeighborGrad kernel needed).
 */
export function nearestUpsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    return tf.mul(x.reshape([b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])).reshape([b, 2 * h, 2 * w, c]) as tf.Tensor4D;
  });
}
