import * as tf from '@tensorflow/tfjs';
import type { PredictionType } from './config';
import { f32 } from './float32';

/**
 * Shared math of the sigma-parameterised (k-diffusion) schedulers, LMS and Euler: x_σ = x₀ + σ·ε.
 * Scalars are rounded to float32 the way diffusers' 0-d float32 tensors round them.
 */

/** 1 / sqrt(σ² + 1): the input scaling so the UNet sees unit-variance samples. */
export function sigmaInputScale(sigma: number): number {
  return f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
}

/** scale_model_input: sample / sqrt(σ² + 1). */
export function scaleBySigma(sample: tf.Tensor, sigma: number): tf.Tensor {
  return tf.div(sample, sigmaInputScale(sigma));
}

/** x̂₀ from the model output at noise level σ. */
export function predictOriginalFromSigma(sample: tf.Tensor, modelOutput: tf.Tensor, sigma: number, predictionType: PredictionType): tf.Tensor {
  return tf.tidy(() => {
    switch (predictionType) {
      case 'epsilon':
        return tf.sub(sample, tf.mul(sigma, modelOutput));
      case 'v_prediction': {
        const s2p1 = f32(f32(sigma * sigma) + 1);
        return tf.add(tf.mul(modelOutput, f32(-sigma / f32(Math.sqrt(s2p1)))), tf.div(sample, s2p1));
      }
      case 'sample':
        return modelOutput.clone();
    }
  });
}

/** The probability-flow ODE derivative d = (x − x̂₀)/σ. */
export function odeDerivative(sample: tf.Tensor, predOriginal: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => tf.div(tf.sub(sample, predOriginal), sigma));
}
