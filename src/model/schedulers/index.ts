import { resolveSchedulerConfig, type SchedulerConfig, type SchedulerConfigJson, type SchedulerName } from './config';
import { DDIMScheduler } from './ddim';
import { EulerDiscreteScheduler } from './euler';
import { LMSDiscreteScheduler } from './lms';
import { PNDMScheduler } from './pndm';
import type { Scheduler } from './types';

export * from './betas';
export * from './config';
export * from './ddim';
export * from './euler';
export * from './lms';
export * from './lms-coefficients';
export * from './pndm';
export * from './sigma-step';
export * from './timesteps';
export * from './types';

/** The diffusers class each scheduler reproduces. */
export const DIFFUSERS_CLASS: Record<SchedulerName, string> = {
  lms: 'LMSDiscreteScheduler',
  euler: 'EulerDiscreteScheduler',
  ddim: 'DDIMScheduler',
  pndm: 'PNDMScheduler',
};

/**
 * `X.from_config(scheduler_config.json)` for X = LMS / Euler / DDIM / PNDM; overrides (camelCase or snake_case)
 * win over the file, missing keys take the class default.
 */
export function createScheduler(
  name: SchedulerName,
  json: SchedulerConfigJson = {},
  overrides: Partial<SchedulerConfig> | SchedulerConfigJson = {},
): Scheduler {
  const cfg = resolveSchedulerConfig(name, json, overrides);
  switch (name) {
    case 'lms':
      return new LMSDiscreteScheduler(cfg);
    case 'euler':
      return new EulerDiscreteScheduler(cfg);
    case 'ddim':
      return new DDIMScheduler(cfg);
    case 'pndm':
      return new PNDMScheduler(cfg);
    default:
      throw new Error(`unknown scheduler "${String(name)}": use lms, euler, ddim or pndm`);
  }
}
