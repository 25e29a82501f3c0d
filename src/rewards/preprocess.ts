import * as tf from '@tensorflow/tfjs';
import { matMulConstLeft } from '../model/input-grad-ops';

/**
 * Differentiable CLIP preprocessing: image in [0, 1], NHWC [B, H, W, 3] (any size, e.g. the VAE output)
 *   → resize to the tower's S×S → (x − mean) / std.
 *
 * A resize along one axis is a linear map, so it is done as two matmuls with interpolation matrices built on the
 * host: out = R_h · img · R_wᵀ. That is exact, differentiable with plain MatMul kernels on every backend (the
 * backward is R_hᵀ·dY with an explicit transpose, see clip-matmul.ts), and lets both filters share one code path:
 * - 'bilinear' (default): torch `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` — half-pixel
 *   centres, source index clamped at 0, two taps. This is what the goldens use. tfjs `resizeBilinear` with
 *   halfPixelCenters differs at the border (it does not clamp negative source positions) and its gradient kernel
 *   is missing on some backends, hence the matrices.
 * - 'bilinear-antialias': torch `antialias=True` bilinear (`_upsample_bilinear2d_aa`): when shrinking, a triangle
 *   filter widened by the scale factor (support = scale), weights normalised per output pixel. This is what
 *   torchvision's `Resize(224)` does on tensors since 0.17 (antialias defaults to True) and what the IPGO
 *   notebook's `Resize(224)` therefore ran at 512 → 224; plain bilinear at that ratio only looks at 2 of every
 *   ~2.3 source pixels (aliasing), so the two filters give visibly different reward values and gradients.
 *   (PIL's bilinear resize in CLIPImageProcessor uses a similar scale-widened triangle filter, on uint8 pixels.)
 * `fit`: 'stretch' maps the whole image to S×S (the goldens); 'cover' is torchvision's Resize(S) + CenterCrop(S):
 * the short side goes to S (long side int(S·long/short)), then the centre S×S is kept — rows of the full resize
 * matrix, so the crop costs nothing extra.
 */
export type ResizeFilter = 'bilinear' | 'bilinear-antialias';
export type ResizeFit = 'stretch' | 'cover';

export interface PreprocessOptions {
  filter?: ResizeFilter;
  fit?: ResizeFit;
  mean?: readonly number[];
  std?: readonly number[];
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** [outSize, inSize] row-stochastic matrix of torch's bilinear (align_corners=False, no antialias) along one axis. */
export function bilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.floor(src);
    const frac = src - i0;
    const i1 = Math.min(i0 + 1, inSize - 1);
    m[i * inSize + i0] += 1 - frac;
    m[i * inSize + i1] += frac;
  }
  return m;
}

/** [outSize, inSize] matrix of torch's antialiased bilinear along one axis (aten `_compute_indices_weights_aa`). */
export function antialiasBilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const triangle = (x: number) => Math.max(0, 1 - Math.abs(x));
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w: number[] = [];
    let total = 0;
    for (let j = xmin; j < xmax; j++) {
      const v = triangle((j - center + 0.5) * invScale);
      w.push(v);
      total += v;
    }
    for (let j = xmin; j < xmax; j++) m[i * inSize + j] = total !== 0 ? w[j - xmin]! / total : 0;
  }
  return m;
}

function axisMatrix(filter: ResizeFilter, inSize: number, outSize: number): Float32Array {
  return filter === 'bilinear' ? bilinearMatrix(inSize, outSize) : antialiasBilinearMatrix(inSize, outSize);
}

/** Output size before cropping, and the crop offsets, for resizing an H×W image to S×S. */
export function resizePlan(h: number, w: number, size: number, fit: ResizeFit): { rh: number; rw: number; top: number; left: number } {
  if (fit === 'stretch' || h === w) return { rh: size, rw: size, top: 0, left: 0 };
  const rh = h < w ? size : Math.trunc((size * h) / w);
  const rw = w < h ? size : Math.trunc((size * w) / h);
  return { rh, rw, top: roundHalfEven((rh - size) / 2), left: roundHalfEven((rw - size) / 2) };
}

/** Python's round() (CenterCrop uses it): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const matrixCache = new Map<string, Float32Array>();
function cropMatrix(filter: ResizeFilter, inSize: number, resized: number, offset: number, size: number): Float32Array {
  const key = `${filter}:${inSize}:${resized}:${offset}:${size}`;
  let m = matrixCache.get(key);
  if (!m) {
    m = axisMatrix(filter, inSize, resized).slice(offset * inSize, (offset + size) * inSize);
    matrixCache.set(key, m);
  }
  return m;
}

/** NHWC [B, H, W, C] → [B, S, S, C] with the chosen filter (differentiable w.r.t. the image). */
export function resizeImage(image: tf.Tensor4D, size: number, opts: { filter?: ResizeFilter; fit?: ResizeFit } = {}): tf.Tensor4D {
  const [b, h, w, c] = image.shape;
  const filter = opts.filter ?? 'bilinear';
  const plan = resizePlan(h, w, size, opts.fit ?? 'stretch');
  if (h === size && w === size) return image.clone();
  return tf.tidy(() => {
    const rh = tf.tensor2d(cropMatrix(filter, h, plan.rh, plan.top, size), [size, h]);
    const rw = tf.tensor2d(cropMatrix(filter, w, plan.rw, plan.left, size), [size, w]);
    // Rows: [H, B·W·C] → R_h · x.
    const rows = matMulConstLeft(rh, image.transpose([1, 0, 2, 3]).reshape([h, b * w * c])).reshape([size, b, w, c]);
    // Columns: [W, S·B·C] → R_w · x.
    const cols = matMulConstLeft(rw, rows.transpose([2, 0, 1, 3]).reshape([w, size * b * c])).reshape([size, size, b, c]);
    return cols.transpose([2, 1, 0, 3]) as tf.Tensor4D;
  });
}

/** (x − mean) / std per channel (last axis). */
export function normalizeChannels(x: tf.Tensor4D, mean: readonly number[] = CLIP_MEAN, std: readonly number[] = CLIP_STD): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d([...mean])), tf.tensor1d([...std])) as tf.Tensor4D);
}

/** image01 NHWC [B, H, W, 3] → CLIP pixel values NHWC [B, S, S, 3]. */
export function clipPixelValues(image01: tf.Tensor4D, size: number, opts: PreprocessOptions = {}): tf.Tensor4D {
  return tf.tidy(() => normalizeChannels(resizeImage(image01, size, opts), opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD));
}
