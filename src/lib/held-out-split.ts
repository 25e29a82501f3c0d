import { InvalidInputError } from './input-error';

/**
 * The one held-out rule of batch-wise runs (app and runner): the last `heldOut` prompts of the list are held out from
 * training — a fraction in [0, 1) of the list, rounded, or a whole number of prompts; the rest train.
 */
export function splitHeldOut(n: number, heldOut: number): { train: number; heldOut: number } {
  if (!(heldOut >= 0) || (heldOut >= 1 && !Number.isInteger(heldOut))) {
    throw new InvalidInputError(`held-out must be a fraction in [0, 1) or a whole number of prompts, got ${heldOut}`);
  }
  const h = heldOut >= 1 ? heldOut : Math.round(n * heldOut);
  if (h >= n) throw new InvalidInputError(`holding out ${h} of ${n} prompts leaves none to train on`);
  return { train: n - h, heldOut: h };
}
