/**
 * Studio jobs: load a model set from IndexedDB, tune a prompt (prompt-wise IPGO), run batch-wise IPGO with a
 * held-out evaluation, and apply saved tokens to a new prompt. Images cross the boundary as RGBA bytes.
 */
import type { JobSpec } from './protocol';
import type { EpochRecord, Evaluated } from '../ipgo/trainer';
import type { RgbaImage } from '../ipgo/rgba-image';
import type { BatchOutcome, BatchResume, BatchRow } from '../ipgo/session';
import type { EvaluationTable, RewardStats } from '../ipgo/evaluation';
import type { ModelSelection, TuneSettings } from '../ipgo/settings';
import type { RunCheckpoint } from '../ipgo/checkpoint';
import type { IpgoTokensFile } from '../ipgo/tokens-json';
import type { RewardId, RewardMix } from '../rewards/registry';
import type { ModelSet } from '../ipgo/model-sets';
import type { ModelComponent, PrecisionPolicy, WeightPrecision } from '../model/precision';

export type { EpochRecord, RgbaImage, RunCheckpoint, IpgoTokensFile, ModelSelection, TuneSettings, BatchResume, EvaluationTable, RewardStats, ModelSet, RewardId, RewardMix };

/** The samplers IPGO trains with. */
export type SchedulerName = TuneSettings['scheduler'];

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

/** A scored image: each reward's raw value, their weighted sum, and the image. */
export type Evaluation = Evaluated;

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

export type BatchProgressRow = BatchRow;

export type BatchProgress =
  | { kind: 'stage'; stage: string }
  | { kind: 'step'; phase: 'raw' | 'train' | 'eval'; step: number; total: number }
  | { kind: 'record'; record: EpochRecord; image: RgbaImage }
  | { kind: 'row'; index: number; row: BatchProgressRow }
  /** After each epoch: what a run cut later (reload, lost device) resumes from. */
  | { kind: 'checkpoint'; checkpoint: RunCheckpoint; history: EpochRecord[] };

/** A batch run's result; `evaluation` is the paper's table (evaluation.ts), null while paused. */
export type BatchResult = BatchOutcome;

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
  /** `heldOut`: the last prompts held out, a fraction in [0, 1) or a count (evaluation.ts splitHeldOut). */
  batch: JobSpec<{ prompts: string[]; heldOut: number; settings: TuneSettings; resume?: BatchResume }, BatchProgress, BatchResult, 'pause'>;
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
