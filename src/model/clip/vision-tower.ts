import * as tf from '@tensorflow/tfjs';
import { linear } from '../input-grad-ops';
import { layerNorm, type LinearParams, type NormParams } from '../nn';
import { type ClipEncoder, runEncoder } from './transformer';

/**
 * The CLIP ViT image tower, one representation for both checkpoint layouts (HF CLIPVisionModel + visual_projection,
 * open_clip VisionTransformer):
 *   patches = conv(px, kernel = stride = p, no bias)      → [B, N, W]
 *   x = cat(class_embedding, patches) + position_embedding
 *   x = LN_pre(x) → encoder (no mask) → LN_post(x[:, 0]) → projection   → [B, E]
 * The patch conv is done as patchify + matmul: exact because stride equals the kernel, its backward needs only
 * reshape/transpose/MatMul kernels on every backend (tfjs-wasm lacks Conv2DBackpropFilter), and one [N, p·p·3]
 * by [p·p·3, W] matmul is what XNNPACK is fastest at.
 */
export interface VisionTower {
  imageSize: number;
  patchSize: number;
  /** The patch conv as a Linear [W, p·p·3], columns ordered (ky, kx, channel) like `patchify`. */
  patch: LinearParams;
  classEmbedding: tf.Tensor1D;
  positionEmbedding: tf.Tensor2D;
  preNorm: NormParams;
  encoder: ClipEncoder;
  postNorm: NormParams;
  /** [E, W], no bias. */
  projection: LinearParams;
}

/** NHWC [B, S, S, C] → [B, (S/p)², p·p·C]: row-major patches (as torch's conv output flattened), (ky, kx, c) inside. */
export function patchify(px: tf.Tensor4D, p: number): tf.Tensor3D {
  const [b, h, w, c] = px.shape;
  if (h % p !== 0 || w % p !== 0) throw new Error(`image ${h}×${w} is not a multiple of the patch size ${p}`);
  const gh = h / p, gw = w / p;
  return tf.tidy(() =>
    px.reshape([b * gh, p, gw, p * c]).transpose([0, 2, 1, 3]).reshape([b, gh * gw, p * p * c]),
  ) as tf.Tensor3D;
}

/** Normalised pixel values NHWC [B, S, S, 3] (S = imageSize) → projected image embeddings [B, E] (not normalised). */
export function visionForward(t: VisionTower, px: tf.Tensor4D): tf.Tensor2D {
  const [b, h, w] = px.shape;
  if (h !== t.imageSize || w !== t.imageSize) throw new Error(`vision tower expects ${t.imageSize}² pixels, got ${h}×${w}`);
  return tf.tidy(() => {
    const width = t.patch.w.shape[0];
    const patches = linear(patchify(px, t.patchSize), t.patch);
    const cls = tf.tile(t.classEmbedding.reshape([1, 1, width]), [b, 1, 1]);
    const x = layerNorm(tf.add(tf.concat([cls, patches], 1), t.positionEmbedding), t.preNorm) as tf.Tensor3D;
    const { out } = runEncoder(x, t.encoder);
    const pooled = layerNorm(out.slice([0, 0, 0], [b, 1, width]).reshape([b, width]), t.postNorm);
    return linear(pooled, t.projection) as tf.Tensor2D;
  });
}
