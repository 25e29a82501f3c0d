import * as tf from '@tensorflow/tfjs';
import { trainSchedule } from './betas';
import type { PredictionType, SchedulerConfig } from './config';
import { f32 } from './float32';
import { inferenceTimesteps, sigmasAtTimesteps } from './timesteps';

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

/** The σ-parameterized schedule of LMSDiscrete / EulerDiscrete for n inference steps. */
export interface SigmaSchedule {
  /** Fractional timesteps (float32 values). */
  timesteps: number[];
  /** σ per inference step plus a final 0 (float32 values). */
  sigmas: Float32Array;
  /** σ_max for linspace/trailing, sqrt(σ_max² + 1) for leading (float32). */
  initNoiseSigma: number;
}

export function sigmaSchedule(cfg: SchedulerConfig, numInferenceSteps: number): SigmaSchedule {
  const timesteps = inferenceTimesteps(cfg.timestepSpacing, cfg.numTrainTimesteps, numInferenceSteps, cfg.stepsOffset, false);
  const sigmas = new Float32Array(timesteps.length + 1);
  sigmas.set(sigmasAtTimesteps(timesteps, trainSchedule(cfg).sigmas));
  let max = 0;
  for (const s of sigmas) max = Math.max(max, s);
  const initNoiseSigma = cfg.timestepSpacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
  return { timesteps, sigmas, initNoiseSigma };
}
