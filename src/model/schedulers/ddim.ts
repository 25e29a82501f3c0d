import * as tf from '@tensorflow/tfjs';
import { trainSchedule, type TrainSchedule } from './betas';
import { resolveSchedulerConfig, type PredictionType, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { inferenceTimesteps } from './timesteps';
import type { Scheduler, SchedulerStepOutput } from './types';

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

/**
 * One DDIM step (diffusers 0.25 formula 12 of the DDIM paper) as a pure, differentiable function:
 * x_prev = sqrt(ᾱ_prev)·x̂₀ + sqrt(1 − ᾱ_prev − σ_t²)·ε̂ (+ σ_t·z when η > 0).
 */
export function ddimStep(input: DdimStepInput): SchedulerStepOutput {
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

/** DDIMScheduler (diffusers 0.25), η = 0 by default; integer timesteps, prev t = t − N // n. */
export class DDIMScheduler implements Scheduler {
  readonly name = 'ddim' as const;
  readonly config: SchedulerConfig;
  readonly train: TrainSchedule;
  readonly initNoiseSigma = 1.0;
  /** ᾱ past the last step: 1 with set_alpha_to_one, else ᾱ_0. */
  readonly finalAlphaCumprod: number;
  timesteps: number[] = [];
  numInferenceSteps = 0;
  stepIndex: number | null = null;

  constructor(config: SchedulerConfig, readonly eta = 0) {
    this.config = config;
    this.train = trainSchedule(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.train.alphasCumprod[0]!;
    this.timesteps = Array.from({ length: config.numTrainTimesteps }, (_, i) => config.numTrainTimesteps - 1 - i);
  }

  static fromConfig(json: SchedulerConfigJson, overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): DDIMScheduler {
    return new DDIMScheduler(resolveSchedulerConfig('ddim', json, overrides));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.timesteps = inferenceTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, true);
    this.numInferenceSteps = numInferenceSteps;
    this.reset();
  }

  /** ᾱ_t and ᾱ_prev used by the step at timestep t. */
  alphasAt(timestep: number): { alphaProdT: number; alphaProdTPrev: number } {
    if (this.numInferenceSteps === 0) throw new Error('DDIM: call setTimesteps first');
    const prev = timestep - Math.floor(this.config.numTrainTimesteps / this.numInferenceSteps);
    const ac = this.train.alphasCumprod;
    return { alphaProdT: ac[timestep]!, alphaProdTPrev: prev >= 0 ? ac[prev]! : this.finalAlphaCumprod };
  }

  /** DDIM does not scale the model input (a copy, so the caller may dispose input and output independently). */
  scaleModelInput(sample: tf.Tensor): tf.Tensor {
    return sample.clone();
  }

  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor, opts: { varianceNoise?: tf.Tensor } = {}): SchedulerStepOutput {
    const t = Math.round(timestep);
    if (t < 0 || t >= this.config.numTrainTimesteps) throw new Error(`DDIM: timestep ${timestep} out of range`);
    const out = ddimStep({
      sample,
      modelOutput,
      ...this.alphasAt(t),
      predictionType: this.config.predictionType,
      clipSampleRange: this.config.clipSample ? this.config.clipSampleRange : null,
      eta: this.eta,
      varianceNoise: opts.varianceNoise,
    });
    this.stepIndex = (this.stepIndex ?? this.timesteps.indexOf(t)) + 1;
    return out;
  }

  reset(): void {
    this.stepIndex = null;
  }

  dispose(): void {
    this.reset();
  }
}
