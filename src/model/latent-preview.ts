/**
 * A cheap denoising preview: SD1.5's 4 latent channels mapped linearly to RGB (the widely used approximation
 * factors, fitted on SD1.5 VAE decodes) — no VAE call, so the UI can show every sampling step. For other latent
 * spaces (or random-weight models) it is only a rough visual of the progress.
 */
import * as tf from '@tensorflow/tfjs';
import type { RgbaImage } from '../ipgo/rgba-image';

const LATENT_RGB: number[][] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

/** latents [1, h, w, 4] → RGBA h×w (one pixel per latent). */
export async function latentPreview(latents: tf.Tensor4D): Promise<RgbaImage> {
  const [, height, width, channels] = latents.shape;
  const rgba = tf.tidy(() => {
    const factors = tf.tensor2d(LATENT_RGB.slice(0, channels).flat(), [channels, 3]);
    const rgb = tf.matMul(latents.reshape([height * width, channels]), factors);
    const px = tf.clipByValue(tf.mul(tf.add(rgb, 1), 127.5), 0, 255).round();
    return tf.concat([px, tf.fill([height * width, 1], 255)], 1).toInt();
  });
  const data = new Uint8ClampedArray(await rgba.data());
  rgba.dispose();
  return { width, height, data };
}
