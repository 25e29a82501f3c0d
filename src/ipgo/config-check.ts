/**
 * Complete validation of an IpgoConfig and a SamplingSetup that arrive as untyped JSON (token files, the
 * headless runner's config file): every field present, of the right type and range, nothing unknown. Messages
 * name the field by its path (e.g. `config.adam.lr`).
 */
import { InvalidInputError } from '../lib/input-error';
import { validateBoundaryShape, type IpgoConfig } from './config';
import { SCHEDULERS } from '../model/schedulers';
import type { SamplingSetup } from './trainer';
import { isObj } from '../lib/json-object';

type Check = (v: unknown) => boolean;
const finite: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const positive: Check = (v) => finite(v) && (v as number) > 0;
const nonNegative: Check = (v) => finite(v) && (v as number) >= 0;
const posInt: Check = (v) => Number.isInteger(v) && (v as number) > 0;
const nonNegInt: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const unit: Check = (v) => finite(v) && (v as number) >= 0 && (v as number) < 1;

function checkFields(raw: unknown, where: string, spec: Record<string, [Check, string]>): Record<string, unknown> {
  if (!isObj(raw)) throw new InvalidInputError(`${where} must be an object`);
  for (const k of Object.keys(spec)) if (!(k in raw)) throw new InvalidInputError(`${where}.${k} is missing`);
  for (const k of Object.keys(raw)) if (!(k in spec)) throw new InvalidInputError(`${where}.${k} is not a known field`);
  for (const [k, [ok, what]] of Object.entries(spec)) {
    if (!ok(raw[k])) throw new InvalidInputError(`${where}.${k} must be ${what}, got ${JSON.stringify(raw[k])}`);
  }
  return raw;
}

/** Throws unless `raw` is a complete, valid IpgoConfig; returns a deep copy typed as one. */
export function checkIpgoConfig(raw: unknown, where = 'config'): IpgoConfig {
  const c = checkFields(raw, where, {
    tokens: [isObj, 'an object'], adam: [isObj, 'an object'], stepLR: [isObj, 'an object'],
    maxGradNorm: [positive, 'a positive number'], penaltyWeight: [nonNegative, 'a non-negative number'],
    epochs: [nonNegInt, 'a non-negative integer'], gradAccumulation: [posInt, 'a positive integer'],
    gradLastK: [posInt, 'a positive integer'], inferenceSteps: [posInt, 'a positive integer'],
    guidance: [finite, 'a finite number'], seed: [Number.isSafeInteger as Check, 'a safe integer'],
  });
  const t = checkFields(c.tokens, `${where}.tokens`, {
    numTokens: [posInt, 'a positive integer'], rank: [posInt, 'a positive integer'], textDim: [posInt, 'a positive integer'],
    bound: [positive, 'a positive number'], rotation: [(v) => v === 'intended' || v === 'off', '"intended" or "off"'],
  });
  checkFields(c.adam, `${where}.adam`, { lr: [positive, 'a positive number'], beta1: [unit, 'in [0, 1)'], beta2: [unit, 'in [0, 1)'], eps: [positive, 'a positive number'] });
  checkFields(c.stepLR, `${where}.stepLR`, { stepSize: [posInt, 'a positive integer'], gamma: [positive, 'a positive number'] });
  try {
    validateBoundaryShape(t as unknown as IpgoConfig['tokens']);
  } catch (e) {
    throw new InvalidInputError(`${where}.tokens: ${(e as Error).message}`);
  }
  if ((c.gradLastK as number) > (c.inferenceSteps as number)) {
    throw new InvalidInputError(`${where}.gradLastK (${c.gradLastK}) exceeds ${where}.inferenceSteps (${c.inferenceSteps})`);
  }
  return structuredClone(c) as unknown as IpgoConfig;
}

/** Every registered scheduler but PNDM, which IPGO's SamplingSetup leaves out. */
export const IPGO_SCHEDULERS: readonly SamplingSetup['scheduler'][] = SCHEDULERS.map((s) => s.name)
  .filter((name): name is SamplingSetup['scheduler'] => name !== 'pndm');

/** Throws unless `raw` is a complete, valid SamplingSetup (size checked against the VAE factor at run time). */
export function checkSampling(raw: unknown, where = 'sampling'): SamplingSetup {
  const s = checkFields(raw, where, {
    scheduler: [(v) => (IPGO_SCHEDULERS as readonly unknown[]).includes(v), `one of ${IPGO_SCHEDULERS.join(', ')}`],
    height: [posInt, 'a positive integer'], width: [posInt, 'a positive integer'],
    noiseSeed: [Number.isSafeInteger as Check, 'a safe integer'],
  });
  return { ...s } as unknown as SamplingSetup;
}
