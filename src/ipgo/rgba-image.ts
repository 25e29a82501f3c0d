import * as tf from '@tensorflow/tfjs';

/** An image as 8-bit RGBA rows (what a canvas takes), copied off the device. */
export interface RgbaImage { width: number; height: number; data: Uint8ClampedArray }

/** [1, H, W, 3] in [0, 1] → RGBA bytes (rounded, opaque). */
export async function imageToRgba(image: tf.Tensor4D): Promise<RgbaImage> {
  const [, height, width] = image.shape;
  const rgba = tf.tidy(() => {
    const rgb = tf.mul(tf.squeeze(image, [0]), 255).round().clipByValue(0, 255);
    return tf.concat([rgb, tf.fill([height, width, 1], 255)], 2).toInt();
  });
  const data = new Uint8ClampedArray(await rgba.data());
  rgba.dispose();
  return { width, height, data };
}
