/**
 * Scheduler configuration as diffusers stores it (`scheduler/scheduler_config.json`), resolved per class.
 * Keys absent from the file take the CLASS default — SD1.5's file has no `timestep_spacing`, so LMS/Euler use
 * "linspace" and DDIM/PNDM "leading" (diffusers 0.25 ignores defaults inherited from another class's config).
 */

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type SchedulerName = 'lms' | 'euler' | 'ddim' | 'pndm';

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
}

/** diffusers 0.25 `__init__` defaults of each class. */
const CLASS_DEFAULTS: Record<SchedulerName, SchedulerConfig> = {
  lms: base({ timestepSpacing: 'linspace' }),
  euler: base({ timestepSpacing: 'linspace' }),
  ddim: base({ timestepSpacing: 'leading', clipSample: true, setAlphaToOne: true }),
  pndm: base({ timestepSpacing: 'leading', setAlphaToOne: false }),
};

function base(over: Partial<SchedulerConfig>): SchedulerConfig {
  return {
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
    ...over,
  };
}

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
};

/**
 * The effective config of scheduler `name` built from a diffusers JSON config (`from_config`), with optional
 * overrides (camelCase, or the JSON's snake_case keys, e.g. `{ timestep_spacing: 'leading' }`).
 */
export function resolveSchedulerConfig(
  name: SchedulerName,
  json: SchedulerConfigJson = {},
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {},
): SchedulerConfig {
  const cfg: SchedulerConfig = { ...CLASS_DEFAULTS[name] };
  const assign = (src: Record<string, unknown>) => {
    for (const [field, jsonKey] of Object.entries(JSON_KEYS) as [keyof SchedulerConfig, string][]) {
      const v = field in src ? src[field] : src[jsonKey];
      if (v !== undefined && !(v === null && field !== 'trainedBetas')) (cfg as unknown as Record<string, unknown>)[field] = v;
    }
  };
  assign(json);
  assign(overrides as Record<string, unknown>);
  validate(cfg);
  const unsupported = unsupportedSettings({ ...json, ...overrides });
  if (unsupported.length) throw new Error(`scheduler ${name}: unsupported settings ${unsupported.join(', ')}`);
  return cfg;
}

/** Options diffusers has that these ports do not implement, with the only value accepted. */
const FIXED_SETTINGS: Record<string, unknown> = {
  use_karras_sigmas: false,
  interpolation_type: 'linear',
  timestep_type: 'discrete',
  thresholding: false,
  rescale_betas_zero_snr: false,
  sigma_min: null,
  sigma_max: null,
};

/** `key=value` for every setting in `json` that differs from what we implement (empty when all is supported). */
export function unsupportedSettings(json: Record<string, unknown>): string[] {
  return Object.entries(FIXED_SETTINGS)
    .filter(([k, ok]) => json[k] !== undefined && json[k] !== ok && !(ok === false && json[k] === null))
    .map(([k]) => `${k}=${JSON.stringify(json[k])}`);
}

/** The diffusers JSON key of each config field. */
export const SCHEDULER_JSON_KEYS: Readonly<Record<keyof SchedulerConfig, string>> = JSON_KEYS;

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
}
