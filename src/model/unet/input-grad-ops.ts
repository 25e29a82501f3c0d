import * as tf from '@tensorflow/tfjs';
import { conv2d, linear, type ConvParams, type LinearParams } from '../nn';

/**
 * conv2d / linear whose gradient flows to the input only (IPGO differentiates the UNet with respect to its
 * inputs, never its weights). Two reasons, both about backprop on tfjs:
 * - tfjs' tape keeps a clone of every tensor a gradient needs, and on tfjs-wasm a clone is a copy (its Identity
 *   kernel copies; cpu/webgpu share the buffer). Plain tf.conv2d / tf.matMul save their weight, so one backward
 *   pass through SD1.5 copies all 3.4 GB of weights and exhausts the 4 GB wasm heap even at 8×8 latents.
 *   Here the weight is captured by the closure and nothing is saved (dx needs only dy and W).
 * - No filter-gradient kernel (Conv2DBackpropFilter, missing on tfjs-wasm) can ever be requested.
 * Weights are constants to autodiff through these ops: tf.grad with respect to a weight gets no gradient.
 * linear's backward transposes W explicitly: on tfjs-wasm a 2-D matMul with transposeB is ~9× slower (SD1.5 sizes).
 */
export function conv2dX(x: tf.Tensor4D, p: ConvParams): tf.Tensor4D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor4D;
    const xShape = input.shape;
    return {
      value: conv2d(input, p),
      gradFunc: (dy: tf.Tensor) => convInputGrad(dy as tf.Tensor4D, p, xShape),
    };
  });
  return f(x) as tf.Tensor4D;
}

/**
 * dx of a conv. On tfjs-wasm, stride 1 and at least 128 output pixels (B·H·W): a forward Conv2D of dy with the kernel
 * flipped spatially and in/out swapped (XNNPACK), since wasm's Conv2DBackpropInput is a plain loop ~8× slower than
 * its Conv2D at SD1.5 sizes (2×64×64×320, 3×3: 6.2 s vs 0.5 s; 2×8×8×1280: 1.9 s vs 0.23 s + the flip). The
 * flip is a transpose plus a row gather (tf.reverse is slow on wasm), rebuilt per call (a weight-sized copy;
 * caching it would double the weights in memory). Elsewhere (WebGPU has a proper backprop-input shader) and for
 * strided convs: conv2dTranspose. Both are exact (same products; the flip only reorders the kernel).
 */
function convInputGrad(dy: tf.Tensor4D, p: ConvParams, xShape: [number, number, number, number]): tf.Tensor4D {
  const pad = p.pad === 0 ? 'valid' : ([[0, 0], [p.pad, p.pad], [p.pad, p.pad], [0, 0]] as tf.backend_util.ExplicitPadding);
  const [kh, kw, cin, cout] = p.w.shape;
  const pixels = dy.shape[0] * dy.shape[1] * dy.shape[2];
  if (p.stride === 1 && tf.getBackend() === 'wasm' && kh === kw && p.pad * 2 === kh - 1 && pixels >= 128) {
    return tf.tidy(() => {
      const swapped = tf.transpose(p.w, [0, 1, 3, 2]);
      const taps = kh * kw;
      const reversed = tf.tensor1d(Array.from({ length: taps }, (_, i) => taps - 1 - i), 'int32');
      const flipped = taps === 1 ? swapped : tf.gather(swapped.reshape([taps, cout * cin]), reversed).reshape([kh, kw, cout, cin]);
      return tf.conv2d(dy, flipped as tf.Tensor4D, 1, pad);
    });
  }
  return tf.conv2dTranspose(dy, p.w, xShape, p.stride, pad);
}

/** y = x·W + b over the last axis (any leading shape); gradient to x only: dx = dy·Wᵀ. */
export function linearX(x: tf.Tensor, p: LinearParams): tf.Tensor {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const xShape = input.shape;
    return {
      value: linear(input, p),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.matMul(dy.reshape([-1, p.w.shape[1]]), tf.transpose(p.w)).reshape(xShape)),
    };
  });
  return f(x);
}
