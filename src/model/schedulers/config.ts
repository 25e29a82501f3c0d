/**
 * Scheduler configuration as diffusers stores it (`scheduler/scheduler_config.json`), resolved per class.
 * Keys absent from the file take the CLASS default — SD1.5's file has no `timestep_spacing`, so LMS/Euler/DPM-Solver
 * use "linspace" and DDIM/PNDM "leading" (diffusers 0.25 ignores defaults inherited from another class's config).
 */

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

/** The raw JSON (any diffusers scheduler class); unknown keys are ignored. */
export type SchedulerConfigJson = Record<string, unknown>;

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: number[] | null;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** DDIM / PNDM: ᾱ used past the last step (1 when true, else ᾱ_0). */
  setAlphaToOne: boolean;
  /** DDIM: clamp x̂₀ to ±clipSampleRange. */
  clipSample: boolean;
  clipSampleRange: number;
  /** PNDM: PLMS only (SD1.5 uses true). */
  skipPrkSteps: boolean;
  /** DPM-Solver: Karras et al.'s σ schedule (ρ = 7) instead of σ at the spaced timesteps. */
  useKarrasSigmas: boolean;
}

/** diffusers' `__init__` defaults shared by every class; each scheduler file states where its class differs. */
const BASE_DEFAULTS: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  setAlphaToOne: false,
  clipSample: false,
  clipSampleRange: 1.0,
  skipPrkSteps: false,
  useKarrasSigmas: false,
};

const JSON_KEYS: Record<keyof SchedulerConfig, string> = {
  numTrainTimesteps: 'num_train_timesteps',
  betaStart: 'beta_start',
  betaEnd: 'beta_end',
  betaSchedule: 'beta_schedule',
  trainedBetas: 'trained_betas',
  predictionType: 'prediction_type',
  timestepSpacing: 'timestep_spacing',
  stepsOffset: 'steps_offset',
  setAlphaToOne: 'set_alpha_to_one',
  clipSample: 'clip_sample',
  clipSampleRange: 'clip_sample_range',
  skipPrkSteps: 'skip_prk_steps',
  useKarrasSigmas: 'use_karras_sigmas',
};

/** The diffusers JSON key of each config field. */
export const SCHEDULER_JSON_KEYS: Readonly<Record<keyof SchedulerConfig, string>> = JSON_KEYS;

/** What one scheduler class changes in diffusers' defaults, and the settings it implements beyond the common ones. */
export interface SchedulerClassSpec {
  /** The class's own `__init__` defaults where they differ from BASE_DEFAULTS. */
  defaults: Partial<SchedulerConfig>;
  /** Settings only this class implements (they are rejected for the others when set to a non-default value). */
  implements?: readonly (keyof SchedulerConfig)[];
  /** diffusers options this port fixes, with the only value accepted. */
  fixed?: Readonly<Record<string, unknown>>;
}

/**
 * The effective config of one scheduler class built from a diffusers JSON config (`from_config`), with optional
 * overrides (camelCase, or the JSON's snake_case keys, e.g. `{ timestep_spacing: 'leading' }`).
 */
export function resolveConfig(
  label: string,
  spec: SchedulerClassSpec,
  json: SchedulerConfigJson = {},
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {},
): SchedulerConfig {
  const cfg: SchedulerConfig = { ...BASE_DEFAULTS, ...spec.defaults };
  const assign = (src: Record<string, unknown>) => {
    for (const [field, jsonKey] of Object.entries(JSON_KEYS) as [keyof SchedulerConfig, string][]) {
      const v = field in src ? src[field] : src[jsonKey];
      if (v !== undefined && !(v === null && field !== 'trainedBetas')) (cfg as unknown as Record<string, unknown>)[field] = v;
    }
  };
  assign(json);
  assign(overrides as Record<string, unknown>);
  validate(cfg);
  const merged = { ...json, ...overrides };
  const unsupported = [...unsupportedSettings(merged, spec.fixed), ...classOnlySettings(cfg, spec)];
  if (unsupported.length) throw new Error(`scheduler ${label}: unsupported settings ${unsupported.join(', ')}`);
  return cfg;
}

/** diffusers options that none of these ports implements, with the only value accepted. */
const FIXED_SETTINGS: Record<string, unknown> = {
  interpolation_type: 'linear',
  timestep_type: 'discrete',
  thresholding: false,
  rescale_betas_zero_snr: false,
  sigma_min: null,
  sigma_max: null,
};

/** `key=value` for every setting in `json` that differs from what we implement (empty when all is supported). */
export function unsupportedSettings(json: Record<string, unknown>, classFixed: Readonly<Record<string, unknown>> = {}): string[] {
  return Object.entries({ ...FIXED_SETTINGS, ...classFixed })
    .filter(([k, ok]) => json[k] !== undefined && json[k] !== ok && !(ok === false && json[k] === null))
    .map(([k]) => `${k}=${JSON.stringify(json[k])}`);
}

/** Boolean options that only some classes implement, switched on for one that does not. */
function classOnlySettings(cfg: SchedulerConfig, spec: SchedulerClassSpec): string[] {
  const classOnly: (keyof SchedulerConfig)[] = ['useKarrasSigmas'];
  return classOnly
    .filter((field) => cfg[field] !== BASE_DEFAULTS[field] && !spec.implements?.includes(field))
    .map((field) => `${JSON_KEYS[field]}=${JSON.stringify(cfg[field])}`);
}

function validate(cfg: SchedulerConfig): void {
  if (!['linspace', 'leading', 'trailing'].includes(cfg.timestepSpacing)) {
    throw new Error(`timestep_spacing "${cfg.timestepSpacing}" is not supported: use linspace, leading or trailing`);
  }
  if (!['epsilon', 'v_prediction', 'sample'].includes(cfg.predictionType)) {
    throw new Error(`prediction_type "${cfg.predictionType}" is not supported`);
  }
  if (!Number.isInteger(cfg.numTrainTimesteps) || cfg.numTrainTimesteps < 2) {
    throw new Error(`num_train_timesteps must be an integer ≥ 2, got ${cfg.numTrainTimesteps}`);
  }
  if (typeof cfg.useKarrasSigmas !== 'boolean') throw new Error(`use_karras_sigmas must be true or false, got ${JSON.stringify(cfg.useKarrasSigmas)}`);
}
