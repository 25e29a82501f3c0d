import * as tf from '@tensorflow/tfjs';

/**
 * The backward of GEGLU (unet/transformer2d.ts `geglu`): for the projection p = [h, gate] on the last axis and the
 * output's gradient dy, dp = [dy·gelu(gate), dy·h·(Φ(gate) + gate·φ(gate))], Φ/φ the standard normal cdf/pdf.
 * On tfjs-wasm one pass over the heap (a kernel in JS, as kernels/wasm-slice.ts): the reference's tfjs ops take
 * some fifteen passes over inner-sized tensors (split, erf, exp, products, concat). Φ comes from erf by
 * Abramowitz–Stegun 7.1.26 (absolute error under 1.5e-7, the formula of tfjs's cpu backend), whose exponential is
 * φ's; the arithmetic is in float64, so the values agree with the reference within float32 rounding.
 */

const KERNEL = 'IpgoGegluGrad';
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** dp of GEGLU: the one-pass kernel on tfjs-wasm, the reference ops elsewhere. */
export function gegluGrad(p: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return gegluGradReference(p, dy);
  registerKernel();
  return tf.engine().runKernel(KERNEL, { p, dy }) as tf.Tensor;
}

/** The reference: the formula in tfjs ops (exact erf GELU as torch). */
export function gegluGradReference(p: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [h, gate] = tf.split(p, 2, -1);
    const cdf = tf.mul(tf.add(1, tf.erf(tf.mul(gate!, Math.SQRT1_2))), 0.5);
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(gate!), -0.5)), INV_SQRT_2PI);
    const dGate = tf.mul(tf.mul(dy, h!), tf.add(cdf, tf.mul(gate!, pdf)));
    return tf.concat([tf.mul(dy, tf.mul(gate!, cdf)), dGate], -1);
  });
}

/** dp for rows of 2·inner values of p (and of dp) and inner values of dy, all row-major. */
export function gegluGradRows(p: Float32Array, dy: Float32Array, dp: Float32Array, inner: number): void {
  const rows = dy.length / inner;
  for (let r = 0; r < rows; r++) {
    const row = 2 * r * inner, dyRow = r * inner;
    for (let i = 0; i < inner; i++) {
      const h = p[row + i]!, gate = p[row + inner + i]!, d = dy[dyRow + i]!;
      const z = Math.abs(gate) * Math.SQRT1_2;
      const t = 1 / (1 + 0.3275911 * z);
      const expMinusZ2 = Math.exp(-z * z);
      const erfAbs = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * expMinusZ2;
      const cdf = 0.5 * (1 + (gate < 0 ? -erfAbs : erfAbs));
      dp[row + i] = d * gate * cdf;
      dp[row + inner + i] = d * h * (cdf + gate * expMinusZ2 * INV_SQRT_2PI);
    }
  }
}

let registered = false;

function registerKernel(): void {
  if (registered) return;
  registered = true;
  const kernelFunc = ({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo => {
    const { p, dy } = inputs as { p: tf.TensorInfo; dy: tf.TensorInfo };
    const heap = backend as WasmBackendLike;
    const out = heap.makeOutput(p.shape, 'float32');
    // views taken after the output's allocation, which may grow the heap (and so replace its buffer)
    gegluGradRows(heap.typedArrayFromHeap(p), heap.typedArrayFromHeap(dy), heap.typedArrayFromHeap(out), dy.shape[dy.shape.length - 1]!);
    return out;
  };
  tf.registerKernel({ kernelName: KERNEL, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
