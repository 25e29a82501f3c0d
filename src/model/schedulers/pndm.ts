import * as tf from '@tensorflow/tfjs';
import { trainSchedule, type TrainSchedule } from './betas';
import { resolveSchedulerConfig, type PredictionType, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { inferenceTimesteps } from './timesteps';
import type { Scheduler, SchedulerStepOutput } from './types';

/**
 * PNDM's transfer φ(x_t, ε, t → t_prev) (formula 9 of the PNDM paper), differentiable in sample and ε:
 * x_prev = sqrt(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·sqrt(1 − ᾱ_prev) + sqrt(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev)).
 */
export function pndmTransfer(sample: tf.Tensor, eps: tf.Tensor, a: number, aPrev: number, predictionType: PredictionType = 'epsilon'): tf.Tensor {
  return tf.tidy(() => {
    const b = f32(1 - a), bPrev = f32(1 - aPrev);
    let e = eps;
    if (predictionType === 'v_prediction') e = tf.add(tf.mul(f32(Math.sqrt(a)), eps), tf.mul(f32(Math.sqrt(b)), sample));
    else if (predictionType !== 'epsilon') throw new Error(`PNDM: prediction_type ${predictionType} is not supported`);
    const sampleCoeff = f32(Math.sqrt(f32(aPrev / a)));
    const denom = f32(f32(a * f32(Math.sqrt(bPrev))) + f32(Math.sqrt(f32(f32(a * b) * aPrev))));
    return tf.sub(tf.mul(sampleCoeff, sample), tf.div(tf.mul(f32(aPrev - a), e), denom));
  });
}

/** PLMS weights of diffusers' step_plms for a history of n model outputs (n ≥ 2), newest first. */
export function plmsWeights(n: number): number[] {
  if (n === 2) return [3 / 2, -1 / 2];
  if (n === 3) return [23 / 12, -16 / 12, 5 / 12];
  return [55 / 24, -59 / 24, 37 / 24, -9 / 24];
}

/**
 * PNDMScheduler with skip_prk_steps (PLMS only; SD1.5's default scheduler). Bonus: kept for parity with the
 * real pipeline's default; IPGO uses LMS. The PRK warm-up (skip_prk_steps false) is not implemented.
 */
export class PNDMScheduler implements Scheduler {
  readonly name = 'pndm' as const;
  readonly config: SchedulerConfig;
  readonly train: TrainSchedule;
  readonly initNoiseSigma = 1.0;
  readonly finalAlphaCumprod: number;
  timesteps: number[] = [];
  numInferenceSteps = 0;
  stepIndex: number | null = null;
  private ets: tf.Tensor[] = [];
  private retired: tf.Tensor[] = [];
  private curSample: tf.Tensor | null = null;
  private counter = 0;

  constructor(config: SchedulerConfig) {
    if (!config.skipPrkSteps) throw new Error('PNDM: only skip_prk_steps = true (PLMS) is implemented');
    this.config = config;
    this.train = trainSchedule(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.train.alphasCumprod[0]!;
  }

  static fromConfig(json: SchedulerConfigJson, overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): PNDMScheduler {
    return new PNDMScheduler(resolveSchedulerConfig('pndm', json, overrides));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    // ascending "_timesteps", then PLMS repeats the second-to-last one: [.., t_{n−2}, t_{n−2}, t_{n−1}] reversed
    const asc = inferenceTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, true).reverse();
    const plms = [...asc.slice(0, -1), ...asc.slice(-2, -1), ...asc.slice(-1)].reverse();
    this.timesteps = numInferenceSteps === 1 ? asc.slice(-1) : plms;
    this.numInferenceSteps = numInferenceSteps;
    this.reset();
  }

  scaleModelInput(sample: tf.Tensor): tf.Tensor {
    return sample.clone();
  }

  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor): SchedulerStepOutput {
    if (this.numInferenceSteps === 0) throw new Error('PNDM: call setTimesteps first');
    const ratio = Math.floor(this.config.numTrainTimesteps / this.numInferenceSteps);
    let t = Math.round(timestep);
    let prevT = t - ratio;
    if (this.counter !== 1) {
      while (this.ets.length > 3) this.retired.push(this.ets.shift()!);
      this.ets.push(tf.keep(modelOutput.clone()));
    } else {
      prevT = t;
      t = t + ratio;
    }
    let x = sample;
    const out = tf.tidy(() => {
      const n = this.ets.length;
      let eps: tf.Tensor;
      if (n === 1 && this.counter === 0) {
        eps = modelOutput;
        this.curSample = tf.keep(sample.clone());
      } else if (n === 1 && this.counter === 1) {
        eps = tf.div(tf.add(modelOutput, this.ets[0]!), 2);
        x = this.curSample!;
      } else {
        const w = plmsWeights(n);
        eps = w.map((wk, k) => tf.mul(wk, this.ets[n - 1 - k]!)).reduce((acc, term) => tf.add(acc, term));
      }
      const ac = this.train.alphasCumprod;
      const a = ac[t]!, aPrev = prevT >= 0 ? ac[prevT]! : this.finalAlphaCumprod;
      const prev = pndmTransfer(x, eps, a, aPrev, this.config.predictionType);
      // diffusers' PLMS reports no x̂₀; ours is the one implied by the combined ε at the step's own t
      const x0 = tf.div(tf.sub(x, tf.mul(f32(Math.sqrt(f32(1 - a))), eps)), f32(Math.sqrt(a)));
      return { prevSample: prev, predOriginalSample: x0 };
    });
    if (this.counter === 1 && this.curSample) {
      this.retired.push(this.curSample);
      this.curSample = null;
    }
    this.counter += 1;
    this.stepIndex = (this.stepIndex ?? 0) + 1;
    return out;
  }

  reset(): void {
    for (const t of [...this.ets, ...this.retired]) t.dispose();
    this.curSample?.dispose();
    this.curSample = null;
    this.ets = [];
    this.retired = [];
    this.counter = 0;
    this.stepIndex = null;
  }

  dispose(): void {
    this.reset();
  }
}
