/**
 * torch.nn.utils.clip_grad_norm_ (norm type 2, over all parameters together): total = ‖(‖g_1‖, …, ‖g_k‖)‖₂,
 * coef = maxNorm / (total + 1e-6), and every gradient is multiplied by coef when coef < 1. A non-finite total
 * (NaN/Inf anywhere) is reported instead of applied, so the caller can skip the update.
 */
import * as tf from '@tensorflow/tfjs';

export interface ClipResult<N extends string> {
  /** Clipped gradients (new tensors, owned by the caller), or clones of the inputs when no clip was needed. */
  grads: Record<N, tf.Tensor>;
  totalNorm: number;
  /** The factor applied (1 when the norm was within bounds or non-finite). */
  scale: number;
  finite: boolean;
}

/** ‖(‖g_1‖₂, …, ‖g_k‖₂)‖₂ as a scalar tensor. */
export function globalGradNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.square(tf.norm(g))))) as tf.Scalar);
}

export async function clipGradNorm<N extends string>(grads: Record<N, tf.Tensor>, maxNorm: number): Promise<ClipResult<N>> {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  const names = Object.keys(grads) as N[];
  const normT = globalGradNorm(names.map((n) => grads[n]));
  const totalNorm = (await normT.data())[0]!;
  normT.dispose();
  const finite = Number.isFinite(totalNorm);
  const coef = maxNorm / (totalNorm + 1e-6);
  const scale = finite && coef < 1 ? coef : 1;
  const out = {} as Record<N, tf.Tensor>;
  for (const n of names) out[n] = scale === 1 ? grads[n].clone() : tf.mul(grads[n], scale);
  return { grads: out, totalNorm, scale, finite };
}
