import type * as tf from '@tensorflow/tfjs';
import type { TrainSchedule } from './betas';
import type { SchedulerConfig, SchedulerName } from './config';

export interface SchedulerStepOutput {
  prevSample: tf.Tensor;
  predOriginalSample: tf.Tensor;
}

/**
 * The diffusers-like stateful scheduler API. Tensors returned are owned by the caller (they follow the caller's
 * tf.tidy scope); inputs are never disposed. Internal history (LMS derivatives, PNDM model outputs) is kept with
 * tf.keep and freed by reset() / setTimesteps() / dispose().
 */
export interface Scheduler {
  readonly name: SchedulerName;
  readonly config: SchedulerConfig;
  readonly train: TrainSchedule;
  /** Descending inference timesteps (float32 values for LMS/Euler, integers for DDIM/PNDM). */
  readonly timesteps: readonly number[];
  readonly numInferenceSteps: number;
  readonly initNoiseSigma: number;
  /** Index of the next step (null until the first scaleModelInput/step call, as in diffusers). */
  readonly stepIndex: number | null;
  setTimesteps(numInferenceSteps: number): void;
  scaleModelInput(sample: tf.Tensor, timestep: number): tf.Tensor;
  step(modelOutput: tf.Tensor, timestep: number, sample: tf.Tensor): SchedulerStepOutput;
  /** Forget the step history (keeps the timesteps). */
  reset(): void;
  dispose(): void;
}

/** diffusers' `_init_step_index`: the position of `timestep`, the second one if it occurs twice. */
export function stepIndexOf(timesteps: readonly number[], timestep: number): number {
  const hits: number[] = [];
  timesteps.forEach((t, i) => {
    if (t === timestep) hits.push(i);
  });
  if (hits.length === 0) throw new Error(`timestep ${timestep} is not in the schedule [${timesteps.join(', ')}]`);
  return hits.length > 1 ? hits[1]! : hits[0]!;
}
