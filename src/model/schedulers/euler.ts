import * as tf from '@tensorflow/tfjs';
import { resolveConfig, type PredictionType, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { odeDerivative, predictOriginalFromSigma, scaleBySigma, sigmaSchedule } from './sigma-step';
import type { SamplerSteps } from './types';

export interface EulerStepInput {
  sample: tf.Tensor;
  modelOutput: tf.Tensor;
  sigma: number;
  sigmaNext: number;
  predictionType?: PredictionType;
}

/**
 * One deterministic Euler step (s_churn = 0, so σ̂ = σ) as a pure, differentiable function:
 * x_{i+1} = x_i + d_i · (σ_{i+1} − σ_i), d_i = (x_i − x̂₀)/σ_i.
 */
export function eulerStep({ sample, modelOutput, sigma, sigmaNext, predictionType = 'epsilon' }: EulerStepInput): tf.Tensor {
  return tf.tidy(() => {
    const predOriginalSample = predictOriginalFromSigma(sample, modelOutput, sigma, predictionType);
    const derivative = odeDerivative(sample, predOriginalSample, sigma);
    return tf.add(sample, tf.mul(derivative, f32(sigmaNext - sigma)));
  });
}

/** EulerDiscreteScheduler's own defaults (diffusers 0.25). */
export const EULER_CLASS: SchedulerClassSpec = { defaults: { timestepSpacing: 'linspace' } };

export interface EulerSteps extends SamplerSteps {
  readonly sigmas: Float32Array;
}

/** EulerDiscreteScheduler (diffusers 0.25; linear σ interpolation, no Karras sigmas, no churn); no history. */
export function eulerSteps(json: SchedulerConfigJson, numInferenceSteps: number,
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): EulerSteps {
  const config = resolveConfig('euler', EULER_CLASS, json, overrides);
  const { timesteps, sigmas, initNoiseSigma } = sigmaSchedule(config, numInferenceSteps);
  const predictionType = config.predictionType;
  return {
    config, timesteps, initNoiseSigma, sigmas,
    scale: (i, z) => scaleBySigma(z, sigmas[i]!),
    step: (i, z, eps) => ({
      next: eulerStep({ sample: z, modelOutput: eps, sigma: sigmas[i]!, sigmaNext: sigmas[i + 1]!, predictionType }),
      item: null,
    }),
    historyUsed: () => 0,
    predictOriginal: (i, z, eps) => predictOriginalFromSigma(z, eps, sigmas[i]!, predictionType),
  };
}
