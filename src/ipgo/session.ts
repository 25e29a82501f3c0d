/**
 * IPGO jobs on a loaded model set, shared by the app's worker and the headless runner: tune one prompt (resumable),
 * train one token set over a prompt list and evaluate it (resumable), apply saved tokens to prompts. Every prompt of
 * a job is prepared (and checked) before any sampling; the text towers then leave the GPU until the job ends.
 * Callers see progress through events and get plain results (RGBA images, records, checkpoints, token files).
 */
import { formatBytes } from '../lib/format-bytes';
import { InvalidInputError } from '../lib/input-error';
import { mixIds, type RewardMix } from '../rewards/registry';
import { decodeCheckpoint, saveCheckpoint, type RunCheckpoint } from './checkpoint';
import type { IpgoConfig } from './config';
import { evaluatedRows, evaluationTable, type EvaluationTable } from './evaluation';
import type { LoadedModelSet } from './model-set';
import { readParams } from './params';
import { offloadTextTowers, type PromptContext } from './prompt-context';
import { disposeRun, freshRun, runFromCheckpoint, runFromImported, type RunState } from './run-state';
import type { RgbaImage } from './rgba-image';
import { exportTokens, type ImportedTokens, type IpgoTokensFile } from './tokens-json';
import { IpgoTrainer, type EpochRecord, type Evaluated, type SamplingSetup, type TrainerEvents } from './trainer';

export interface SessionSetup {
  set: LoadedModelSet;
  config: IpgoConfig;
  sampling: SamplingSetup;
  mix: RewardMix;
  /** The SD model id written into exported tokens. */
  modelId: string;
}

export interface SessionOptions {
  log?: (message: string) => void;
  /** Move the text towers off the GPU while the job runs (jobs that train). */
  offloadTextTowers?: boolean;
  /** Asked when the job ends: false leaves the towers where they are (after a device loss the set is reloaded). */
  restoreTextTowers?: () => boolean;
  /** Runner: a prompt that cannot be prepared is reported and skipped instead of failing the job. */
  skipInvalidPrompts?: boolean;
}

/** A prompt of a job: its prepared context, or why it was skipped. */
export type PreparedPrompt = { prompt: string; ctx: PromptContext; error?: undefined } | { prompt: string; ctx?: undefined; error: string };

/** Builds the trainer, prepares every prompt, runs `work`, then frees all and brings the text towers back. */
export async function withSession<T>(s: SessionSetup, prompts: string[], o: SessionOptions,
  work: (trainer: IpgoTrainer, prepared: PreparedPrompt[]) => Promise<T>): Promise<T> {
  const trainer = new IpgoTrainer(s.set.models, s.config, s.sampling, s.mix);
  const prepared: PreparedPrompt[] = [];
  let away: Awaited<ReturnType<typeof offloadTextTowers>> | null = null;
  try {
    for (const prompt of prompts) {
      try {
        if (!prompt.trim()) throw new InvalidInputError('empty prompt');
        prepared.push({ prompt, ctx: trainer.prepare(prompt) });
      } catch (e) {
        if (!(e instanceof InvalidInputError)) throw e;
        if (!o.skipInvalidPrompts) throw new InvalidInputError(prompts.length > 1 ? `"${prompt}": ${e.message}` : e.message);
        prepared.push({ prompt, error: e.message });
      }
    }
    if (o.offloadTextTowers) {
      away = await offloadTextTowers(s.set.models);
      if (away.bytes > 0) o.log?.(`text encoders moved off the GPU for the update (${formatBytes(away.bytes)})`);
    }
    return await work(trainer, prepared);
  } finally {
    for (const p of prepared) p.ctx?.dispose();
    trainer.dispose();
    if (away && (o.restoreTextTowers?.() ?? true)) away.restore();
  }
}

export type BestImage = Evaluated & { epoch: number };

/** What a paused prompt run needs to continue where it stopped. */
export interface TuneResume { checkpoint: RunCheckpoint; raw: Evaluated; best: BestImage | null; records: EpochRecord[] }

export interface TuneEvents extends TrainerEvents {
  onRaw?: (prompt: string, raw: Evaluated) => void | Promise<void>;
  /** After each epoch; `checkpoint()` encodes the run as it is now. */
  onEpochDone?: (record: EpochRecord, image: RgbaImage, isBest: boolean, checkpoint: () => Promise<RunCheckpoint>) => void | Promise<void>;
}

export interface TuneOutcome {
  status: 'done' | 'paused';
  raw: Evaluated;
  best: BestImage | null;
  /** The last epoch's record and image. */
  final: (EpochRecord & { image: RgbaImage }) | null;
  /** Every epoch of the run, resumed ones included. */
  records: EpochRecord[];
  /** The best epoch's tokens. */
  tokens: IpgoTokensFile | null;
  checkpoint: RunCheckpoint;
}

/** The config a run uses: a resumed run keeps the one it started with. */
export const runConfig = (fresh: () => IpgoConfig, checkpoint?: RunCheckpoint): IpgoConfig => (checkpoint ? decodeCheckpoint(checkpoint).config : fresh());

/** Prompt-wise IPGO on one prepared prompt: the raw image, then the epochs left, keeping the best. */
export async function tunePrepared(s: SessionSetup, trainer: IpgoTrainer, ctx: PromptContext, events: TuneEvents = {}, resume?: TuneResume): Promise<TuneOutcome> {
  const run = resume ? runFromCheckpoint(decodeCheckpoint(resume.checkpoint)) : freshRun(s.config);
  try {
    const raw = resume?.raw ?? await trainer.raw(ctx, events);
    await events.onRaw?.(ctx.prompt, raw);
    let best = resume?.best ?? null;
    let final: TuneOutcome['final'] = null;
    const { records } = await trainer.trainPrompt(run, ctx, {
      ...events,
      onEpoch: async (record, image, isBest) => {
        if (isBest) best = { rewards: record.rewards, weightedReward: record.weightedReward, image, epoch: record.epoch };
        final = { ...record, image };
        await events.onEpochDone?.(record, image, isBest, () => saveCheckpoint(run));
      },
    });
    const history = [...(resume?.records ?? []), ...records];
    const tokens = run.best ? exportTokens({
      params: run.best.params, config: run.config, sampling: s.sampling, modelId: s.modelId, textEncoder: s.set.fingerprint,
      prompts: [ctx.prompt], rewardWeights: s.mix as Record<string, number>, history, reward: run.best.reward,
    }) : null;
    return { status: run.epoch >= run.config.epochs ? 'done' : 'paused', raw, best, final, records: history, tokens, checkpoint: await saveCheckpoint(run) };
  } finally {
    disposeRun(run);
  }
}

export interface BatchRow { prompt: string; split: 'train' | 'heldout'; raw?: Evaluated; tuned?: Evaluated }

/** What a paused batch run needs to continue: the run and the raw results already computed. */
export interface BatchResume { checkpoint: RunCheckpoint; rows: BatchRow[]; history: EpochRecord[] }

export interface BatchEvents extends TrainerEvents {
  onStage?: (stage: string) => void;
  onRow?: (index: number, row: BatchRow) => void | Promise<void>;
  onRecord?: (record: EpochRecord, image: RgbaImage) => void | Promise<void>;
  /** After each epoch: the run as it is now and every record it holds, so a run cut later resumes from here. */
  onCheckpoint?: (checkpoint: () => Promise<RunCheckpoint>, history: EpochRecord[]) => void | Promise<void>;
}

export interface BatchOutcome {
  status: 'done' | 'paused';
  rows: BatchRow[];
  history: EpochRecord[];
  /** On the held-out rows when there are any (evaluation.ts); null while paused. */
  evaluation: EvaluationTable | null;
  tokens: IpgoTokensFile;
  checkpoint: RunCheckpoint;
}

/**
 * Batch-wise IPGO over prepared prompts whose first `train` ones train: raw images of all, the epochs left, then
 * every prompt with the learned tokens and the evaluation table. A pause after an epoch returns a resumable state.
 */
export async function batchPrepared(s: SessionSetup, trainer: IpgoTrainer, ctxs: PromptContext[], train: number,
  events: BatchEvents = {}, resume?: BatchResume): Promise<BatchOutcome> {
  if (train < 1) throw new InvalidInputError('the training split has no prompts');
  const rows: BatchRow[] = ctxs.map((c, i) => ({ prompt: c.prompt, split: i < train ? 'train' : 'heldout', raw: resume?.rows[i]?.raw }));
  if (resume && (resume.rows.length !== rows.length || resume.rows.some((r, i) => r.prompt !== rows[i]!.prompt))) {
    throw new InvalidInputError('the checkpoint belongs to another prompt list');
  }
  const run = resume ? runFromCheckpoint(decodeCheckpoint(resume.checkpoint)) : freshRun(s.config);
  try {
    for (const [i, ctx] of ctxs.entries()) {
      if (rows[i]!.raw) continue;
      events.onStage?.(`raw image ${i + 1}/${ctxs.length}`);
      rows[i]!.raw = await trainer.raw(ctx, events);
      await events.onRow?.(i, rows[i]!);
    }
    events.onStage?.('training');
    // Records after the checkpoint's last epoch (a run cut mid-epoch) are redone, so they are dropped here.
    const earlier = (resume?.history ?? []).filter((r) => r.epoch < run.epoch);
    const history = [...earlier];
    await trainer.trainBatch(run, ctxs.slice(0, train), {
      ...events,
      onEpoch: (record, image) => {
        history.push(record);
        return events.onRecord?.(record, image);
      },
      onBatchEpochEnd: () => events.onCheckpoint?.(() => saveCheckpoint(run), [...history]),
    });
    const done = run.epoch >= run.config.epochs;
    if (done) {
      for (const [i, ctx] of ctxs.entries()) {
        events.onStage?.(`tuned image ${i + 1}/${ctxs.length}`);
        rows[i]!.tuned = await trainer.tuned(run, ctx, events);
        await events.onRow?.(i, rows[i]!);
      }
    }
    const tokens = exportTokens({
      params: await readParams(run.params), config: run.config, sampling: s.sampling, modelId: s.modelId, textEncoder: s.set.fingerprint,
      prompts: rows.slice(0, train).map((r) => r.prompt), rewardWeights: s.mix as Record<string, number>, history,
    });
    return { status: done ? 'done' : 'paused', rows, history, evaluation: done ? batchEvaluation(rows, s.mix) : null, tokens, checkpoint: await saveCheckpoint(run) };
  } finally {
    disposeRun(run);
  }
}

/** The batch table: raw vs tuned per reward of the mix, on the held-out rows when there are any. */
export function batchEvaluation(rows: BatchRow[], mix: RewardMix): EvaluationTable {
  const scored = evaluatedRows(rows).filter((r) => r.raw && r.tuned);
  return evaluationTable(scored.map((r) => ({ raw: r.raw!, tuned: { tuned: r.tuned! } })), mixIds(mix));
}

/** Raw and tuned images and rewards of a prepared prompt with imported tokens (nothing is trained). */
export async function applyPrepared(trainer: IpgoTrainer, imported: ImportedTokens, ctx: PromptContext, events: TrainerEvents = {}): Promise<{ raw: Evaluated; tuned: Evaluated }> {
  const run: RunState = runFromImported(imported, trainer.config);
  try {
    return { raw: await trainer.raw(ctx, events), tuned: await trainer.tuned(run, ctx, events) };
  } finally {
    disposeRun(run);
  }
}
