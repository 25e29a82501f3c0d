/**
 * The scheduler registry: each name maps to the builder of its pure steps (schedulers/*.ts), the diffusers class it
 * reproduces and a label for the UI. Adding a scheduler is its file plus one line here.
 */
import { resolveConfig, type SchedulerClassSpec, type SchedulerConfig, type SchedulerConfigJson } from './config';
import { DDIM_CLASS, ddimSteps } from './ddim';
import { DPM_SOLVER_CLASS, dpmSolverSteps } from './dpm-solver';
import { EULER_CLASS, eulerSteps } from './euler';
import { LMS_CLASS, lmsSteps } from './lms';
import { PNDM_CLASS, pndmSteps } from './pndm';
import type { SamplerSteps } from './types';

export * from './betas';
export * from './config';
export * from './ddim';
export * from './dpm-solver';
export * from './euler';
export * from './lms';
export * from './lms-coefficients';
export * from './pndm';
export * from './sigma-step';
export * from './timesteps';
export * from './types';

type Overrides = Partial<SchedulerConfig> | SchedulerConfigJson;

export interface SchedulerEntry {
  /** The steps for `numInferenceSteps` from a diffusers scheduler config (`X.from_config`, then set_timesteps). */
  build: (json: SchedulerConfigJson, numInferenceSteps: number, overrides?: Overrides) => SamplerSteps;
  /** The class's defaults and the options it implements (for resolving its config). */
  spec: SchedulerClassSpec;
  /** Settings the name stands for, over the config and the caller's overrides (e.g. Karras sigmas). */
  preset?: Partial<SchedulerConfig>;
  diffusersClass: string;
  label: string;
}

export const SCHEDULER_REGISTRY = {
  lms: { build: lmsSteps, spec: LMS_CLASS, diffusersClass: 'LMSDiscreteScheduler', label: 'LMS' },
  euler: { build: eulerSteps, spec: EULER_CLASS, diffusersClass: 'EulerDiscreteScheduler', label: 'Euler' },
  ddim: { build: ddimSteps, spec: DDIM_CLASS, diffusersClass: 'DDIMScheduler', label: 'DDIM' },
  pndm: { build: pndmSteps, spec: PNDM_CLASS, diffusersClass: 'PNDMScheduler', label: 'PNDM (PLMS)' },
  'dpmpp-2m': { build: dpmSolverSteps, spec: DPM_SOLVER_CLASS, diffusersClass: 'DPMSolverMultistepScheduler', label: 'DPM++ 2M' },
  'dpmpp-2m-karras': {
    build: dpmSolverSteps, spec: DPM_SOLVER_CLASS, preset: { useKarrasSigmas: true },
    diffusersClass: 'DPMSolverMultistepScheduler', label: 'DPM++ 2M Karras',
  },
} as const satisfies Record<string, SchedulerEntry>;

export type SchedulerName = keyof typeof SCHEDULER_REGISTRY;

/** Every scheduler, for the UI's list. */
export const SCHEDULERS: readonly { name: SchedulerName; label: string; diffusersClass: string }[] =
  (Object.entries(SCHEDULER_REGISTRY) as [SchedulerName, SchedulerEntry][]).map(([name, e]) => ({ name, label: e.label, diffusersClass: e.diffusersClass }));

export function isSchedulerName(name: unknown): name is SchedulerName {
  return typeof name === 'string' && Object.hasOwn(SCHEDULER_REGISTRY, name);
}

function entryOf(name: SchedulerName): SchedulerEntry {
  if (!isSchedulerName(name)) throw new Error(`unknown scheduler "${String(name)}": use ${SCHEDULERS.map((s) => s.name).join(', ')}`);
  return SCHEDULER_REGISTRY[name];
}

/** Scheduler `name` for `numInferenceSteps`, configured from a diffusers scheduler_config.json plus overrides. */
export function samplerSteps(name: SchedulerName, json: SchedulerConfigJson, numInferenceSteps: number, overrides: Overrides = {}): SamplerSteps {
  const entry = entryOf(name);
  return entry.build(json, numInferenceSteps, { ...overrides, ...entry.preset });
}

/** The effective config scheduler `name` resolves from `json` (class defaults for absent keys) and overrides. */
export function resolveSchedulerConfig(name: SchedulerName, json: SchedulerConfigJson = {}, overrides: Overrides = {}): SchedulerConfig {
  const entry = entryOf(name);
  return resolveConfig(name, entry.spec, json, { ...overrides, ...entry.preset });
}
