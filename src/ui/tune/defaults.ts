/**
 * Model sets the studio offers and the default settings for each: the paper's for SD1.5, scaled-down ones for
 * the built-in tiny model (text width 32, 64×64 images) so its loop runs in seconds.
 */
import type { ModelSelection, TuneSettings } from '../../worker/studio-protocol';

export interface ModelSet { id: string; label: string; note: string; models: ModelSelection; defaults: TuneSettings }

const paper: Omit<TuneSettings, 'models'> = {
  mix: { aesthetic: 1 },
  numTokens: 10, rank: 30, bound: 1, rotation: 'intended',
  steps: 50, guidance: 7.5, scheduler: 'lms', gradLastK: 2, seed: 0,
  lr: 1e-3, epochs: 50, penaltyWeight: 0.001, height: 512, width: 512,
  stepLR: { stepSize: 10, gamma: 0.9 }, maxGradNorm: 1, gradAccumulation: 4,
};

export const MODEL_SETS: ModelSet[] = [
  {
    id: 'tiny', label: 'Built-in tiny model',
    note: 'Random weights, for trying the app: the loop, images and curves are real, the pictures mean nothing.',
    models: { sd: 'tiny-sd', clip: 'tiny-clip', aesthetic: 'tiny-aesthetic', hps: 'tiny-hps' },
    defaults: { ...paper, models: { sd: 'tiny-sd', clip: 'tiny-clip', aesthetic: 'tiny-aesthetic', hps: 'tiny-hps' },
      numTokens: 4, rank: 6, steps: 10, epochs: 10, lr: 1e-2, height: 64, width: 64 },
  },
  {
    id: 'sd15', label: 'Stable Diffusion 1.5',
    note: 'Real images; needs SD1.5 and the reward models installed (about 2–4 GB).',
    models: { sd: 'sd15', clip: 'clip-vit-l14', aesthetic: 'laion-aesthetic-l14', hps: 'hpsv2' },
    defaults: { ...paper, models: { sd: 'sd15', clip: 'clip-vit-l14', aesthetic: 'laion-aesthetic-l14', hps: 'hpsv2' } },
  },
];

/** One line per setting, shown beside its input. */
export const HELP: Record<string, string> = {
  numTokens: 'n: learned tokens before and after the prompt (paper: 10 + 10).',
  rank: 'r: coefficients per token; each side learns an n·r-column orthonormal basis.',
  bound: 'Coefficients are clamped to ±bound (the value constraint).',
  rotation: '"intended": the paper\'s pairwise rotations; "off": what the authors\' notebook actually ran.',
  steps: 'Sampling steps (paper: 50, LMS).',
  guidance: 'Classifier-free guidance scale (paper: 7.5).',
  scheduler: 'Sampler; IPGO used LMS.',
  gradLastK: 'K: the last K sampling steps carry gradient (paper: 2).',
  seed: 'Seed of the fixed initial noise and of the token initialisation.',
  lr: 'Adam learning rate (paper: 1e-3), StepLR(10, 0.9).',
  epochs: 'Optimisation steps per prompt (paper: 50); the best image is kept.',
  penaltyWeight: 'λ of the conformity penalty keeping the tokens near the prompt\'s mean (paper: 0.001).',
  size: 'Image size in pixels (a multiple of 8; SD1.5: 512).',
};
