/**
 * Studio jobs: load a model set from IndexedDB, tune a prompt (prompt-wise IPGO), run batch-wise IPGO with a
 * held-out evaluation, and apply saved tokens to a new prompt. Images cross the boundary as RGBA bytes.
 */
import type { JobSpec } from './protocol';
import type { EpochRecord, RgbaImage, SamplingSetup } from '../ipgo/trainer';
import type { RunCheckpoint } from '../ipgo/checkpoint';
import type { IpgoTokensFile } from '../ipgo/tokens-json';
import type { RotationMode } from '../ipgo/config';
import type { RewardId, RewardMix, RewardModelRole } from '../rewards/registry';
import type { ModelSet } from '../ipgo/model-sets';
import type { ModelComponent, PrecisionPolicy, WeightPrecision } from '../model/precision';

export type { EpochRecord, RgbaImage, RunCheckpoint, IpgoTokensFile, ModelSet, RewardId, RewardMix };

/** The samplers IPGO trains with. */
export type SchedulerName = SamplingSetup['scheduler'];

/**
 * Installed model ids (weights-manifest ids) the studio runs on: Stable Diffusion, and the reward towers by role
 * (rewards/reward-models.ts; only those the reward mix needs are loaded).
 */
export type ModelSelection = { sd: string } & Partial<Record<RewardModelRole, string>>;

export interface LoadedModels {
  selection: ModelSelection;
  /** Text width D (768 for SD1.5) and the context length (77). */
  textDim: number;
  maxLength: number;
  /** Pixels per latent (8 for SD1.5) and the model's native image size. */
  vaeScaleFactor: number;
  sampleSize: number;
  rewards: RewardId[];
  /** The precision each component was loaded at, and the device bytes the loaded set holds. */
  precision: PrecisionPolicy;
  residentBytes: number;
}

/** Everything a tuning run needs; defaults are the paper's (see src/ipgo/model-sets.ts). */
export interface TuneSettings {
  models: ModelSelection;
  mix: RewardMix;
  numTokens: number;
  rank: number;
  bound: number;
  rotation: RotationMode;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
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

export interface Evaluation { rewards: Record<string, number>; weightedReward: number; image: RgbaImage }

export type TuneProgress =
  | { kind: 'stage'; stage: string }
  | { kind: 'raw'; prompt: string; result: Evaluation }
  /** A denoising step; `preview` is a cheap latent→RGB approximation, sent every few steps. */
  | { kind: 'step'; phase: 'raw' | 'train' | 'eval'; step: number; total: number; preview?: RgbaImage }
  | { kind: 'epoch'; record: EpochRecord; image: RgbaImage; isBest: boolean; checkpoint: RunCheckpoint };

export interface TuneResult {
  status: 'done' | 'paused';
  raw: Evaluation;
  best: (Evaluation & { epoch: number }) | null;
  final: EpochRecord | null;
  /** The best epoch's tokens, ready to save/export. */
  tokens: IpgoTokensFile | null;
  checkpoint: RunCheckpoint;
}

export interface BatchProgressRow { prompt: string; split: 'train' | 'heldout'; raw?: Evaluation; tuned?: Evaluation }

export type BatchProgress =
  | { kind: 'stage'; stage: string }
  | { kind: 'step'; phase: 'raw' | 'train' | 'eval'; step: number; total: number }
  | { kind: 'record'; record: EpochRecord; image: RgbaImage }
  | { kind: 'row'; index: number; row: BatchProgressRow };

export interface RewardSummary { raw: { mean: number; std: number }; tuned: { mean: number; std: number } }

export interface BatchResult {
  status: 'done' | 'paused';
  /** Held-out evaluation: per reward id, raw vs tuned mean ± std (the paper's table form). */
  table: Record<string, RewardSummary>;
  winRate: number;
  rows: BatchProgressRow[];
  tokens: IpgoTokensFile;
}

export type { ModelComponent, PrecisionPolicy, WeightPrecision } from '../model/precision';

/** The device precision policy the worker loads models with, its default and the components' labels. */
export interface PrecisionInfo {
  /** The precisions a component can take, in the order to offer them. */
  precisions: WeightPrecision[];
  policy: PrecisionPolicy;
  defaults: PrecisionPolicy;
  labels: Record<ModelComponent, string>;
}

/** The preflight of one update (ipgo/preflight.ts) for the Tune view, against the user's GPU memory budget. */
export interface PreflightReport {
  /** False off WebGPU: memory is then the browser's, and the GPU budget does not apply. */
  applies: boolean;
  ok: boolean;
  peakBytes: number;
  residentBytes: number;
  phases: { sampling: number; reward: number; backward: number };
  budgetBytes: number;
  message: string;
  advice: string[];
}

export interface StudioJobs {
  /** Loads the selected models (as tuning would) and predicts one update's peak GPU memory against the budget. */
  preflight: JobSpec<{ settings: TuneSettings; budgetBytes: number }, { stage: string }, PreflightReport>;
  /** Reads the device precision policy; with `set`, changes it first (loaded models reload on next use). */
  precisionPolicy: JobSpec<{ set?: Partial<PrecisionPolicy> }, never, PrecisionInfo>;
  loadModels: JobSpec<{ models: ModelSelection; rewards: RewardId[] }, { stage: string }, LoadedModels>;
  /** With `budgetBytes` on WebGPU, refuses (out-of-memory, with advice) a run whose preflight is over budget. */
  tune: JobSpec<{ prompt: string; settings: TuneSettings; budgetBytes?: number; resume?: { checkpoint: RunCheckpoint; raw: Evaluation; best: (Evaluation & { epoch: number }) | null; records: EpochRecord[] } },
    TuneProgress, TuneResult, 'pause'>;
  batch: JobSpec<{ train: string[]; heldout: string[]; settings: TuneSettings }, BatchProgress, BatchResult, 'pause'>;
  applyTokens: JobSpec<{ tokens: unknown; prompt: string; settings: TuneSettings },
    TuneProgress, { raw: Evaluation; tuned: Evaluation; warnings: string[] }>;
}

/** A reward as the UI shows it: its id (the key of its weight in a mix), words, display range and default weight. */
export interface RewardInfo {
  id: RewardId;
  label: string;
  description: string;
  /** The axis range of the displayed value (and its unit, if any). */
  display: { min: number; max: number; unit?: string };
  defaultWeight: number;
}

/** What the studio offers, from the worker (the domain's lists): the UI renders its forms from this. */
export interface StudioCatalog {
  rewards: RewardInfo[];
  modelSets: ModelSet[];
  schedulers: { name: SchedulerName; label: string }[];
  /** Text width D of each Stable Diffusion model, by installed model id. */
  textDims: Record<string, number>;
  /** One line per tuning setting (keys of TuneSettings, and `size`). */
  help: Record<string, string>;
}

export interface CatalogJobs {
  /** The rewards, model sets, samplers and text widths the studio offers. */
  catalog: JobSpec<Record<string, never>, never, StudioCatalog>;
  /** Parses and validates a token file's text against the model it names (invalid-input naming the problem). */
  checkTokens: JobSpec<{ text: string }, never, IpgoTokensFile>;
}
