/**
 * Where the boundary tokens go: the UNet's conditional context C = concat(prefix, H, suffix), and IPGO's soft
 * conformity penalty pen = (1/D) Σ_d |mean_t C[t, d] − mean_t H[t, d]|, which keeps the mean of the injected
 * sequence close to the prompt's.
 */
import { InvalidInputError } from '../lib/input-error';
import * as tf from '@tensorflow/tfjs';
import { MAX_CONTEXT_LENGTH } from './config';

/**
 * Throws (before any tensor work) when the prompt's L ids plus 2n injected tokens exceed the text encoder's
 * context; the notebook silently skipped such prompts, we refuse them with a message the UI can show.
 */
export function checkContextLength(promptLength: number, numTokens: number, maxLength = MAX_CONTEXT_LENGTH): void {
  const total = promptLength + 2 * numTokens;
  if (total > maxLength) {
    throw new InvalidInputError(
      `prompt too long for IPGO: ${promptLength} tokens (with BOS/EOS) + 2 × ${numTokens} injected tokens = ${total} > ${maxLength}; ` +
      `shorten the prompt to at most ${maxLength - 2 * numTokens - 2} text tokens or use fewer injected tokens`,
    );
  }
}

/** C = concat(prefix [n, D], H [1, L, D], suffix [n, D]) → [1, L + 2n, D]. */
export function buildConditioning(prefix: tf.Tensor2D, h: tf.Tensor3D, suffix: tf.Tensor2D, maxLength = MAX_CONTEXT_LENGTH): tf.Tensor3D {
  const [batch, l, d] = h.shape;
  if (batch !== 1) throw new Error(`buildConditioning: prompt states must be [1, L, D], got [${h.shape}]`);
  if (prefix.shape[1] !== d || suffix.shape[1] !== d) {
    throw new Error(`buildConditioning: token width must equal the prompt states' D = ${d} (prefix [${prefix.shape}], suffix [${suffix.shape}])`);
  }
  if (prefix.shape[0] !== suffix.shape[0]) {
    throw new Error(`buildConditioning: prefix and suffix must have the same token count ([${prefix.shape}] vs [${suffix.shape}])`);
  }
  checkContextLength(l, prefix.shape[0], maxLength);
  return tf.tidy(() => tf.concat([tf.expandDims(prefix, 0), h, tf.expandDims(suffix, 0)], 1) as tf.Tensor3D);
}

/** pen = mean_d |mean_t C[:, t, d] − mean_t H[:, t, d]| (also averaged over a batch axis, if any) → scalar. */
export function conformityPenalty(c: tf.Tensor3D, h: tf.Tensor3D): tf.Scalar {
  if (c.shape[0] !== h.shape[0] || c.shape[2] !== h.shape[2]) {
    throw new Error(`conformityPenalty: C [${c.shape}] and H [${h.shape}] must share batch and width`);
  }
  return tf.tidy(() => tf.mean(tf.abs(tf.sub(tf.mean(c, 1), tf.mean(h, 1)))) as tf.Scalar);
}
