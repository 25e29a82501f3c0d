import * as tf from '@tensorflow/tfjs';
import { reshapeLean, type ConvParams } from '../nn';
import type { ParamSource } from '../params';
import { conv2d } from '../input-grad-ops';

/**
 * diffusers `Downsample2D` (use_conv): 3×3 conv, stride 2, padding `downsample_padding`. With padding 0
 * diffusers first pads one zero row/column at the bottom/right.
 */
export class Downsample2D {
  readonly conv: ConvParams;
  constructor(src: ParamSource, channels: number, readonly padding: number) {
    this.conv = src.conv('conv', channels, channels, 3, 2, padding);
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const input = this.padding === 0 ? tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]) : x;
      return conv2d(input, this.conv);
    });
  }
}

/**
 * diffusers `Upsample2D` (use_conv): nearest-neighbour upsampling (×2, or to `size` when the UNet forwards the
 * skip connection's size for latents not divisible by 2^levels), then a 3×3 conv.
 */
export class Upsample2D {
  readonly conv: ConvParams;
  constructor(src: ParamSource, channels: number) {
    this.conv = src.conv('conv', channels, channels, 3, 1, 1);
  }
  forward(x: tf.Tensor4D, size?: [number, number]): tf.Tensor4D {
    return tf.tidy(() => conv2d(nearestUpsample(x, size), this.conv));
  }
}

/**
 * torch F.interpolate(mode="nearest"). For the exact ×2 case, copies by concatenation (rank ≤ 5, so its gradient
 * is plain slicing on every backend; broadcastTo's gradient is Tile's, which tfjs lacks above rank 4); otherwise
 * tfjs resizeNearestNeighbor, whose index rule floor(dst·in/out) is torch's.
 */
export function nearestUpsample(x: tf.Tensor4D, size?: [number, number]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = size ?? [2 * h, 2 * w];
  if (oh === 2 * h && ow === 2 * w) {
    const xw = reshapeLean(x, [n, h, w, 1, c]);
    const wide = reshapeLean(tf.concat([xw, xw], 3), [n, h, 1, ow * c]);
    return reshapeLean(tf.concat([wide, wide], 2), [n, oh, ow, c]) as tf.Tensor4D;
  }
  return tf.image.resizeNearestNeighbor(x, [oh, ow], false, false);
}
