import * as tf from '@tensorflow/tfjs';
import { resolveSchedulerConfig, type PredictionType, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { SigmaScheduler } from './sigma-scheduler';
import { odeDerivative, predictOriginalFromSigma } from './sigma-step';
import type { Scheduler, SchedulerStepOutput } from './types';

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
export function eulerStep({ sample, modelOutput, sigma, sigmaNext, predictionType = 'epsilon' }: EulerStepInput): SchedulerStepOutput {
  return tf.tidy(() => {
    const predOriginalSample = predictOriginalFromSigma(sample, modelOutput, sigma, predictionType);
    const derivative = odeDerivative(sample, predOriginalSample, sigma);
    const prevSample = tf.add(sample, tf.mul(derivative, f32(sigmaNext - sigma)));
    return { prevSample, predOriginalSample };
  });
}

/** EulerDiscreteScheduler (diffusers 0.25; linear sigma interpolation, no Karras sigmas, no churn). */
export class EulerDiscreteScheduler extends SigmaScheduler implements Scheduler {
  readonly name = 'euler' as const;

  constructor(config: SchedulerConfig) {
    super(config);
    this.setTimesteps(config.numTrainTimesteps);
  }

  static fromConfig(json: SchedulerConfigJson, overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(resolveSchedulerConfig('euler', json, overrides));
  }

  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor): SchedulerStepOutput {
    const i = this.indexFor(timestep);
    if (i >= this.timesteps.length) throw new Error(`Euler: step ${i} is past the last of ${this.timesteps.length} steps`);
    const out = eulerStep({ sample, modelOutput, sigma: this.sigmas[i]!, sigmaNext: this.sigmas[i + 1]!, predictionType: this.config.predictionType });
    this.stepIndex = i + 1;
    return out;
  }

  reset(): void {
    this.stepIndex = null;
  }
}
