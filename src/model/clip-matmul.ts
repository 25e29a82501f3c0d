import * as tf from '@tensorflow/tfjs';
import type { WeightScope } from './weights';

/**
 * Matmuls for the CLIP towers, arranged for tfjs-wasm (XNNPACK) without changing their values.
 *
 * Measured on tfjs-wasm 4.22 (2 cores, [257, 1024]·[1024, 4096]):
 * - BatchMatMul with transposeA/transposeB (what tfjs's own MatMul gradient runs: dA = dY·Bᵀ, dB = Aᵀ·dY) leaves
 *   XNNPACK's fast path: plain 17.6 GFLOP/s, transposeB 1.8, transposeA 0.3 — a reward's backward ran ~10× slower
 *   than its forward. Here every transpose is an explicit Transpose kernel followed by a plain matmul.
 * - XNNPACK packs the RIGHT operand and tfjs-wasm caches that packed copy for as long as the tensor lives. With
 *   weights on the right (x·W) every weight matrix is held twice; CLIP ViT-H/14's 2.4 GB image tower then runs
 *   out of the 4 GiB wasm heap. So weights stay in torch layout [out, in] and go on the LEFT: y = (W·xᵀ)ᵀ, where
 *   the packed right operand is the small, short-lived activation (same speed: 17.9 GFLOP/s).
 * Other backends (WebGPU, cpu) use the direct forms (x·Wᵀ via transposeB), which they run natively.
 *
 * Weights are constants closed over by tf.customGrad (never an input of the op), so no gradient is computed
 * for them — IPGO differentiates with respect to inputs only — and they are not saved for the backward (a
 * saved tensor is cloned, and a clone is a full copy on tfjs-wasm).
 */

/** torch nn.Linear kept in torch layout: w [out, in], b [out]. */
export interface TorchLinear {
  w: tf.Tensor2D;
  b?: tf.Tensor1D;
}

type Args = (tf.Tensor | tf.GradSaveFunc)[];

const onWasm = (): boolean => tf.getBackend() === 'wasm';

/** Loads `<name>.weight` (and `.bias` when present or asked) as module-owned torch-layout tensors. */
export function loadTorchLinear(ws: WeightScope, name: string, opts: { bias?: boolean } = {}): TorchLinear {
  const w = tf.keep(ws.take(`${name}.weight`).clone()) as tf.Tensor2D;
  const useBias = opts.bias ?? ws.has(`${name}.bias`);
  return { w, b: useBias ? (tf.keep(ws.take(`${name}.bias`).clone()) as tf.Tensor1D) : undefined };
}

/** x [M, K] (differentiable) · wᵀ for a constant w [N, K] that outlives the backward (module weights). */
export function matMulWeightT(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: Args) => {
    const xi = args[0] as tf.Tensor2D;
    return {
      value: onWasm() ? tf.transpose(tf.matMul(w, tf.transpose(xi))) : tf.matMul(xi, w, false, true),
      // dx = dy·w, computed as (wᵀ·dyᵀ)ᵀ on wasm so that w is never a cached right operand.
      gradFunc: (dy: tf.Tensor) =>
        tf.tidy(() => (onWasm() ? tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(dy))) : tf.matMul(dy as tf.Tensor2D, w))),
    };
  });
  return op(x) as tf.Tensor2D;
}

/** y = x·Wᵀ + b over the last axis, any leading shape (torch F.linear). */
export function linearT(x: tf.Tensor, p: TorchLinear): tf.Tensor {
  const [outDim, inDim] = p.w.shape;
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = matMulWeightT(x.reshape([-1, inDim]), p.w);
  if (p.b) y = tf.add(y, p.b);
  return y.reshape([...lead, outDim]);
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

/** a [M, K] · b [K, N], both differentiable (attention scores and mixing). */
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
