/**
 * A run's complete state as a JSON-safe object (parameters, Adam moments and step count, LR scheduler, RNG,
 * epoch, config, best-so-far), so a resumed run continues bit-exactly. Float32 data travels as base64.
 * Restoring validates the whole checkpoint first and assigns nothing on error.
 */
import type { AdamHostState } from './adam';
import type { BestSoFar, RunState } from './run-state';
import { validateBoundaryShape, type IpgoConfig } from './config';
import { decodeTensor, encodeTensor, type EncodedTensor } from './float32-base64';
import type { StepLRState } from './lr-schedule';
import { assignParams, paramShape, PARAM_NAMES, readParams, type HostParams, type ParamName } from './params';
import { Rng, type RngState } from './rng';
import { isObj } from '../lib/json-object';

export const CHECKPOINT_FORMAT = 'ipgo-checkpoint';
export const CHECKPOINT_VERSION = 1;

type EncodedParams = Record<ParamName, EncodedTensor>;

export interface RunCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  config: IpgoConfig;
  /** Completed epochs. */
  epoch: number;
  params: EncodedParams;
  adam: { step: number; lr: number; m: EncodedParams; v: EncodedParams };
  scheduler: StepLRState;
  rng: RngState;
  best: { reward: number; epoch: number; params: EncodedParams } | null;
}

/** A validated checkpoint with host arrays, ready to apply. */
export interface DecodedCheckpoint {
  config: IpgoConfig;
  epoch: number;
  params: HostParams;
  adam: AdamHostState<ParamName> & { lr: number };
  scheduler: StepLRState;
  rng: RngState;
  best: BestSoFar | null;
}

function encodeParams(host: HostParams, cfg: IpgoConfig): EncodedParams {
  const out = {} as EncodedParams;
  for (const n of PARAM_NAMES) out[n] = encodeTensor(host[n], paramShape(n, cfg.tokens));
  return out;
}

export async function saveCheckpoint(run: RunState): Promise<RunCheckpoint> {
  const adam = await run.adam.getState();
  return {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: structuredClone(run.config),
    epoch: run.epoch,
    params: encodeParams(await readParams(run.params), run.config),
    adam: { step: adam.step, lr: run.adam.lr, m: encodeParams(adam.m, run.config), v: encodeParams(adam.v, run.config) },
    scheduler: run.scheduler.getState(),
    rng: run.rng.getState(),
    best: run.best ? { reward: run.best.reward, epoch: run.best.epoch, params: encodeParams(run.best.params, run.config) } : null,
  };
}

function decodeParams(raw: unknown, cfg: IpgoConfig, where: string): HostParams {
  if (!isObj(raw)) throw new Error(`${where}: expected an object with ${PARAM_NAMES.join(', ')}`);
  const out = {} as HostParams;
  for (const n of PARAM_NAMES) out[n] = decodeTensor(raw[n], paramShape(n, cfg.tokens), `${where}.${n}`);
  return out;
}

function num(v: unknown, where: string, check: (x: number) => boolean = Number.isFinite): number {
  if (typeof v !== 'number' || !check(v)) throw new Error(`checkpoint: ${where} is invalid (${JSON.stringify(v)})`);
  return v;
}

/** Parses and validates a checkpoint object (or its JSON text) completely; throws a precise message. */
export function decodeCheckpoint(input: unknown): DecodedCheckpoint {
  const raw = typeof input === 'string' ? JSON.parse(input) as unknown : input;
  if (!isObj(raw)) throw new Error('checkpoint: expected a JSON object');
  if (raw.format !== CHECKPOINT_FORMAT) throw new Error(`checkpoint: format must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(raw.format)}`);
  if (raw.version !== CHECKPOINT_VERSION) throw new Error(`checkpoint: unsupported version ${JSON.stringify(raw.version)} (this app reads version ${CHECKPOINT_VERSION})`);
  if (!isObj(raw.config) || !isObj(raw.config.tokens)) throw new Error('checkpoint: config.tokens missing');
  const config = structuredClone(raw.config) as unknown as IpgoConfig;
  try {
    validateBoundaryShape(config.tokens);
  } catch (e) {
    throw new Error(`checkpoint: config.tokens: ${(e as Error).message}`);
  }
  const nonNegInt = (x: number): boolean => Number.isInteger(x) && x >= 0;
  const epoch = num(raw.epoch, 'epoch', nonNegInt);
  const params = decodeParams(raw.params, config, 'checkpoint.params');
  if (!isObj(raw.adam)) throw new Error('checkpoint: adam missing');
  const adam = {
    step: num(raw.adam.step, 'adam.step', nonNegInt),
    lr: num(raw.adam.lr, 'adam.lr', (x) => Number.isFinite(x) && x >= 0),
    m: decodeParams(raw.adam.m, config, 'checkpoint.adam.m'),
    v: decodeParams(raw.adam.v, config, 'checkpoint.adam.v'),
  };
  if (!isObj(raw.scheduler)) throw new Error('checkpoint: scheduler missing');
  const scheduler = {
    lastEpoch: num(raw.scheduler.lastEpoch, 'scheduler.lastEpoch', nonNegInt),
    lr: num(raw.scheduler.lr, 'scheduler.lr', (x) => Number.isFinite(x) && x >= 0),
  };
  if (!isObj(raw.rng)) throw new Error('checkpoint: rng missing');
  const rngState = { s: raw.rng.s, spare: raw.rng.spare } as RngState;
  try {
    Rng.fromState(rngState);
  } catch (e) {
    throw new Error(`checkpoint: rng: ${(e as Error).message}`);
  }
  let best: BestSoFar | null = null;
  if (raw.best !== null && raw.best !== undefined) {
    if (!isObj(raw.best)) throw new Error('checkpoint: best must be an object or null');
    best = {
      reward: num(raw.best.reward, 'best.reward'),
      epoch: num(raw.best.epoch, 'best.epoch', nonNegInt),
      params: decodeParams(raw.best.params, config, 'checkpoint.best.params'),
    };
  }
  return { config, epoch, params, adam, scheduler, rng: { s: [...rngState.s], spare: rngState.spare }, best };
}

/**
 * Applies a decoded checkpoint to an existing run whose parameters have the checkpoint's shapes (checked before
 * anything is assigned). Returns the run with config, epoch and best replaced.
 */
export function restoreCheckpoint(ckpt: DecodedCheckpoint, run: RunState): RunState {
  for (const n of PARAM_NAMES) {
    const want = paramShape(n, ckpt.config.tokens);
    if (run.params[n].shape.join() !== want.join()) {
      throw new Error(`restoreCheckpoint: run parameter ${n} is [${run.params[n].shape}], checkpoint has [${want}]`);
    }
  }
  assignParams(run.params, ckpt.params, ckpt.config.tokens);
  run.adam.setState(ckpt.adam);
  run.adam.lr = ckpt.adam.lr;
  run.scheduler.setState(ckpt.scheduler);
  run.rng.setState(ckpt.rng);
  return { ...run, config: ckpt.config, epoch: ckpt.epoch, best: ckpt.best };
}
