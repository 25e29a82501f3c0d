/**
 * DPM-Solver++(2M): diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", solver_order 2,
 * solver_type "midpoint", lower_order_final, final_sigmas_type "zero" (the version with `final_sigmas_type`).
 * In σ-space (x_σ = α·(x₀ + σ·ε), α = 1/sqrt(σ² + 1)) with λ = log α − log(σα) = −log σ, one step from σ_s to σ_t is
 *   1st order: x_t = (σ_t α_t)/(σ_s α_s)·x − α_t(e^{−h} − 1)·D0,               h = λ_t − λ_s
 *   2nd order: x_t = … − α_t(e^{−h} − 1)·D0 − ½α_t(e^{−h} − 1)·D1,             D1 = (m0 − m1)·h/h_0
 * where m0 = D0 is this step's x̂₀ (convert_model_output) and m1 the previous step's, the history item.
 * The first step is 1st order (no history yet) and so is the last (its σ_t is 0, where 2nd order divides by λ_t = ∞;
 * diffusers' lower_order_final for < 15 steps changes nothing else at order 2). Both updates are linear in
 * (x, m0, m1), so the step is differentiable in the sample, the model output and the history item.
 */
import * as tf from '@tensorflow/tfjs';
import { trainSchedule } from './betas';
import { resolveConfig, type PredictionType, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson, type TimestepSpacing } from './config';
import { f32, numpyArange, numpyLinspace, roundHalfEven } from './float32';
import { newestItems, type SamplerSteps } from './types';

/** DPMSolverMultistepScheduler's own defaults, and the options this port fixes to the DPM-Solver++(2M) values. */
export const DPM_SOLVER_CLASS: SchedulerClassSpec = {
  defaults: { timestepSpacing: 'linspace' },
  implements: ['useKarrasSigmas'],
  fixed: {
    algorithm_type: 'dpmsolver++', solver_order: 2, solver_type: 'midpoint', lower_order_final: true,
    euler_at_final: false, use_lu_lambdas: false, final_sigmas_type: 'zero', variance_type: null,
    lambda_min_clipped: -Infinity,
  },
};

/**
 * set_timesteps' integer timesteps (λ not clipped, so the last timestep is N): unlike the other schedulers,
 * linspace and leading space n + 1 points and drop the last (t = 0).
 */
export function dpmSolverTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`num_inference_steps must be a positive integer, got ${steps}`);
  if (steps > numTrain) throw new Error(`num_inference_steps (${steps}) cannot exceed num_train_timesteps (${numTrain})`);
  switch (spacing) {
    case 'linspace':
      return [...numpyLinspace(0, numTrain - 1, steps + 1)].map(roundHalfEven).reverse().slice(0, steps);
    case 'leading': {
      const ratio = Math.floor(numTrain / (steps + 1));
      return Array.from({ length: steps }, (_, i) => (steps - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return [...numpyArange(numTrain, 0, -numTrain / steps)].map((t) => roundHalfEven(t) - 1);
  }
}

/** Karras et al. (2022) σ from σ_max down to σ_min, ρ = 7 (`_convert_to_karras`), in float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho), maxInv = sigmaMax ** (1 / rho);
  return [...numpyLinspace(0, 1, steps)].map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/**
 * `_sigma_to_t`: the fractional timestep of σ by linear interpolation in log σ over the training sigmas
 * (ascending in t), clamped to [0, N − 1]. diffusers' log σ table is float32; the interpolation runs in float64.
 */
export function sigmaToTimestep(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let j = 0; j < logSigmas.length; j++) if (logSigma - logSigmas[j]! >= 0) low = j;
  low = Math.min(low, logSigmas.length - 2);
  const w = Math.min(Math.max((logSigmas[low]! - logSigma) / (logSigmas[low]! - logSigmas[low + 1]!), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

export interface DpmSolverSchedule {
  timesteps: number[];
  /** σ of each step plus the final 0 (float32 values). */
  sigmas: Float32Array;
}

export function dpmSolverSchedule(cfg: SchedulerConfig, numInferenceSteps: number): DpmSolverSchedule {
  const trainSigmas = trainSchedule(cfg).sigmas;
  let timesteps = dpmSolverTimesteps(cfg.timestepSpacing, cfg.numTrainTimesteps, numInferenceSteps, cfg.stepsOffset);
  let stepSigmas: number[];
  if (cfg.useKarrasSigmas) {
    const logSigmas = trainSigmas.map((s) => f32(Math.log(s)));
    stepSigmas = karrasSigmas(trainSigmas[0]!, trainSigmas[trainSigmas.length - 1]!, numInferenceSteps);
    timesteps = stepSigmas.map((s) => roundHalfEven(sigmaToTimestep(s, logSigmas)));
  } else {
    stepSigmas = timesteps.map((t) => trainSigmas[t]!);
  }
  return { timesteps, sigmas: Float32Array.from([...stepSigmas, 0]) };
}

/** α_σ = 1/sqrt(σ² + 1) and σ·α_σ, as diffusers' `_sigma_to_alpha_sigma_t` rounds them in float32. */
function alphaSigma(sigma: number): { alpha: number; sigmaT: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return { alpha, sigmaT: f32(sigma * alpha) };
}

/** convert_model_output for dpmsolver++: the data prediction x̂₀ at noise level σ. */
export function dpmSolverDataPrediction(sample: tf.Tensor, modelOutput: tf.Tensor, sigma: number, predictionType: PredictionType): tf.Tensor {
  const { alpha, sigmaT } = alphaSigma(sigma);
  return tf.tidy(() => {
    switch (predictionType) {
      case 'epsilon':
        return tf.div(tf.sub(sample, tf.mul(sigmaT, modelOutput)), alpha);
      case 'v_prediction':
        return tf.sub(tf.mul(alpha, sample), tf.mul(sigmaT, modelOutput));
      case 'sample':
        return modelOutput.clone();
    }
  });
}

/**
 * Coefficients of x_t = cx·x + c0·m0 + c1·m1 for the step σ_s0 → σ_t (σ_s1: the previous step's σ, for 2nd order),
 * in float64 from the float32 sigmas, then rounded to float32.
 */
export function dpmSolverCoefficients(sigmaT: number, sigmaS0: number, sigmaS1: number | null): { cx: number; c0: number; c1: number } {
  const lambda = (s: number) => {
    const alpha = 1 / Math.sqrt(s * s + 1);
    return Math.log(alpha) - Math.log(s * alpha);
  };
  const alphaT = 1 / Math.sqrt(sigmaT * sigmaT + 1);
  const alphaS0 = 1 / Math.sqrt(sigmaS0 * sigmaS0 + 1);
  const h = lambda(sigmaT) - lambda(sigmaS0);
  const a = alphaT * (Math.exp(-h) - 1);
  const cx = (sigmaT * alphaT) / (sigmaS0 * alphaS0);
  if (sigmaS1 === null) return { cx: f32(cx), c0: f32(-a), c1: 0 };
  if (sigmaT === 0) throw new Error('DPM-Solver++: a 2nd-order step cannot end at σ = 0');
  const r0 = (lambda(sigmaS0) - lambda(sigmaS1)) / h;
  // D1 = (m0 − m1)/r0 enters with −a/2
  return { cx: f32(cx), c0: f32(-a - (0.5 * a) / r0), c1: f32((0.5 * a) / r0) };
}

export interface DpmSolverSteps extends SamplerSteps {
  readonly sigmas: Float32Array;
  /** The solver order of each step (1 or 2). */
  readonly orders: readonly number[];
}

/** DPM-Solver++(2M) for n inference steps; `use_karras_sigmas` selects the Karras σ schedule. */
export function dpmSolverSteps(json: SchedulerConfigJson, numInferenceSteps: number,
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): DpmSolverSteps {
  const config = resolveConfig('dpmpp-2m', DPM_SOLVER_CLASS, json, overrides);
  const { timesteps, sigmas } = dpmSolverSchedule(config, numInferenceSteps);
  const n = timesteps.length;
  const orders = timesteps.map((_, i) => (i === 0 || i === n - 1 ? 1 : 2));
  const coefficients = orders.map((order, i) => dpmSolverCoefficients(sigmas[i + 1]!, sigmas[i]!, order === 2 ? sigmas[i - 1]! : null));
  const predictOriginal = (i: number, z: tf.Tensor, eps: tf.Tensor) => dpmSolverDataPrediction(z, eps, sigmas[i]!, config.predictionType);
  return {
    config, timesteps, sigmas, orders,
    initNoiseSigma: 1.0,
    scale: (_i, z) => z.clone(),
    step: (i, z, eps, history) => {
      const past = newestItems(history, orders[i]! - 1, `DPM-Solver++ step ${i}`);
      const { cx, c0, c1 } = coefficients[i]!;
      const m0 = predictOriginal(i, z, eps);
      const next = tf.tidy(() => {
        const firstOrder = tf.add(tf.mul(cx, z), tf.mul(c0, m0));
        return past.length ? tf.add(firstOrder, tf.mul(c1, past[0]!)) : firstOrder;
      });
      return { next, item: m0 };
    },
    historyUsed: (i) => orders[i]! - 1,
    predictOriginal,
  };
}
