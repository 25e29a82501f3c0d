import * as tf from '@tensorflow/tfjs';
import { resolveConfig, type PredictionType, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { lmsCoefficients } from './lms-coefficients';
import { odeDerivative, predictOriginalFromSigma, scaleBySigma, sigmaSchedule } from './sigma-step';
import { newestItems, type SamplerSteps } from './types';

export interface LmsStepInput {
  sample: tf.Tensor;
  modelOutput: tf.Tensor;
  /** σ_i of this step. */
  sigma: number;
  /** Earlier ODE derivatives, oldest first (at least coeffs.length − 1 of them; the newest are used). */
  history: readonly tf.Tensor[];
  /** c_0 … c_{order−1} from `lmsCoefficients(sigmas, i, order)`; c_k multiplies d_{i−k}. */
  coeffs: readonly number[];
  predictionType?: PredictionType;
}

export interface LmsStepOutput {
  prevSample: tf.Tensor;
  predOriginalSample: tf.Tensor;
  /** d_i = (x − x̂₀)/σ_i, to append to the history of the next step. */
  derivative: tf.Tensor;
}

/**
 * One LMS step as a pure, differentiable function: x_{i+1} = x_i + Σ_k c_k · d_{i−k}.
 * For IPGO the history of early steps can be constants while the current sample / model output carry gradients.
 */
export function lmsStep({ sample, modelOutput, sigma, history, coeffs, predictionType = 'epsilon' }: LmsStepInput): LmsStepOutput {
  const order = coeffs.length;
  const past = newestItems(history, order - 1, `LMS order ${order}`);
  return tf.tidy(() => {
    const predOriginalSample = predictOriginalFromSigma(sample, modelOutput, sigma, predictionType);
    const derivative = odeDerivative(sample, predOriginalSample, sigma);
    // newest first: d_i, d_{i−1}, …
    const ds = [derivative, ...[...past].reverse()];
    let update: tf.Tensor = tf.mul(f32(coeffs[0]!), ds[0]!);
    for (let k = 1; k < order; k++) update = tf.add(update, tf.mul(f32(coeffs[k]!), ds[k]!));
    const prevSample = tf.add(sample, update);
    return { prevSample, predOriginalSample, derivative };
  });
}

/** LMSDiscreteScheduler's own defaults (diffusers 0.25). */
export const LMS_CLASS: SchedulerClassSpec = { defaults: { timestepSpacing: 'linspace' } };

export interface LmsSteps extends SamplerSteps {
  readonly sigmas: Float32Array;
  /** The coefficients of each step (order min(i + 1, 4)). */
  readonly coefficients: readonly number[][];
}

/**
 * LMSDiscreteScheduler (diffusers 0.25, k-diffusion's `sample_lms`), order 4; its history item is the ODE
 * derivative d_i.
 */
export function lmsSteps(json: SchedulerConfigJson, numInferenceSteps: number,
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}, order = 4): LmsSteps {
  const config = resolveConfig('lms', LMS_CLASS, json, overrides);
  const { timesteps, sigmas, initNoiseSigma } = sigmaSchedule(config, numInferenceSteps);
  const coefficients = timesteps.map((_, i) => lmsCoefficients(sigmas, i, Math.min(i + 1, order)));
  const predictionType = config.predictionType;
  return {
    config, timesteps, initNoiseSigma, sigmas, coefficients,
    scale: (i, z) => scaleBySigma(z, sigmas[i]!),
    step: (i, z, eps, history) => {
      const out = lmsStep({ sample: z, modelOutput: eps, sigma: sigmas[i]!, history, coeffs: coefficients[i]!, predictionType });
      out.predOriginalSample.dispose();
      return { next: out.prevSample, item: out.derivative };
    },
    historyUsed: (i) => coefficients[i]!.length - 1,
    predictOriginal: (i, z, eps) => predictOriginalFromSigma(z, eps, sigmas[i]!, predictionType),
  };
}
