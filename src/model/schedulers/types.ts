import type * as tf from '@tensorflow/tfjs';
import type { SchedulerConfig } from './config';

/** One step's result: the next latents and what the step adds to the history (null when it adds nothing). */
export interface StepResult {
  next: tf.Tensor;
  item: tf.Tensor | null;
}

/**
 * A scheduler for a fixed number of inference steps, as pure functions of the step index: each step maps
 * (z_i, ε_i, history) to (z_{i+1}, history item), with no state between calls. The sampling loop keeps the
 * history; IPGO's backward pass replays a single step under tf.grad and takes its vector-Jacobian product in z_i,
 * ε_i and the history items the step reads. Returned tensors belong to the caller; inputs are never disposed.
 */
export interface SamplerSteps {
  /** The resolved diffusers config. */
  readonly config: SchedulerConfig;
  /** Timestep of each UNet call, in order (float32 values for LMS/Euler, integers for the others). */
  readonly timesteps: readonly number[];
  /** The factor of the unit-normal initial noise (diffusers' init_noise_sigma). */
  readonly initNoiseSigma: number;
  /** scale_model_input for step i (differentiable). */
  scale(i: number, z: tf.Tensor): tf.Tensor;
  /** One step; `history` holds every earlier non-null item, oldest first. */
  step(i: number, z: tf.Tensor, eps: tf.Tensor, history: readonly tf.Tensor[]): StepResult;
  /** How many of the newest history items step i reads. */
  historyUsed(i: number): number;
  /**
   * x̂₀ as step i predicts it from (z_i, ε_i), where that needs no history (absent for PNDM, whose x̂₀ is the
   * multistep combination's).
   */
  predictOriginal?(i: number, z: tf.Tensor, eps: tf.Tensor): tf.Tensor;
}

/** The newest `count` items of `history` (oldest first), with a clear error when the caller kept too few. */
export function newestItems(history: readonly tf.Tensor[], count: number, what: string): readonly tf.Tensor[] {
  if (history.length < count) throw new Error(`${what} needs ${count} history items, got ${history.length}`);
  return history.slice(history.length - count);
}
