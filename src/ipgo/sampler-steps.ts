/**
 * Each scheduler's step as a pure function of (z_i, ε_i, history) → (z_{i+1}, new history item), so the IPGO
 * backward pass can replay a single step and take its vector-Jacobian product. The forward numerics are exactly
 * the stateful schedulers' (they are built on the same pure step functions).
 *   LMS:   history item = the ODE derivative d_i; z_{i+1} = z_i + Σ_k c_k d_{i−k}
 *   Euler: no history;  DDIM (η = 0): no history.
 */
import type * as tf from '@tensorflow/tfjs';
import { createScheduler, ddimStep, eulerStep, lmsStep, scaleBySigma, type DDIMScheduler, type EulerDiscreteScheduler,
  type LMSDiscreteScheduler, type SchedulerConfigJson, type SchedulerName } from '../model/schedulers';

export interface PureSteps {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  /** scale_model_input for step i (differentiable). */
  scale(i: number, z: tf.Tensor): tf.Tensor;
  /** One step; `history` holds every earlier item (oldest first). */
  step(i: number, z: tf.Tensor, eps: tf.Tensor, history: readonly tf.Tensor[]): { next: tf.Tensor; item: tf.Tensor | null };
  /** How many of the newest history items step i reads. */
  historyUsed(i: number): number;
}

export function pureSteps(name: SchedulerName, config: SchedulerConfigJson, steps: number): PureSteps {
  const s = createScheduler(name, config);
  s.setTimesteps(steps);
  const timesteps = [...s.timesteps];
  const initNoiseSigma = s.initNoiseSigma;
  const prediction = s.config.predictionType;
  switch (name) {
    case 'lms': {
      const lms = s as LMSDiscreteScheduler;
      const coeffs = timesteps.map((_, i) => lms.coefficientsAt(i));
      const sigmas = lms.sigmas;
      return {
        timesteps, initNoiseSigma,
        scale: (i, z) => scaleBySigma(z, sigmas[i]!),
        step: (i, z, eps, history) => {
          const out = lmsStep({ sample: z, modelOutput: eps, sigma: sigmas[i]!, history, coeffs: coeffs[i]!, predictionType: prediction });
          out.predOriginalSample.dispose();
          return { next: out.prevSample, item: out.derivative };
        },
        historyUsed: (i) => coeffs[i]!.length - 1,
      };
    }
    case 'euler': {
      const sigmas = (s as EulerDiscreteScheduler).sigmas;
      return {
        timesteps, initNoiseSigma,
        scale: (i, z) => scaleBySigma(z, sigmas[i]!),
        step: (i, z, eps) => {
          const out = eulerStep({ sample: z, modelOutput: eps, sigma: sigmas[i]!, sigmaNext: sigmas[i + 1]!, predictionType: prediction });
          out.predOriginalSample.dispose();
          return { next: out.prevSample, item: null };
        },
        historyUsed: () => 0,
      };
    }
    case 'ddim': {
      const ddim = s as DDIMScheduler;
      const alphas = timesteps.map((t) => ddim.alphasAt(t));
      const clip = ddim.config.clipSample ? ddim.config.clipSampleRange : null;
      return {
        timesteps, initNoiseSigma,
        scale: (_i, z) => z.clone(),
        step: (i, z, eps) => {
          const out = ddimStep({ sample: z, modelOutput: eps, ...alphas[i]!, predictionType: prediction, clipSampleRange: clip });
          out.predOriginalSample.dispose();
          return { next: out.prevSample, item: null };
        },
        historyUsed: () => 0,
      };
    }
    default:
      s.dispose();
      throw new Error(`IPGO supports the lms, euler and ddim schedulers, not "${name}"`);
  }
}
