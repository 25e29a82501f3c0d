import type * as tf from '@tensorflow/tfjs';
import { trainSchedule, type TrainSchedule } from './betas';
import type { SchedulerConfig } from './config';
import { f32 } from './float32';
import { scaleBySigma } from './sigma-step';
import { inferenceTimesteps, sigmasAtTimesteps } from './timesteps';
import { stepIndexOf } from './types';

/**
 * What the σ-parameterized (k-diffusion style) schedulers share — LMSDiscrete and EulerDiscrete: float32 σ at the
 * inference timesteps plus a final 0, init_noise_sigma, the σ-scaled model input and diffusers' lazy step index.
 * Subclasses call `setTimesteps(config.numTrainTimesteps)` at the end of their constructor (after their own fields
 * exist, since setTimesteps calls their reset()).
 */
export abstract class SigmaScheduler {
  readonly train: TrainSchedule;
  timesteps: number[] = [];
  /** σ per inference step plus a final 0 (float32 values). */
  sigmas: Float32Array = new Float32Array(0);
  numInferenceSteps = 0;
  stepIndex: number | null = null;

  constructor(readonly config: SchedulerConfig) {
    this.train = trainSchedule(config);
  }

  /** σ_max for linspace/trailing, sqrt(σ_max² + 1) for leading (float32). */
  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    return this.config.timestepSpacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.timesteps = inferenceTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, false);
    const sigmas = sigmasAtTimesteps(this.timesteps, this.train.sigmas);
    this.sigmas = new Float32Array(sigmas.length + 1);
    this.sigmas.set(sigmas);
    this.numInferenceSteps = numInferenceSteps;
    this.reset();
  }

  scaleModelInput(sample: tf.Tensor, timestep: number): tf.Tensor {
    return scaleBySigma(sample, this.sigmas[this.indexFor(timestep)]!);
  }

  /** The current step index, found from `timestep` on the first call after a reset (diffusers' _init_step_index). */
  protected indexFor(timestep: number): number {
    if (this.stepIndex === null) this.stepIndex = stepIndexOf(this.timesteps, f32(timestep));
    return this.stepIndex;
  }

  abstract reset(): void;

  dispose(): void {
    this.reset();
  }
}
