/**
 * IPGO hyper-parameters (defaults from the authors' notebook; see shared docs "ipgo-method"). One plain,
 * JSON-safe object so a run's configuration travels inside checkpoints and token exports unchanged.
 */

/** "intended": the paper's pairwise 2-D rotations; "off": what the released notebook actually ran (no rotation). */
export type RotationMode = 'intended' | 'off';

/** Shape of one side's boundary tokens (prefix and suffix share it, their parameters are independent). */
export interface BoundaryShape {
  /** n: injected tokens per side. */
  numTokens: number;
  /** r: rank (projection coefficients) per token; the side's basis W has m = n·r columns. */
  rank: number;
  /** D: text-encoder output width (768 for SD1.5). */
  textDim: number;
  /** Coefficients are clamped to ±bound in the forward pass. */
  bound: number;
  rotation: RotationMode;
}

export interface StepLRConfig {
  stepSize: number;
  gamma: number;
}

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface IpgoConfig {
  tokens: BoundaryShape;
  adam: AdamConfig;
  stepLR: StepLRConfig;
  /** Global gradient-norm clip (torch clip_grad_norm_). */
  maxGradNorm: number;
  /** λ of the conformity penalty. */
  penaltyWeight: number;
  epochs: number;
  /** Gradient accumulation (batch-wise training: loss / accumulation per micro-step). */
  gradAccumulation: number;
  /** K: sampler steps whose UNet call carries gradient. */
  gradLastK: number;
  inferenceSteps: number;
  guidance: number;
  /** Seeds the parameter initialisation (our own PRNG, see rng.ts). */
  seed: number;
}

/** CLIP text encoder context length: prompt ids + 2n injected tokens must fit. */
export const MAX_CONTEXT_LENGTH = 77;

export const DEFAULT_BOUNDARY: Omit<BoundaryShape, 'textDim'> = {
  numTokens: 10,
  rank: 30,
  bound: 1,
  rotation: 'intended',
};

export const DEFAULT_ADAM: AdamConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** Prompt-wise training (the notebook's default loop). */
export function promptWiseConfig(textDim = 768, overrides: Partial<IpgoConfig> = {}): IpgoConfig {
  return {
    tokens: { ...DEFAULT_BOUNDARY, textDim },
    adam: { ...DEFAULT_ADAM },
    stepLR: { stepSize: 10, gamma: 0.9 },
    maxGradNorm: 1.0,
    penaltyWeight: 0.001,
    epochs: 50,
    gradAccumulation: 1,
    gradLastK: 2,
    inferenceSteps: 50,
    guidance: 7.5,
    seed: 0,
    ...overrides,
  };
}

/** Batch-wise training: one token set over a prompt list, StepLR per optimizer step. */
export function batchWiseConfig(textDim = 768, overrides: Partial<IpgoConfig> = {}): IpgoConfig {
  return promptWiseConfig(textDim, {
    stepLR: { stepSize: 15, gamma: 0.95 },
    epochs: 20,
    gradAccumulation: 4,
    ...overrides,
  });
}

/** m = n·r: columns of W, coefficient count per token. */
export const basisWidth = (s: BoundaryShape): number => s.numTokens * s.rank;

/** Shapes of one side's raw parameters. */
export function sideShapes(s: BoundaryShape): { x: [number, number]; W: [number, number]; b: [number] } {
  const m = basisWidth(s);
  return { x: [s.numTokens, m + 2], W: [s.textDim, m], b: [s.textDim] };
}

/** Throws on shapes the parameterisation cannot represent (checked once, before any tensor is made). */
export function validateBoundaryShape(s: BoundaryShape): void {
  const posInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  if (!posInt(s.numTokens)) throw new Error(`numTokens must be a positive integer, got ${s.numTokens}`);
  if (!posInt(s.rank)) throw new Error(`rank must be a positive integer, got ${s.rank}`);
  if (!posInt(s.textDim) || s.textDim % 2 !== 0) {
    throw new Error(`textDim must be a positive even integer (rotations act on pairs), got ${s.textDim}`);
  }
  if (basisWidth(s) > s.textDim) {
    throw new Error(`numTokens·rank = ${basisWidth(s)} exceeds textDim ${s.textDim}: W cannot have orthonormal columns`);
  }
  if (!(Number.isFinite(s.bound) && s.bound > 0)) throw new Error(`bound must be a finite positive number, got ${s.bound}`);
  if (s.rotation !== 'intended' && s.rotation !== 'off') {
    throw new Error(`rotation must be "intended" or "off", got ${JSON.stringify(s.rotation)}`);
  }
}
