import type { TimestepSpacing } from './config';
import { f32, interpOverArange, numpyArange, numpyLinspace, roundHalfEven } from './float32';

/**
 * Inference timesteps (descending), as diffusers 0.25 computes them (Table 2 of "Common Diffusion Noise Schedules
 * and Sample Steps are Flawed"):
 * - linspace: linspace(0, N−1, n) reversed — fractional for LMS/Euler (float32), rounded half-even for DDIM/PNDM;
 * - leading: arange(n)·(N // n) reversed, + steps_offset;
 * - trailing: round(arange(N, 0, −N/n)) − 1.
 * `integer` selects the DDIM/PNDM flavour (int64 timesteps); otherwise values are rounded to float32.
 */
export function inferenceTimesteps(
  spacing: TimestepSpacing,
  numTrain: number,
  steps: number,
  stepsOffset: number,
  integer: boolean,
): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`num_inference_steps must be a positive integer, got ${steps}`);
  if (steps > numTrain) throw new Error(`num_inference_steps (${steps}) cannot exceed num_train_timesteps (${numTrain})`);
  let ts: number[];
  switch (spacing) {
    case 'linspace': {
      const lin = [...numpyLinspace(0, numTrain - 1, steps)].reverse();
      ts = integer ? lin.map(roundHalfEven) : lin.map(f32);
      break;
    }
    case 'leading': {
      const ratio = Math.floor(numTrain / steps);
      ts = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
      break;
    }
    case 'trailing': {
      const ratio = numTrain / steps;
      ts = [...numpyArange(numTrain, 0, -ratio)].map((t) => roundHalfEven(t) - 1);
      break;
    }
  }
  return ts;
}

/** σ at (possibly fractional) timesteps: numpy.interp over the training sigmas in float64, then float32. */
export function sigmasAtTimesteps(timesteps: readonly number[], trainSigmas: Float32Array): Float32Array {
  return Float32Array.from(timesteps, (t) => interpOverArange(t, trainSigmas));
}
