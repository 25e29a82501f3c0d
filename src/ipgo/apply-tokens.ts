/**
 * Applying imported boundary tokens to a new prompt: the raw prompt's image and the tuned one (the imported
 * parameters injected around the new prompt), with the trainer's pipeline and noise. Nothing is trained.
 */
import { Adam } from './adam';
import type { RunState } from './checkpoint';
import type { IpgoConfig } from './config';
import { StepLR } from './lr-schedule';
import { createParams, type ParamName } from './params';
import { Rng } from './rng';
import type { ImportedTokens } from './tokens-json';
import { disposeRun, type Evaluated, type IpgoTrainer, type TrainerEvents } from './trainer';

const sameShape = (a: IpgoConfig['tokens'], b: IpgoConfig['tokens']): boolean =>
  a.numTokens === b.numTokens && a.rank === b.rank && a.textDim === b.textDim && a.bound === b.bound && a.rotation === b.rotation;

/** A run holding the imported parameters (fresh Adam/StepLR: continue training from them if wanted). Caller disposes. */
export function runFromImported(imported: ImportedTokens, config: IpgoConfig): RunState {
  if (!sameShape(config.tokens, imported.shape)) {
    throw new Error(`the tokens' shape ${JSON.stringify(imported.shape)} differs from the run's ${JSON.stringify(config.tokens)}`);
  }
  const params = createParams(imported.params, imported.shape);
  return {
    config, epoch: 0, params, best: null, rng: new Rng(config.seed),
    adam: new Adam<ParamName>(params, config.adam), scheduler: new StepLR(config.adam.lr, config.stepLR),
  };
}

/** Raw and tuned images and rewards of `prompt` with the imported tokens (trainer.config.tokens must match them). */
export async function applyTokensToPrompt(trainer: IpgoTrainer, imported: ImportedTokens, prompt: string,
  events: TrainerEvents = {}): Promise<{ raw: Evaluated; tuned: Evaluated }> {
  const run = runFromImported(imported, trainer.config);
  let ctx = null;
  try {
    ctx = trainer.prepare(prompt);
    const raw = await trainer.raw(ctx, events);
    const tuned = await trainer.tuned(run, ctx, events);
    return { raw, tuned };
  } finally {
    ctx?.dispose();
    disposeRun(run);
  }
}
