/**
 * IPGO training loops on top of the objective: prompt-wise (one token set per prompt, the paper's main setting)
 * and batch-wise (one token set across a prompt list, gradient accumulation). Both keep the best-reward epoch
 * (what the notebook saves) and the final one, record every epoch, skip non-finite updates, and can stop after any
 * epoch and resume from a checkpoint.
 */
import type { PhaseMemory } from '../model/gpu-memory';
import * as tf from '@tensorflow/tfjs';
import { decodeLatents, sampleLatents, seededNoise } from '../model/pipeline';
import { samplerSteps, type SamplerSteps, type SchedulerName } from '../model/schedulers';
import type { RewardMix } from '../rewards/registry';
import { boundaryTokensHost } from './boundary-tokens';
import type { RunState } from './run-state';
import { imageToRgba, type RgbaImage } from './rgba-image';
import { InvalidInputError } from '../lib/input-error';
import type { IpgoConfig } from './config';
import { evaluateObjective, type ObjectiveResult } from './objective';
import { PARAM_NAMES, readParams, sideHost, type HostParams, type ParamName } from './params';
import { preparePrompt, rewardTermsFor, type IpgoModels, type PromptContext } from './prompt-context';
import { applyUpdate } from './update';

export interface SamplingSetup {
  scheduler: Exclude<SchedulerName, 'pndm'>;
  height: number;
  width: number;
  /** Seed of the fixed initial noise (the same every epoch and for the raw baseline). */
  noiseSeed: number;
}

export interface EpochRecord {
  epoch: number;
  prompt?: string;
  rewards: Record<string, number>;
  weightedReward: number;
  penalty: number;
  loss: number;
  lr: number;
  gradNorm: number;
  clipScale: number;
  applied: boolean;
  skippedReason?: string;
  orthonormalityError: number;
  ms: number;
}

export interface Evaluated { rewards: Record<string, number>; weightedReward: number; image: RgbaImage }

export interface TrainerEvents {
  /** Denoising progress; `latents` is valid only during the call. */
  onStep?: (phase: 'raw' | 'train' | 'eval', step: number, total: number, latents: tf.Tensor4D) => void | Promise<void>;
  onRaw?: (prompt: string, result: Evaluated) => void | Promise<void>;
  onEpoch?: (record: EpochRecord, image: RgbaImage, isBest: boolean) => void | Promise<void>;
  /** After a batch epoch's update, when the run state is whole again (a checkpoint now resumes exactly). */
  onBatchEpochEnd?: () => void | Promise<void>;
  /** Asked after every epoch: stop now (state stays resumable). */
  shouldStop?: () => boolean;
  isCancelled?: () => boolean;
  /** The memory plan of each gradient evaluation (model/gpu-memory.ts): phase peaks, pool returned between phases. */
  memory?: PhaseMemory;
}

export interface BestResult extends Evaluated { epoch: number; params: HostParams; penalty: number }

function noiseFor(models: IpgoModels, s: SamplingSetup): tf.Tensor4D {
  const f = models.sd.vaeScaleFactor;
  if (s.height % f || s.width % f || s.height < f || s.width < f) {
    throw new InvalidInputError(`image size must be a positive multiple of ${f}, got ${s.width}×${s.height}`);
  }
  return seededNoise([1, s.height / f, s.width / f, models.sd.latentChannels], s.noiseSeed);
}

/** One trainer = one model set, one config, one sampling setup; prompts come per call. */
export class IpgoTrainer {
  private readonly steps: SamplerSteps;
  private readonly noise: tf.Tensor4D;

  constructor(readonly models: IpgoModels, readonly config: IpgoConfig, readonly sampling: SamplingSetup, readonly mix: RewardMix) {
    if (Object.values(mix).every((w) => !w)) throw new InvalidInputError('choose at least one reward with a non-zero weight');
    this.steps = samplerSteps(sampling.scheduler, models.sd.schedulerConfig, config.inferenceSteps);
    this.noise = noiseFor(models, sampling);
  }

  dispose(): void {
    this.noise.dispose();
  }

  prepare(prompt: string): PromptContext {
    return preparePrompt(this.models, prompt, this.config.tokens.numTokens, this.mix);
  }

  /** The raw prompt's image and rewards with the same pipeline and noise (unpadded, as the notebook's baseline). */
  async raw(ctx: PromptContext, events: TrainerEvents = {}): Promise<Evaluated> {
    const latents = await sampleLatents(this.models.sd, {
      cond: ctx.promptStates, uncond: ctx.rawUncond, steps: this.config.inferenceSteps, guidanceScale: this.config.guidance,
      scheduler: this.sampling.scheduler, initNoise: this.noise, isCancelled: events.isCancelled,
      onStep: ({ step, total, latents: l }) => events.onStep?.('raw', step, total, l),
    });
    const image = tf.tidy(() => decodeLatents(this.models.sd, latents));
    latents.dispose();
    const cache = new Map<string, tf.Tensor>();
    const terms = rewardTermsFor(this.models, ctx, this.mix)(image, cache);
    const rewards: Record<string, number> = {};
    for (const [id, t] of Object.entries(terms)) rewards[id] = (await t.data())[0]!;
    tf.dispose([...Object.values(terms), ...cache.values()]);
    const out = { rewards, weightedReward: this.weighted(rewards), image: await imageToRgba(image) };
    image.dispose();
    return out;
  }

  private weighted(rewards: Record<string, number>): number {
    return Object.entries(rewards).reduce((s, [id, r]) => s + ((this.mix as Record<string, number>)[id] ?? 0) * r, 0);
  }

  /** Loss, rewards and (optionally) gradients of the current parameters on one prompt. */
  evaluate(run: RunState, ctx: PromptContext, withGradient: boolean, events: TrainerEvents = {}): Promise<ObjectiveResult> {
    return evaluateObjective({
      sd: this.models.sd, promptStates: ctx.promptStates, uncond: ctx.uncond, initNoise: this.noise, steps: this.steps,
      guidance: this.config.guidance, gradLastK: this.config.gradLastK, penaltyWeight: this.config.penaltyWeight,
      shape: this.config.tokens, rewards: rewardTermsFor(this.models, ctx, this.mix), weights: this.mix as Record<string, number>,
    }, run.params, {
      withGradient, isCancelled: events.isCancelled, memory: withGradient ? events.memory : undefined,
      onStep: (i, n, z) => events.onStep?.(withGradient ? 'train' : 'eval', i, n, z),
    });
  }

  /**
   * Prompt-wise IPGO: until `config.epochs` epochs are done (or `shouldStop`), each epoch evaluates the loss and
   * its gradient at the current tokens, records it, keeps the best, then clips, steps Adam, retracts W and steps
   * StepLR. Resumable: pass the same `run` (or one restored from a checkpoint) again.
   */
  async trainPrompt(run: RunState, ctx: PromptContext, events: TrainerEvents = {}): Promise<{ best: BestResult | null; final: EpochRecord | null; records: EpochRecord[] }> {
    const records: EpochRecord[] = [];
    let best: BestResult | null = null;
    while (run.epoch < this.config.epochs && !events.shouldStop?.()) {
      const t0 = performance.now();
      const hostBefore = await readParams(run.params);
      const r = await this.evaluate(run, ctx, true, events);
      const grads = r.grads!;
      let update;
      try {
        update = await applyUpdate(run.params, grads, run.adam, this.config.maxGradNorm);
      } finally {
        for (const name of PARAM_NAMES) grads[name].dispose();
      }
      run.scheduler.step();
      run.adam.lr = run.scheduler.lr;
      const record: EpochRecord = {
        epoch: run.epoch, rewards: r.rewards, weightedReward: r.weightedReward, penalty: r.penalty, loss: r.loss,
        lr: update.lr, gradNorm: update.gradNorm, clipScale: update.clipScale, applied: update.applied,
        skippedReason: update.skippedReason, orthonormalityError: update.orthonormalityError, ms: performance.now() - t0,
      };
      const image = await imageToRgba(r.image);
      r.image.dispose();
      const isBest = Number.isFinite(r.weightedReward) && (run.best === null || r.weightedReward > run.best.reward);
      if (isBest) {
        run.best = { reward: r.weightedReward, epoch: run.epoch, params: hostBefore };
        best = { epoch: run.epoch, rewards: r.rewards, weightedReward: r.weightedReward, penalty: r.penalty, params: hostBefore, image };
      }
      records.push(record);
      run.epoch += 1;
      await events.onEpoch?.(record, image, isBest);
    }
    return { best, final: records.at(-1) ?? null, records };
  }

  /**
   * Batch-wise IPGO: one token set over `prompts`; per epoch every prompt once, the loss divided by
   * `gradAccumulation` and gradients summed over that many prompts before each optimizer step; StepLR per step.
   */
  async trainBatch(run: RunState, prompts: PromptContext[], events: TrainerEvents = {}): Promise<EpochRecord[]> {
    if (prompts.length === 0) throw new Error('batch training needs at least one prompt');
    const records: EpochRecord[] = [];
    const accum = Math.max(1, Math.floor(this.config.gradAccumulation));
    while (run.epoch < this.config.epochs && !events.shouldStop?.()) {
      let acc: Record<ParamName, tf.Tensor> | null = null;
      let inAcc = 0;
      // A run cancelled inside an accumulation window still holds the summed gradients.
      try {
        for (let p = 0; p < prompts.length; p++) {
          const t0 = performance.now();
          const r = await this.evaluate(run, prompts[p]!, true, events);
          const scaled = Object.fromEntries(PARAM_NAMES.map((n) => [n, tf.tidy(() => tf.div(r.grads![n], accum))])) as Record<ParamName, tf.Tensor>;
          for (const n of PARAM_NAMES) r.grads![n].dispose();
          if (acc) {
            const sum = Object.fromEntries(PARAM_NAMES.map((n) => [n, tf.add(acc![n], scaled[n])])) as Record<ParamName, tf.Tensor>;
            tf.dispose([...Object.values(acc), ...Object.values(scaled)]);
            acc = sum;
          } else acc = scaled;
          inAcc += 1;
          const record: EpochRecord = {
            epoch: run.epoch, prompt: prompts[p]!.prompt, rewards: r.rewards, weightedReward: r.weightedReward, penalty: r.penalty,
            loss: r.loss, lr: run.adam.lr, gradNorm: NaN, clipScale: 1, applied: false, orthonormalityError: NaN, ms: 0,
          };
          if (inAcc === accum || p === prompts.length - 1) {
            const update = await applyUpdate(run.params, acc, run.adam, this.config.maxGradNorm);
            tf.dispose(Object.values(acc));
            acc = null;
            inAcc = 0;
            run.scheduler.step();
            run.adam.lr = run.scheduler.lr;
            Object.assign(record, { gradNorm: update.gradNorm, clipScale: update.clipScale, applied: update.applied,
              skippedReason: update.skippedReason, orthonormalityError: update.orthonormalityError });
          }
          record.ms = performance.now() - t0;
          records.push(record);
          const image = await imageToRgba(r.image);
          r.image.dispose();
          await events.onEpoch?.(record, image, false);
        }
      } finally {
        if (acc) tf.dispose(Object.values(acc));
      }
      run.epoch += 1;
      await events.onBatchEpochEnd?.();
    }
    return records;
  }

  /** Tuned rewards of the current tokens on a prompt (no gradient), for held-out evaluation. */
  async tuned(run: RunState, ctx: PromptContext, events: TrainerEvents = {}): Promise<Evaluated> {
    const r = await this.evaluate(run, ctx, false, events);
    const image = await imageToRgba(r.image);
    r.image.dispose();
    return { rewards: r.rewards, weightedReward: r.weightedReward, image };
  }
}

/** The learned tokens [n, D] per side (host, float64 math) for export and display. */
export function tokensOf(params: HostParams, config: IpgoConfig): { prefix: Float64Array; suffix: Float64Array } {
  return {
    prefix: boundaryTokensHost(sideHost(params, 'prefix'), config.tokens),
    suffix: boundaryTokensHost(sideHost(params, 'suffix'), config.tokens),
  };
}
