import * as tf from '@tensorflow/tfjs';
import { alphaCumprodAt, trainSchedule } from './betas';
import { resolveConfig, type PredictionType, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { inferenceTimesteps } from './timesteps';
import type { SamplerSteps } from './types';

export interface DdimStepInput {
  sample: tf.Tensor;
  modelOutput: tf.Tensor;
  /** ᾱ_t and ᾱ_{t_prev} (float32 values from the training schedule). */
  alphaProdT: number;
  alphaProdTPrev: number;
  predictionType?: PredictionType;
  /** Clamp x̂₀ to ±clipSampleRange (diffusers' clip_sample). */
  clipSampleRange?: number | null;
  /** η of DDIM; 0 (default) is the deterministic sampler. η > 0 needs `varianceNoise` (same shape as sample). */
  eta?: number;
  varianceNoise?: tf.Tensor;
}

export interface DdimStepOutput {
  prevSample: tf.Tensor;
  predOriginalSample: tf.Tensor;
}

/**
 * One DDIM step (diffusers 0.25 formula 12 of the DDIM paper) as a pure, differentiable function:
 * x_prev = sqrt(ᾱ_prev)·x̂₀ + sqrt(1 − ᾱ_prev − σ_t²)·ε̂ (+ σ_t·z when η > 0).
 */
export function ddimStep(input: DdimStepInput): DdimStepOutput {
  const { sample, modelOutput, alphaProdT: a, alphaProdTPrev: aPrev, predictionType = 'epsilon', eta = 0 } = input;
  if (eta > 0 && !input.varianceNoise) throw new Error('ddimStep: eta > 0 needs varianceNoise');
  const b = f32(1 - a);
  const sqrtA = f32(Math.sqrt(a)), sqrtB = f32(Math.sqrt(b));
  return tf.tidy(() => {
    let x0: tf.Tensor, eps: tf.Tensor;
    switch (predictionType) {
      case 'epsilon':
        x0 = tf.div(tf.sub(sample, tf.mul(sqrtB, modelOutput)), sqrtA);
        eps = modelOutput;
        break;
      case 'sample':
        x0 = modelOutput;
        eps = tf.div(tf.sub(sample, tf.mul(sqrtA, x0)), sqrtB);
        break;
      case 'v_prediction':
        x0 = tf.sub(tf.mul(sqrtA, sample), tf.mul(sqrtB, modelOutput));
        eps = tf.add(tf.mul(sqrtA, modelOutput), tf.mul(sqrtB, sample));
        break;
    }
    if (input.clipSampleRange != null) {
      x0 = tf.clipByValue(x0, -input.clipSampleRange, input.clipSampleRange);
      // diffusers only re-derives ε from the clipped x̂₀ when use_clipped_model_output is set (it is not here)
    }
    const bPrev = f32(1 - aPrev);
    const variance = f32(f32(bPrev / b) * f32(1 - f32(a / aPrev)));
    const stdDev = f32(eta * f32(Math.sqrt(variance)));
    const direction = tf.mul(f32(Math.sqrt(f32(f32(1 - aPrev) - f32(stdDev * stdDev)))), eps);
    let prevSample = tf.add(tf.mul(f32(Math.sqrt(aPrev)), x0), direction);
    if (eta > 0) prevSample = tf.add(prevSample, tf.mul(stdDev, input.varianceNoise!));
    return { prevSample, predOriginalSample: predictionType === 'sample' ? x0.clone() : x0 };
  });
}

/** DDIMScheduler's own defaults (diffusers 0.25). */
export const DDIM_CLASS: SchedulerClassSpec = { defaults: { timestepSpacing: 'leading', clipSample: true, setAlphaToOne: true } };

export interface DdimSteps extends SamplerSteps {
  /** ᾱ_t and ᾱ_{t_prev} of each step. */
  readonly alphas: readonly { alphaProdT: number; alphaProdTPrev: number }[];
}

/** DDIMScheduler (diffusers 0.25), η = 0: integer timesteps, t_prev = t − N // n; no history. */
export function ddimSteps(json: SchedulerConfigJson, numInferenceSteps: number,
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): DdimSteps {
  const config = resolveConfig('ddim', DDIM_CLASS, json, overrides);
  const train = trainSchedule(config);
  const timesteps = inferenceTimesteps(config.timestepSpacing, config.numTrainTimesteps, numInferenceSteps, config.stepsOffset, true);
  const ratio = Math.floor(config.numTrainTimesteps / numInferenceSteps);
  const alphas = timesteps.map((t) => ({ alphaProdT: alphaCumprodAt(train, config, t), alphaProdTPrev: alphaCumprodAt(train, config, t - ratio) }));
  const stepInput = (i: number, z: tf.Tensor, eps: tf.Tensor): DdimStepInput => ({
    sample: z, modelOutput: eps, ...alphas[i]!, predictionType: config.predictionType,
    clipSampleRange: config.clipSample ? config.clipSampleRange : null,
  });
  return {
    config, timesteps, alphas,
    initNoiseSigma: 1.0,
    scale: (_i, z) => z.clone(),
    step: (i, z, eps) => {
      const out = ddimStep(stepInput(i, z, eps));
      out.predOriginalSample.dispose();
      return { next: out.prevSample, item: null };
    },
    historyUsed: () => 0,
    predictOriginal: (i, z, eps) => {
      const out = ddimStep(stepInput(i, z, eps));
      out.prevSample.dispose();
      return out.predOriginalSample;
    },
  };
}
