/**
 * The live objects of one optimisation run (parameters, Adam, StepLR, RNG, epoch, best so far) and the three ways a
 * run starts: fresh from the config's seed, from a checkpoint (resume), or from imported tokens (apply / continue).
 * The caller disposes a run with `disposeRun`.
 */
import { Adam } from './adam';
import type { DecodedCheckpoint } from './checkpoint';
import type { IpgoConfig } from './config';
import { StepLR } from './lr-schedule';
import { createParams, disposeIpgoParams, initHostParams, type HostParams, type IpgoParams, type ParamName } from './params';
import { Rng } from './rng';
import type { ImportedTokens } from './tokens-json';
import { InvalidInputError } from '../lib/input-error';

export interface BestSoFar {
  reward: number;
  epoch: number;
  params: HostParams;
}

export interface RunState {
  config: IpgoConfig;
  /** Completed epochs. */
  epoch: number;
  params: IpgoParams;
  adam: Adam<ParamName>;
  scheduler: StepLR;
  rng: Rng;
  best: BestSoFar | null;
}

function runWith(config: IpgoConfig, params: IpgoParams, rng: Rng): RunState {
  return { config, epoch: 0, params, rng, best: null, adam: new Adam<ParamName>(params, config.adam), scheduler: new StepLR(config.adam.lr, config.stepLR) };
}

/** A new run: tokens initialised from the config's seed. */
export function freshRun(config: IpgoConfig): RunState {
  const rng = new Rng(config.seed);
  return runWith(config, createParams(initHostParams(config.tokens, rng), config.tokens), rng);
}

/** The run a checkpoint describes, continuing bit-exactly (optimizer moments, LR schedule, RNG, best so far). */
export function runFromCheckpoint(ckpt: DecodedCheckpoint): RunState {
  const run = runWith(ckpt.config, createParams(ckpt.params, ckpt.config.tokens), Rng.fromState(ckpt.rng));
  run.adam.setState(ckpt.adam);
  run.adam.lr = ckpt.adam.lr;
  run.scheduler.setState(ckpt.scheduler);
  return { ...run, epoch: ckpt.epoch, best: ckpt.best };
}

const sameShape = (a: IpgoConfig['tokens'], b: IpgoConfig['tokens']): boolean =>
  a.numTokens === b.numTokens && a.rank === b.rank && a.textDim === b.textDim && a.bound === b.bound && a.rotation === b.rotation;

/** A run holding imported parameters (fresh Adam and StepLR: training may continue from them). */
export function runFromImported(imported: ImportedTokens, config: IpgoConfig): RunState {
  if (!sameShape(config.tokens, imported.shape)) {
    throw new InvalidInputError(`the tokens' shape ${JSON.stringify(imported.shape)} differs from the run's ${JSON.stringify(config.tokens)}`);
  }
  return runWith(config, createParams(imported.params, imported.shape), new Rng(config.seed));
}

export function disposeRun(run: RunState): void {
  disposeIpgoParams(run.params);
  run.adam.dispose();
}
