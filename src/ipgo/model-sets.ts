/**
 * The model sets the studio offers and the default settings of each: the paper's for SD1.5, scaled-down ones for
 * the built-in demo set (trained here on simple scenes, tools/demo/; 32×32 images) and the random tiny model
 * (text width 32, 64×64 images) so their loops run in seconds. The reward towers of a set
 * are the installs each reward model names for it (rewards/models/), so a new reward model joins every set.
 */
import { defaultMix, installedRewardModels } from '../rewards/registry';
import { DEMO_SUGGESTED_PROMPT } from '../demo/suggested-prompt';
import type { ModelSet as ModelSetId } from '../weights/catalog/manifest';
import type { ModelSelection, TuneSettings } from '../worker/studio-protocol';

export interface ModelSet {
  id: ModelSetId;
  label: string;
  note: string;
  models: ModelSelection;
  /** The Stable Diffusion model's text width D (token files for it must match). */
  textDim: number;
  defaults: TuneSettings;
  /** A prompt to start from in the Tune view (for the demo set: one whose base image is visibly wrong). */
  suggestedPrompt?: string;
}

/** The paper's settings (prompt-wise IPGO on SD1.5). */
const PAPER: Omit<TuneSettings, 'models'> = {
  mix: defaultMix(),
  numTokens: 10, rank: 30, bound: 1, rotation: 'intended',
  steps: 50, guidance: 7.5, scheduler: 'lms', gradLastK: 2, seed: 0,
  lr: 1e-3, epochs: 50, penaltyWeight: 0.001, height: 512, width: 512,
  stepLR: { stepSize: 10, gamma: 0.9 }, maxGradNorm: 1, gradAccumulation: 4,
};

const demoModels: ModelSelection = { sd: 'demo-sd', ...installedRewardModels('demo') };
const tinyModels: ModelSelection = { sd: 'tiny-sd', ...installedRewardModels('tiny') };
const sd15Models: ModelSelection = { sd: 'sd15', ...installedRewardModels('sd15') };

export const MODEL_SETS: readonly ModelSet[] = [
  {
    id: 'demo', label: 'Built-in demo set',
    note: 'Small models trained on simple scenes (one coloured shape on a plain background, 32×32): they draw what the prompt says, often not quite. ' +
      'CLIP score rewards matching the prompt; the demo aesthetic head prefers big shapes; HPSv2 here is the random tiny tower.',
    models: demoModels, textDim: 32, suggestedPrompt: DEMO_SUGGESTED_PROMPT,
    defaults: { ...PAPER, models: demoModels, mix: { clip: 1 }, guidance: 3, scheduler: 'ddim', numTokens: 4, rank: 6, steps: 10, epochs: 10, lr: 1e-2, height: 32, width: 32 },
  },
  {
    id: 'tiny', label: 'Built-in tiny model',
    note: 'Random weights, kept for tests: the loop, images and curves are real, the pictures mean nothing.',
    models: tinyModels, textDim: 32,
    defaults: { ...PAPER, models: tinyModels, numTokens: 4, rank: 6, steps: 10, epochs: 10, lr: 1e-2, height: 64, width: 64 },
  },
  {
    id: 'sd15', label: 'Stable Diffusion 1.5',
    note: 'Real images; needs SD1.5 and the reward models installed (about 2–4 GB).',
    models: sd15Models, textDim: 768,
    defaults: { ...PAPER, models: sd15Models },
  },
];

/** Text width of each Stable Diffusion model the sets run, by installed model id. */
export function textDimsBySdModel(): Record<string, number> {
  return Object.fromEntries(MODEL_SETS.map((s) => [s.models.sd, s.textDim]));
}

/** One line per tuning setting (keys of TuneSettings, and `size` for width × height), shown beside its input. */
export const SETTING_HELP: Record<string, string> = {
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
