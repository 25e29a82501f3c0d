/**
 * A fingerprint of the text encoder that boundary tokens were trained against, so an import can tell "same
 * text space" from "another model with the same width D".
 *
 * Why outputs and not a hash of the weight bytes: the same model is stored as fp32, fp16 or int8 (installed
 * bundles are quantized), which changes every byte but not what the tokens are injected next to. So the
 * fingerprint is the encoder's OUTPUT on a fixed probe prompt, compared numerically: rows
 *   0: mean over positions of last_hidden_state(probe)   (unpadded ids [BOS, …, EOS])
 *   1: last_hidden_state at the probe's end-of-text position
 * i.e. a [2, D] float32 matrix, compared by relative L2 distance. It costs one text-encoder call on 10 tokens,
 * is deterministic per backend and agrees across backends (wasm/cpu/WebGPU) to ~1e-6, quantized copies of the
 * same weights to ~1e-3–1e-2; different encoders (other checkpoints, random weights) are at distance ~0.3–1.4.
 */
import * as tf from '@tensorflow/tfjs';
import { encodeIds, promptIds, type StableDiffusion } from '../model/pipeline';

export const FINGERPRINT_METHOD = 'probe-states-v1';
export const FINGERPRINT_PROBE = 'a photograph of an astronaut riding a horse';
/** Relative L2 distance up to which two fingerprints are the same encoder (covers fp16/int8 copies). */
export const FINGERPRINT_TOLERANCE = 3e-2;

export interface TextEncoderFingerprint {
  method: typeof FINGERPRINT_METHOD;
  probe: string;
  /** [2, D] row-major: mean state, end-of-text state. */
  values: Float32Array;
  textDim: number;
}

export async function textEncoderFingerprint(sd: StableDiffusion): Promise<TextEncoderFingerprint> {
  const ids = promptIds(sd, FINGERPRINT_PROBE);
  const states = encodeIds(sd, ids);
  const rows = tf.tidy(() => {
    const [, L, D] = states.shape;
    const mean = tf.mean(states, 1);
    const eot = tf.reshape(tf.slice(states, [0, L - 1, 0], [1, 1, D]), [1, D]);
    return tf.concat([mean, eot], 0);
  });
  const values = (await rows.data()) as Float32Array;
  const textDim = states.shape[2];
  tf.dispose([rows, states]);
  return { method: FINGERPRINT_METHOD, probe: FINGERPRINT_PROBE, values, textDim };
}

/** Relative L2 distance ‖a − b‖ / ‖b‖ (Infinity when the widths differ). */
export function fingerprintDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
