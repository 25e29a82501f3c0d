import * as tf from '@tensorflow/tfjs';
import { packedConv2d, packedConv2dInputGrad, packedConvFilter, packedMatMul, packedMatMulInputGrad, type ConvGeometry } from './kernels/packed-ops';
import { type PackedMatrix, dequantizeMatrix, isPacked } from './kernels/packed-weight';
import { addLean, reshapeLean, torchPadding, type ConvParams, type LinearParams } from './nn';

/**
 * The layers every model runs (Linear in torch layout, Conv2d), with gradients to their input only: IPGO
 * differentiates the models with respect to their inputs, never their weights. Two reasons, both about tfjs:
 * - the tape keeps a clone of every tensor a gradient needs, and on tfjs-wasm a clone is a copy (its Identity
 *   kernel copies). Plain tf.conv2d / tf.matMul save their weight, so one backward through SD1.5 would copy all of
 *   its weights. Here a module's weight is captured by the closure and nothing is saved (dx needs only dy and W);
 * - no filter-gradient kernel (Conv2DBackpropFilter, missing on tfjs-wasm) can ever be requested.
 *
 * Matmuls are arranged for tfjs-wasm (XNNPACK) without changing their values:
 * - BatchMatMul with transposeA/transposeB leaves XNNPACK's fast path (transposeA worst of all), so on wasm every transpose is an explicit Transpose kernel followed by a plain matmul;
 * - XNNPACK packs the RIGHT operand and caches that packed copy for as long as the tensor lives, so a module
 *   weight is never itself a right operand (it would be held twice); a right-hand weight is a per-call temporary
 *   (a transpose or a copy), packed and freed with it;
 * - XNNPACK streams its packed right operand once per few rows of the left one: with few rows (low-resolution
 *   levels, text tokens) the weight goes on the LEFT, y = (W·xᵀ)ᵀ, so that it is read once and the small
 *   activation is the packed operand; with many rows (WEIGHT_RIGHT_MIN_ROWS) the weight goes on the right,
 *   y = x·(Wᵀ), which spares the two activation-sized transposes.
 * Other backends (WebGPU, cpu) run the direct forms (x·Wᵀ via transposeB) natively.
 * Packed (fp16 / int8) weights run the packed kernels (kernels/packed-ops.ts) in both directions.
 */

type Args = (tf.Tensor | tf.GradSaveFunc)[];

const onWasm = (): boolean => tf.getBackend() === 'wasm';

/** Rows of the activation from which a wasm linear puts its weight on the right (see the header). */
export const WEIGHT_RIGHT_MIN_ROWS = 1024;

/** x [M, K] (differentiable) · wᵀ for a constant w [N, K] that outlives the backward (module weights). */
export function matMulWeightT(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => ({
    value: linearValue(args[0] as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor) => linearInputGrad(dy as tf.Tensor2D, w),
  }));
  return op(x) as tf.Tensor2D;
}

/** x·wᵀ, w [N, K] in torch layout. */
function linearValue(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (!onWasm()) return tf.matMul(x, w, false, true);
  if (x.shape[0] >= WEIGHT_RIGHT_MIN_ROWS) return tf.tidy(() => tf.matMul(x, tf.transpose(w)));
  return tf.tidy(() => tf.transpose(tf.matMul(w, tf.transpose(x))) as tf.Tensor2D);
}

/** dx = dy·w; on wasm with few rows as (wᵀ·dyᵀ)ᵀ. */
function linearInputGrad(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (!onWasm()) return tf.matMul(dy, w);
  // a copy of w on the right: XNNPACK's packed copy of it is freed with the copy
  if (dy.shape[0] >= WEIGHT_RIGHT_MIN_ROWS) return tf.tidy(() => tf.matMul(dy, tf.clone(w)));
  return tf.tidy(() => tf.transpose(tf.matMul(transposeLarge(w), tf.transpose(dy))) as tf.Tensor2D);
}

/**
 * A 2-D transpose; a large one in two passes (within blocks of 16 rows, then moving runs of 16 values), which
 * tfjs-wasm runs about twice as fast as one 2-D Transpose, whose writes stride across the whole output.
 */
export function transposeLarge(t: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = t.shape;
  const block = 16;
  if (rows % block !== 0 || rows * cols < 2 ** 20) return tf.transpose(t);
  return tf.tidy(() => {
    const withinBlocks = tf.transpose(t.reshape([rows / block, block, cols]), [0, 2, 1]);
    return tf.transpose(withinBlocks, [1, 0, 2]).reshape([cols, rows]) as tf.Tensor2D;
  });
}

/**
 * x [M, K] (differentiable) · Wᵀ for a packed W [N, K]. On wasm the forward dequantizes the layer (a temporary) and
 * runs the float32 arrangement above: the packed kernels' fallback there is a transposeB matmul, tfjs-wasm's scalar
 * loop. Their input gradient, dy·W on the dequantized temporary, is already a plain matmul.
 */
function packedMatMulX(x: tf.Tensor2D, w: PackedMatrix): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => ({
    value: onWasm() ? tf.tidy(() => linearValue(args[0] as tf.Tensor2D, dequantizeMatrix(w))) : packedMatMul(args[0] as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor) => packedMatMulInputGrad(dy as tf.Tensor2D, w),
  }));
  return op(x) as tf.Tensor2D;
}

/** torch F.linear: y = x·Wᵀ + b over the last axis, any leading shape; W [out, in]. Gradient to x only. */
export function linear(x: tf.Tensor, p: LinearParams): tf.Tensor {
  const [outDim, inDim] = p.w.shape as [number, number];
  const lead = x.shape.slice(0, -1);
  const x2 = reshapeLean(x, [x.size / inDim, inDim]) as tf.Tensor2D;
  let y: tf.Tensor = isPacked(p.w) ? packedMatMulX(x2, p.w) : matMulWeightT(x2, p.w);
  if (p.b) y = addLean(y, p.b);
  return reshapeLean(y, [...lead, outDim]);
}


/**
 * NHWC conv with torch's symmetric zero padding; W [kh, kw, in, out]. Gradient to x only. `weightIsTemporary`:
 * the weight is a tidy temporary of the caller (a slice), so it is saved for the backward instead of closed over.
 */
export function conv2d(x: tf.Tensor4D, p: ConvParams, weightIsTemporary = false): tf.Tensor4D {
  const w = p.w;
  if (isPacked(w)) return packedConv2dX(x, w, { kh: w.shape[0]!, kw: w.shape[1]!, stride: p.stride, pad: p.pad }, p.b);
  const f = tf.customGrad((...args: Args) => {
    const input = args[0] as tf.Tensor4D;
    const xShape = input.shape;
    if (weightIsTemporary) (args[1] as tf.GradSaveFunc)([w]);
    const y = tf.conv2d(input, w, p.stride, torchPadding(p.pad));
    return {
      value: p.b ? tf.add(y, p.b) : y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        convInputGrad(dy as tf.Tensor4D, weightIsTemporary ? (saved[0] as tf.Tensor4D) : w, p, xShape),
    };
  });
  return f(x) as tf.Tensor4D;
}

function packedConv2dX(x: tf.Tensor4D, w: PackedMatrix, g: ConvGeometry, bias?: tf.Tensor1D): tf.Tensor4D {
  const f = tf.customGrad((...args: Args) => {
    const input = args[0] as tf.Tensor4D;
    const xShape = input.shape;
    // on wasm through convInputGrad's paths (the packed fallback is conv2dTranspose, tfjs-wasm's plain loop)
    const gradFunc = (dy: tf.Tensor) => (onWasm()
      ? tf.tidy(() => convInputGrad(dy as tf.Tensor4D, packedConvFilter(w, g), g, xShape))
      : packedConv2dInputGrad(dy as tf.Tensor4D, w, g, xShape));
    return { value: packedConv2d(input, w, g, bias), gradFunc };
  });
  return f(x) as tf.Tensor4D;
}

/**
 * dx of a conv. On tfjs-wasm, stride 1 and "same" padding, wasm's Conv2DBackpropInput (a plain loop, far slower
 * than its Conv2D at SD1.5 sizes) is avoided in one of two ways:
 * - the kernel outweighs the activations (kh·kw·in > 4·B·H·W: the low-resolution levels): per-tap products
 *   (convInputGradPerTap), which read the weight in place;
 * - else, from 128 output pixels (B·H·W): a forward Conv2D of dy with the kernel flipped spatially and in/out
 *   swapped (XNNPACK). The flip is a transpose plus the taps' rows in reverse order (split and concatenated:
 *   tf.reverse and tf.gather are slow on wasm), rebuilt per call (caching it would double the weights in memory),
 *   weight-sized copies that only pay off on large activations.
 * A stride-2 "same" conv on an even-sized input (the downsamplers) takes these paths on its spread dy
 * (spreadToEvenPixels). Elsewhere (WebGPU has a backprop-input shader) and for other strided convs:
 * conv2dTranspose. All are exact up to float summation order.
 */
function convInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, p: Pick<ConvParams, 'stride' | 'pad'>, xShape: [number, number, number, number]): tf.Tensor4D {
  const pad = torchPadding(p.pad);
  const [kh, kw, cin, cout] = w.shape;
  const pixels = dy.shape[0] * dy.shape[1] * dy.shape[2];
  const sameOnWasm = onWasm() && kh === kw && p.pad * 2 === kh - 1;
  if (sameOnWasm && p.stride === 1 && kh * kw * cin > 4 * pixels) return convInputGradPerTap(dy, w);
  if (sameOnWasm && p.stride === 2 && xShape[1] % 2 === 0 && xShape[2] % 2 === 0) {
    return convInputGrad(spreadToEvenPixels(dy), w, { stride: 1, pad: p.pad }, xShape);
  }
  if (sameOnWasm && p.stride === 1 && pixels >= 128) {
    return tf.tidy(() => {
      const swapped = tf.transpose(w, [0, 1, 3, 2]);
      const taps = kh * kw;
      const flipped = taps === 1 ? swapped : tf.concat(tf.split(swapped.reshape([taps, cout * cin]), taps, 0).reverse(), 0).reshape([kh, kw, cout, cin]);
      return tf.conv2d(dy, flipped as tf.Tensor4D, 1, pad);
    });
  }
  return tf.conv2dTranspose(dy, w, xShape, p.stride, pad);
}

/**
 * dy [N, H, W, C] → [N, 2H, 2W, C] with dy at the even rows and columns and zeros elsewhere: a stride-2 conv with
 * "same" padding on an even-sized input is the stride-1 conv read at the even pixels, so its dx is the stride-1 dx
 * of the spread dy (four times the products of a strided dx, but on the fast stride-1 paths).
 */
function spreadToEvenPixels(dy: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = dy.shape;
    const columns = tf.pad(dy.reshape([n * h, w, 1, c]), [[0, 0], [0, 0], [0, 1], [0, 0]]).reshape([n, h, 1, 2 * w * c]);
    return tf.pad(columns, [[0, 0], [0, 0], [0, 1], [0, 0]]).reshape([n, 2 * h, 2 * w, c]) as tf.Tensor4D;
  });
}

/**
 * dx of a stride-1 "same" conv as one matmul and shifted sums: z = W·dyᵀ gives, for every tap (a, b), the
 * channel products z_ab [in, B, H, W] (W [kh·kw·in, out] is the weight's own memory, on the left as in
 * matMulWeightT); then dx[u, v] = Σ_ab z_ab[u − a + pad, v − b + pad] (zero outside), moved to NHWC at the end.
 */
function convInputGradPerTap(dy: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [k, , cin, cout] = w.shape;
    const [n, h, wd] = dy.shape;
    const pad = (k - 1) / 2;
    const z = tf.matMul(w.reshape([k * k * cin, cout]), tf.transpose(dy.reshape([n * h * wd, cout]))).reshape([k * k, cin, n, h, wd]);
    const shifted: tf.Tensor[] = [];
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        const tap = tf.slice(z, [a * k + b, 0, 0, 0, 0], [1, -1, -1, -1, -1]).reshape([cin, n, h, wd]);
        const padded = tf.pad(tap, [[0, 0], [0, 0], [a, k - 1 - a], [b, k - 1 - b]]);
        shifted.push(tf.slice(padded, [0, 0, pad, pad], [-1, -1, h, wd]));
      }
    }
    return tf.transpose(shifted.length === 1 ? shifted[0]! : tf.addN(shifted), [1, 2, 3, 0]) as tf.Tensor4D;
  });
}

/** r [M, K] (small constant, e.g. a resize matrix made inside a tidy: saved for the backward) · x [K, N]. */
export function matMulConstLeft(r: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => {
    (args[1] as tf.GradSaveFunc)([r]);
    return {
      value: tf.matMul(r, args[0] as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => tf.matMul(tf.transpose(saved[0]!), dy as tf.Tensor2D)),
    };
  });
  return op(x) as tf.Tensor2D;
}

/** a [M, K] · b [K, N], both differentiable (attention scores and mixing), with transpose-free gradients. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => {
    const [ai, bi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([ai, bi]);
    return {
      value: tf.matMul(ai, bi),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [
          tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(sb))),
          tf.tidy(() => tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)),
        ];
      },
    };
  });
  return op(a, b) as tf.Tensor2D;
}
