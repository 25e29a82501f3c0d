import * as tf from '@tensorflow/tfjs';
import { alphaCumprodAt, trainSchedule } from './betas';
import { resolveConfig, type PredictionType, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { f32 } from './float32';
import { inferenceTimesteps } from './timesteps';
import { newestItems, type SamplerSteps } from './types';

/**
 * PNDM's transfer φ(x_t, ε, t → t_prev) (formula 9 of the PNDM paper), differentiable in sample and ε:
 * x_prev = sqrt(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·sqrt(1 − ᾱ_prev) + sqrt(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev)).
 */
export function pndmTransfer(sample: tf.Tensor, eps: tf.Tensor, a: number, aPrev: number, predictionType: PredictionType = 'epsilon'): tf.Tensor {
  return tf.tidy(() => {
    const b = f32(1 - a);
    let e = eps;
    if (predictionType === 'v_prediction') e = tf.add(tf.mul(f32(Math.sqrt(a)), eps), tf.mul(f32(Math.sqrt(b)), sample));
    else if (predictionType !== 'epsilon') throw new Error(`PNDM: prediction_type ${predictionType} is not supported`);
    return tf.sub(tf.mul(f32(Math.sqrt(f32(aPrev / a))), sample), noiseTerm(e, a, aPrev));
  });
}

/** The ε part of the transfer: (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·sqrt(1 − ᾱ_prev) + sqrt(ᾱ_t·(1 − ᾱ_t)·ᾱ_prev)). */
function noiseTerm(eps: tf.Tensor, a: number, aPrev: number): tf.Tensor {
  const b = f32(1 - a), bPrev = f32(1 - aPrev);
  const denom = f32(f32(a * f32(Math.sqrt(bPrev))) + f32(Math.sqrt(f32(f32(a * b) * aPrev))));
  return tf.div(tf.mul(f32(aPrev - a), eps), denom);
}

/** PLMS weights of diffusers' step_plms for a history of n model outputs (n ≥ 2), newest first. */
export function plmsWeights(n: number): number[] {
  if (n === 2) return [3 / 2, -1 / 2];
  if (n === 3) return [23 / 12, -16 / 12, 5 / 12];
  return [55 / 24, -59 / 24, 37 / 24, -9 / 24];
}

/** PNDMScheduler's own defaults (diffusers 0.25). */
export const PNDM_CLASS: SchedulerClassSpec = { defaults: { timestepSpacing: 'leading', setAlphaToOne: false } };

/**
 * PNDMScheduler with skip_prk_steps (PLMS only; SD1.5's default scheduler); its history items are model outputs.
 * PLMS runs n + 1 UNet calls: the second call repeats the first timestep's transfer from z_0 with the average of the
 * two model outputs. That transfer is linear in ε, so it is z_1 plus the transfer of half their difference — the
 * step needs only z_1 and the first model output, not z_0. The PRK warm-up (skip_prk_steps false) is not implemented.
 */
export function pndmSteps(json: SchedulerConfigJson, numInferenceSteps: number,
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {}): SamplerSteps {
  const config = resolveConfig('pndm', PNDM_CLASS, json, overrides);
  if (!config.skipPrkSteps) throw new Error('PNDM: only skip_prk_steps = true (PLMS) is implemented');
  if (config.predictionType === 'sample') throw new Error('PNDM: prediction_type sample is not supported');
  const train = trainSchedule(config);
  // ascending "_timesteps", then PLMS repeats the second-to-last one: [.., t_{n−2}, t_{n−2}, t_{n−1}] reversed
  const asc = inferenceTimesteps(config.timestepSpacing, config.numTrainTimesteps, numInferenceSteps, config.stepsOffset, true).reverse();
  const timesteps = numInferenceSteps === 1 ? asc.slice(-1) : [...asc.slice(0, -1), ...asc.slice(-2, -1), ...asc.slice(-1)].reverse();
  const ratio = Math.floor(config.numTrainTimesteps / numInferenceSteps);
  /** ᾱ of the transfer step i makes (step 1 redoes step 0's, from t_0). */
  const alphasOf = (i: number) => {
    const t = timesteps[i === 1 ? 0 : i]!;
    return { a: alphaCumprodAt(train, config, t), aPrev: alphaCumprodAt(train, config, t - ratio) };
  };
  const historyUsed = (i: number) => (i === 0 ? 0 : i === 1 ? 1 : Math.min(i - 1, 3));
  return {
    config, timesteps,
    initNoiseSigma: 1.0,
    scale: (_i, z) => z.clone(),
    step: (i, z, eps, history) => {
      const { a, aPrev } = alphasOf(i);
      const past = newestItems(history, historyUsed(i), `PNDM step ${i}`);
      if (i === 1) {
        const next = tf.tidy(() => {
          const halfDiff = tf.div(tf.sub(eps, past[0]!), 2);
          const e = config.predictionType === 'v_prediction' ? tf.mul(f32(Math.sqrt(a)), halfDiff) : halfDiff;
          return tf.sub(z, noiseTerm(e, a, aPrev));
        });
        return { next, item: null };
      }
      const next = tf.tidy(() => {
        const ets = [...past, eps];
        const n = ets.length;
        const combined = n === 1 ? eps : plmsWeights(n).map((w, k) => tf.mul(w, ets[n - 1 - k]!)).reduce((acc, term) => tf.add(acc, term));
        return pndmTransfer(z, combined, a, aPrev, config.predictionType);
      });
      return { next, item: eps.clone() };
    },
    historyUsed,
  };
}
