/**
 * What a user sets for a run (the Tune and Batch views' form, a saved run's settings) and how it becomes the
 * validated IPGO config and sampling setup. One mapping for the app's worker; the runner reads its own JSON config
 * (tools/lib/run-config.ts) into the same IpgoConfig.
 */
import { InvalidInputError } from '../lib/input-error';
import { mixIds, type RewardMix, type RewardModelRole } from '../rewards/registry';
import { batchWiseConfig, promptWiseConfig, type IpgoConfig, type RotationMode } from './config';
import type { SamplingSetup } from './trainer';

/**
 * Installed model ids (weights-manifest ids) the studio runs on: Stable Diffusion, and the reward towers by role
 * (rewards/reward-models.ts; only those the reward mix needs are loaded).
 */
export type ModelSelection = { sd: string } & Partial<Record<RewardModelRole, string>>;

/** Everything a tuning run needs; each model set's defaults are in model-sets.ts. */
export interface TuneSettings {
  models: ModelSelection;
  mix: RewardMix;
  numTokens: number;
  rank: number;
  bound: number;
  rotation: RotationMode;
  steps: number;
  guidance: number;
  scheduler: SamplingSetup['scheduler'];
  gradLastK: number;
  /** Initial-noise seed (the same noise every epoch) and the token-initialisation seed. */
  seed: number;
  lr: number;
  epochs: number;
  penaltyWeight: number;
  height: number;
  width: number;
  stepLR: { stepSize: number; gamma: number };
  maxGradNorm: number;
  gradAccumulation: number;
}

/** Throws InvalidInputError naming the first setting out of range. */
export function validateTuneSettings(s: TuneSettings): void {
  const bad = (msg: string): never => {
    throw new InvalidInputError(msg);
  };
  const int = (v: number, lo: number, hi: number, name: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) bad(`${name} must be an integer in ${lo}..${hi}, got ${v}`);
  };
  int(s.numTokens, 1, 38, 'tokens per side (n)');
  int(s.rank, 1, 768, 'rank (r)');
  int(s.steps, 1, 1000, 'sampling steps');
  int(s.gradLastK, 1, s.steps, 'K (gradient steps)');
  int(s.epochs, 1, 10000, 'epochs');
  if (!(s.lr > 0 && s.lr < 1)) bad(`learning rate must be in (0, 1), got ${s.lr}`);
  if (!(s.bound > 0)) bad(`bound must be positive, got ${s.bound}`);
  if (!Number.isFinite(s.guidance)) bad('guidance must be a number');
  if (Object.values(s.mix).some((w) => w !== undefined && !Number.isFinite(w))) bad('reward weights must be numbers');
  if (mixIds(s.mix).length === 0) bad('choose at least one reward with a non-zero weight');
}

/** The IPGO config of these settings for a model of text width D (prompt-wise, or batch-wise with accumulation). */
export function ipgoConfigOf(s: TuneSettings, textDim: number, mode: 'prompt' | 'batch'): IpgoConfig {
  const make = mode === 'batch' ? batchWiseConfig : promptWiseConfig;
  return make(textDim, {
    tokens: { numTokens: s.numTokens, rank: s.rank, textDim, bound: s.bound, rotation: s.rotation },
    adam: { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    stepLR: s.stepLR, maxGradNorm: s.maxGradNorm, penaltyWeight: s.penaltyWeight, epochs: s.epochs,
    gradAccumulation: s.gradAccumulation, gradLastK: s.gradLastK, inferenceSteps: s.steps, guidance: s.guidance, seed: s.seed,
  });
}

export const samplingOf = (s: TuneSettings): SamplingSetup => ({ scheduler: s.scheduler, height: s.height, width: s.width, noiseSeed: s.seed });
