import * as tf from '@tensorflow/tfjs';
import { resolveSchedulerConfig, type PredictionType, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { lmsCoefficients } from './lms-coefficients';
import { SigmaScheduler } from './sigma-scheduler';
import { odeDerivative, predictOriginalFromSigma } from './sigma-step';
import type { Scheduler, SchedulerStepOutput } from './types';

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

export interface LmsStepOutput extends SchedulerStepOutput {
  /** d_i = (x − x̂₀)/σ_i, to append to the history of the next step. */
  derivative: tf.Tensor;
}

/**
 * One LMS step as a pure, differentiable function: x_{i+1} = x_i + Σ_k c_k · d_{i−k}.
 * For IPGO the history of early steps can be constants while the current sample / model output carry gradients.
 */
export function lmsStep({ sample, modelOutput, sigma, history, coeffs, predictionType = 'epsilon' }: LmsStepInput): LmsStepOutput {
  const order = coeffs.length;
  if (history.length < order - 1) throw new Error(`LMS order ${order} needs ${order - 1} past derivatives, got ${history.length}`);
  return tf.tidy(() => {
    const predOriginalSample = predictOriginalFromSigma(sample, modelOutput, sigma, predictionType);
    const derivative = odeDerivative(sample, predOriginalSample, sigma);
    // newest first: d_i, d_{i−1}, …
    const ds = [derivative, ...history.slice(history.length - (order - 1)).reverse()].slice(0, order);
    let update: tf.Tensor = tf.mul(f32(coeffs[0]!), ds[0]!);
    for (let k = 1; k < order; k++) update = tf.add(update, tf.mul(f32(coeffs[k]!), ds[k]!));
    const prevSample = tf.add(sample, update);
    return { prevSample, predOriginalSample, derivative };
  });
}

/** LMSDiscreteScheduler (diffusers 0.25, k-diffusion's `sample_lms`), default order 4. */
export class LMSDiscreteScheduler extends SigmaScheduler implements Scheduler {
  readonly name = 'lms' as const;
  private derivatives: tf.Tensor[] = [];
  /** Derivatives dropped from the window; freed on reset so a gradient tape that still refers to them stays valid. */
  private retired: tf.Tensor[] = [];

  constructor(config: SchedulerConfig, readonly order = 4) {
    super(config);
    this.setTimesteps(config.numTrainTimesteps);
  }

  static fromConfig(json: SchedulerConfigJson, overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): LMSDiscreteScheduler {
    return new LMSDiscreteScheduler(resolveSchedulerConfig('lms', json, overrides));
  }

  /** The LMS coefficients used at step `i` (order min(i + 1, this.order)). */
  coefficientsAt(i: number): number[] {
    return lmsCoefficients(this.sigmas, i, Math.min(i + 1, this.order));
  }

  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor): SchedulerStepOutput {
    const i = this.indexFor(timestep);
    if (i >= this.timesteps.length) throw new Error(`LMS: step ${i} is past the last of ${this.timesteps.length} steps`);
    const coeffs = this.coefficientsAt(i);
    const out = lmsStep({ sample, modelOutput, sigma: this.sigmas[i]!, history: this.derivatives, coeffs, predictionType: this.config.predictionType });
    this.derivatives.push(tf.keep(out.derivative));
    if (this.derivatives.length > this.order) this.retired.push(this.derivatives.shift()!);
    this.stepIndex = i + 1;
    return { prevSample: out.prevSample, predOriginalSample: out.predOriginalSample };
  }

  reset(): void {
    for (const t of [...this.derivatives, ...this.retired]) t.dispose();
    this.derivatives = [];
    this.retired = [];
    this.stepIndex = null;
  }
}
