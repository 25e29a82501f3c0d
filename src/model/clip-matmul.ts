import * as tf from '@tensorflow/tfjs';
import type { LinearParams } from './nn';

/**
 * Matmuls whose backward avoids transposed-operand matmuls.
 *
 * tfjs's MatMul gradient is `dA = dY·Bᵀ`, `dB = Aᵀ·dY`, run as BatchMatMul with transposeA/transposeB flags. On
 * tfjs-wasm those flags leave XNNPACK's fast path (measured on 2 cores, [257, 1024]·[1024, 4096]: plain 17.6
 * GFLOP/s, transposeB 1.8, transposeA 0.3), which made a reward's backward ~10× slower than its forward.
 * Here the transpose is an explicit Transpose kernel (cheap, memory-bound) followed by a plain matmul, via
 * tf.customGrad. Values are identical to tf.matMul; gradients equal up to float32 summation order.
 *
 * The `*Const*` variants close over the constant operand (weights, resize matrices), so it is not an input of the
 * op and no gradient is ever computed for it — IPGO differentiates with respect to inputs only.
 */

type Args = (tf.Tensor | tf.GradSaveFunc)[];

/**
 * x [M, K] (differentiable) · w [K, N] (constant weights that outlive the backward, e.g. a module's). w is not
 * saved: saving clones, and a clone is a full copy on tfjs-wasm (its Identity kernel copies), which would
 * duplicate every weight matrix for the length of a backward pass.
 */
export function matMulConstRight(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor) => tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.transpose(w))),
  }));
  return op(x) as tf.Tensor2D;
}

/** r [M, K] (small constant, e.g. a resize matrix made inside a tidy: saved for the backward) · x [K, N] (differentiable). */
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

/** a [M, K] · b [K, N], both differentiable. */
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

/** y = x·W + b over the last axis (any leading shape), W constant: nn.linear with a wasm-friendly backward. */
export function dense(x: tf.Tensor, p: LinearParams): tf.Tensor {
  const [inDim, outDim] = p.w.shape;
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = matMulConstRight(x.reshape([-1, inDim]), p.w);
  if (p.b) y = tf.add(y, p.b);
  return y.reshape([...lead, outDim]);
}
