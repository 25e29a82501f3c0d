import * as tf from '@tensorflow/tfjs';
import { trainSchedule, type TrainSchedule } from './betas';
import { resolveSchedulerConfig, type PredictionType, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { initNoiseSigmaOf, withFinalZero } from './lms';
import { odeDerivative, predictOriginalFromSigma, scaleBySigma } from './sigma-step';
import { inferenceTimesteps, sigmasAtTimesteps } from './timesteps';
import { stepIndexOf, type Scheduler, type SchedulerStepOutput } from './types';

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
export class EulerDiscreteScheduler implements Scheduler {
  readonly name = 'euler' as const;
  readonly config: SchedulerConfig;
  readonly train: TrainSchedule;
  timesteps: number[] = [];
  sigmas: Float32Array = new Float32Array(0);
  numInferenceSteps = 0;
  stepIndex: number | null = null;

  constructor(config: SchedulerConfig) {
    this.config = config;
    this.train = trainSchedule(config);
    this.setTimesteps(config.numTrainTimesteps);
  }

  static fromConfig(json: SchedulerConfigJson, overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(resolveSchedulerConfig('euler', json, overrides));
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmas, this.config);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.timesteps = inferenceTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, false);
    this.sigmas = withFinalZero(sigmasAtTimesteps(this.timesteps, this.train.sigmas));
    this.numInferenceSteps = numInferenceSteps;
    this.reset();
  }

  scaleModelInput(sample: tf.Tensor, timestep: number): tf.Tensor {
    if (this.stepIndex === null) this.stepIndex = stepIndexOf(this.timesteps, f32(timestep));
    return scaleBySigma(sample, this.sigmas[this.stepIndex]!);
  }

  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor): SchedulerStepOutput {
    if (this.stepIndex === null) this.stepIndex = stepIndexOf(this.timesteps, f32(timestep));
    const i = this.stepIndex;
    if (i >= this.timesteps.length) throw new Error(`Euler: step ${i} is past the last of ${this.timesteps.length} steps`);
    const out = eulerStep({ sample, modelOutput, sigma: this.sigmas[i]!, sigmaNext: this.sigmas[i + 1]!, predictionType: this.config.predictionType });
    this.stepIndex = i + 1;
    return out;
  }

  reset(): void {
    this.stepIndex = null;
  }

  dispose(): void {
    this.reset();
  }
}
