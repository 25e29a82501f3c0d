/**
 * Studio jobs in the worker: the loaded model set lives here (and only here), reused across jobs while the
 * selection is unchanged. Tuning streams the raw image, per-step previews, and per-epoch records with a
 * checkpoint, so the UI can draw live and resume after a reload.
 */
import { loadStableDiffusion } from '../../model/load-pipeline';
import { disposeStableDiffusion } from '../../model/pipeline';
import { latentPreview } from '../../model/latent-preview';
import { ClipTokenizer } from '../../model/tokenizer/clip-tokenizer';
import { disposeRewardModels, loadRewardModels, mixIds, rewardModel, type RewardId } from '../../rewards/registry';
import { installedModelFiles } from '../../weights/installed-model-files';
import { WeightsStorage } from '../../weights/storage';
import { promptWiseConfig, batchWiseConfig, type IpgoConfig } from '../../ipgo/config';
import { decodeCheckpoint, runFromCheckpoint, saveCheckpoint, type RunState } from '../../ipgo/checkpoint';
import { readParams } from '../../ipgo/params';
import { exportTokens, parseTokensFile, TokensFileError } from '../../ipgo/tokens-json';
import { textEncoderFingerprint, type TextEncoderFingerprint } from '../../ipgo/text-encoder-fingerprint';
import { applyTokensToPrompt } from '../../ipgo/apply-tokens';
import { type IpgoModels, type PromptContext, offloadTextTowers } from '../../ipgo/prompt-context';
import type { Offloaded } from '../../model/offload';
import { IpgoTrainer, disposeRun, freshRun, stats, winRate, type TrainerEvents } from '../../ipgo/trainer';
import { JobError, type JobContext, type JobHandlers } from '../protocol';
import { COMPONENT_LABELS, DEFAULT_PRECISION, WEIGHT_PRECISIONS, type PrecisionPolicy } from '../../model/precision';
import { formatBytes } from '../../weights/format-bytes';
import * as tf from '@tensorflow/tfjs';
import { PhaseMemory } from '../../model/gpu-memory';
import { deviceLoss, recoverDevice, throwIfDeviceLost, throwIfDeviceLostAfterError, withOutOfMemoryScope } from '../gpu-device';
import type { BatchProgressRow, LoadedModels, ModelSelection, PreflightReport, StudioJobs, TuneSettings, TuneProgress } from '../studio-protocol';
import { preflight, updateMemoryShape } from '../../ipgo/preflight';

let loaded: { key: string; models: IpgoModels; info: LoadedModels; fingerprint: TextEncoderFingerprint } | null = null;
let precision: PrecisionPolicy = { ...DEFAULT_PRECISION };

async function ensureModels(selection: ModelSelection, rewards: RewardId[], progress: (stage: string) => void, log: (m: string) => void = () => {}): Promise<NonNullable<typeof loaded>> {
  // after a device loss every loaded tensor is gone with the old device: start a new one and load again
  if (await recoverDevice(log)) loaded = null;
  const key = JSON.stringify([selection, [...rewards].sort(), precision]);
  if (loaded?.key === key) return loaded;
  if (loaded) {
    disposeStableDiffusion(loaded.models.sd);
    disposeRewardModels(loaded.models.rewards);
    loaded = null;
  }
  const storage = WeightsStorage.open();
  const open = async (id: string | undefined, what: string) => {
    if (!id) throw new JobError('invalid-input', `no ${what} model selected: install one in the Models view`);
    try {
      return await storage.openModel(id);
    } catch (e) {
      throw new JobError('invalid-input', `${what} model "${id}" is not installed (${(e as Error).message}); install it in the Models view`);
    }
  };
  const sdReader = await open(selection.sd, 'Stable Diffusion');
  const files = installedModelFiles(sdReader);
  const policy = { ...precision };
  const resident = residentBytes();
  const sd = await withOutOfMemoryScope('loading Stable Diffusion', () => loadStableDiffusion(files, (stage) => progress(`loading ${stage}`), policy));
  log(`Stable Diffusion "${selection.sd}" loaded (UNet ${policy.unet}, VAE decoder ${policy.vaeDecoder}, text encoder ${policy.textEncoder}): `
    + `${formatBytes(residentBytes() - resident)} on the device, ${formatBytes(residentBytes())} in all`);
  try {
    const openClipTokenizer = ClipTokenizer.fromFiles(await files.text('tokenizer/vocab.json'), await files.text('tokenizer/merges.txt'), { variant: 'openclip' });
    progress('loading reward models');
    const rewardModels = await withOutOfMemoryScope('loading the reward models', () => loadRewardModels(rewards, async (m) => {
      const reader = await open(selection[rewardModel(m).role], m);
      const weights = reader.fileByRole('model');
      const configFile = reader.files().find((f) => f.role === 'config');
      return {
        source: await installedModelFiles(reader).weights(weights.path),
        config: configFile ? await reader.readJson(configFile.path) : undefined,
      };
    }, policy));
    log(`reward models loaded (CLIP-L ${policy.clipVision}, ViT-H ${policy.vitHVision}): ${formatBytes(residentBytes())} on the device in all`);
    const unetCfg = sd.unet.config as unknown as { sampleSize?: number };
    const info: LoadedModels = {
      selection, rewards,
      textDim: sd.textEncoder.config.hidden_size,
      maxLength: sd.textEncoder.config.max_position_embeddings,
      vaeScaleFactor: sd.vaeScaleFactor,
      sampleSize: (unetCfg.sampleSize ?? 64) * sd.vaeScaleFactor,
      precision: policy, residentBytes: residentBytes() - resident,
    };
    loaded = { key, models: { sd, rewards: rewardModels, openClipTokenizer }, info, fingerprint: await textEncoderFingerprint(sd) };
    return loaded;
  } catch (e) {
    disposeStableDiffusion(sd);
    throw e;
  }
}

/** Bytes the backend holds in tensors (on WebGPU: device memory in use, not counting its free-buffer pool). */
function residentBytes(): number {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return m.numBytesInGPU ?? m.numBytes;
}

function validPolicy(p: PrecisionPolicy): PrecisionPolicy {
  for (const [component, value] of Object.entries(p)) {
    if (!(component in COMPONENT_LABELS)) throw new JobError('invalid-input', `unknown model component "${component}" (${Object.keys(COMPONENT_LABELS).join(', ')})`);
    if (!WEIGHT_PRECISIONS.includes(value)) throw new JobError('invalid-input', `${component}: precision must be one of ${WEIGHT_PRECISIONS.join(', ')}, got "${value}"`);
  }
  return p;
}

function configOf(s: TuneSettings, textDim: number, batch = false): IpgoConfig {
  const make = batch ? batchWiseConfig : promptWiseConfig;
  return make(textDim, {
    tokens: { numTokens: s.numTokens, rank: s.rank, textDim, bound: s.bound, rotation: s.rotation },
    adam: { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    stepLR: s.stepLR, maxGradNorm: s.maxGradNorm, penaltyWeight: s.penaltyWeight, epochs: s.epochs,
    gradAccumulation: s.gradAccumulation, gradLastK: s.gradLastK, inferenceSteps: s.steps, guidance: s.guidance, seed: s.seed,
  });
}

function validateSettings(s: TuneSettings): void {
  const bad = (msg: string) => {
    throw new JobError('invalid-input', msg);
  };
  const int = (v: number, lo: number, hi: number, name: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) bad(`${name} must be an integer in ${lo}..${hi}, got ${v}`);
  };
  int(s.numTokens, 1, 38, 'tokens per side (n)');
  int(s.rank, 1, 768, 'rank (r)');
  int(s.steps, 1, 1000, 'sampling steps');
  int(s.gradLastK, 1, s.steps, 'K (gradient steps)');
  int(s.epochs, 1, 10000, 'epochs');
  if (!(s.lr > 0 && s.lr < 1)) bad(`learning rate must be in (0, 1), got ${s.lr}`);
  if (!(s.bound > 0)) bad(`bound must be positive, got ${s.bound}`);
  if (!Number.isFinite(s.guidance)) bad('guidance must be a number');
  if (mixIds(s.mix).length === 0) bad('choose at least one reward with a non-zero weight');
  if (Object.values(s.mix).some((w) => w !== undefined && !Number.isFinite(w))) bad('reward weights must be numbers');
}

/** Trainer events that stream step previews and honour cancellation. */
function streamingEvents(ctx: JobContext<'tune'> | JobContext<'applyTokens'>, extra: Partial<TrainerEvents> = {}): TrainerEvents {
  return {
    isCancelled: () => ctx.cancelled(),
    onStep: async (phase, step, total, latents) => {
      throwIfDeviceLost('tuning');
      ctx.progress({ kind: 'step', phase, step, total, preview: await latentPreview(latents) } as TuneProgress);
    },
    ...extra,
  };
}

async function guarded<T>(ctx: { cancelled(): boolean }, what: string, work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    throwIfDeviceLost(what);
    return result;
  } catch (e) {
    if (ctx.cancelled()) throw new JobError('cancelled', `${what} cancelled`);
    await throwIfDeviceLostAfterError(what); // whatever failed, a lost device is the cause to report
    if (e instanceof TokensFileError) throw new JobError('invalid-input', e.message);
    if (e instanceof Error && /prompt too long|must be|empty reward|at least one/.test(e.message)) throw new JobError('invalid-input', e.message);
    throw e;
  }
}

function preflightReport(models: IpgoModels, settings: TuneSettings, budgetBytes: number): PreflightReport {
  if (!(budgetBytes > 0)) throw new JobError('invalid-input', `the GPU memory budget must be a positive number of bytes, got ${budgetBytes}`);
  const shape = updateMemoryShape(models, settings.height, settings.width);
  const v = preflight(shape, { budgetBytes, size: Math.max(settings.height, settings.width), int8Everywhere: Object.values(precision).every((p) => p === 'int8') });
  return {
    applies: tf.getBackend() === 'webgpu', ok: v.ok, peakBytes: v.prediction.peak, residentBytes: shape.residentBytes,
    phases: v.prediction.phases, budgetBytes, message: v.message, advice: v.advice,
  };
}

/** Every prompt is encoded: the text towers leave the GPU until the job ends (preflight counts them out). */
async function textTowersAway(models: IpgoModels, log: (m: string) => void): Promise<Offloaded> {
  const away = await offloadTextTowers(models);
  if (away.bytes > 0) log(`text encoders moved off the GPU for the update (${formatBytes(away.bytes)})`);
  return away;
}

/** The text towers back on the GPU for the next job; after a device loss the models are reloaded instead. */
function bringBack(away: Offloaded | null): void {
  if (away && deviceLoss() === null) away.restore();
}

const sampling = (s: TuneSettings) => ({ scheduler: s.scheduler, height: s.height, width: s.width, noiseSeed: s.seed });

export const studioHandlers: JobHandlers<StudioJobs> = {
  precisionPolicy: async ({ set }) => {
    if (set) precision = validPolicy({ ...precision, ...set });
    return { precisions: [...WEIGHT_PRECISIONS], policy: { ...precision }, defaults: { ...DEFAULT_PRECISION }, labels: COMPONENT_LABELS };
  },
  loadModels: async ({ models, rewards }, ctx) => (await ensureModels(models, rewards, (stage) => ctx.progress({ stage }), (m) => ctx.log(m))).info,

  preflight: async ({ settings, budgetBytes }, ctx) => {
    validateSettings(settings);
    const { models } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ stage }), (m) => ctx.log(m));
    return preflightReport(models, settings, budgetBytes);
  },

  tune: ({ prompt, settings, budgetBytes, resume }, ctx) => guarded(ctx, 'tuning', async () => {
    validateSettings(settings);
    if (!prompt.trim()) throw new JobError('invalid-input', 'enter a prompt to tune');
    const { models, info, fingerprint } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), (m) => ctx.log(m));
    if (budgetBytes !== undefined) {
      const verdict = preflightReport(models, settings, budgetBytes);
      if (verdict.applies && !verdict.ok) throw new JobError('out-of-memory', `not started: ${verdict.message}. ${verdict.advice.join('; ')}`);
    }
    const config = resume ? decodeCheckpoint(resume.checkpoint).config : configOf(settings, info.textDim);
    const trainer = new IpgoTrainer(models, config, sampling(settings), settings.mix);
    let pc: PromptContext | null = null;
    let away: Offloaded | null = null;
    let run: RunState | null = null;
    let pauseRequested = false;
    ctx.onControl((action) => {
      if (action === 'pause') pauseRequested = true;
    });
    try {
      pc = trainer.prepare(prompt);
      away = await textTowersAway(models, ctx.log);
      ctx.progress({ kind: 'stage', stage: 'raw prompt' });
      const raw = resume?.raw ?? await trainer.raw(pc, streamingEvents(ctx));
      ctx.progress({ kind: 'raw', prompt, result: raw });
      run = resume ? runFromCheckpoint(decodeCheckpoint(resume.checkpoint)) : freshRun(config);
      let best = resume?.best ?? null;
      const history = [...(resume?.records ?? [])];
      const memory = new PhaseMemory();
      const { final, records } = await trainer.trainPrompt(run, pc, streamingEvents(ctx, {
        shouldStop: () => pauseRequested || deviceLoss() !== null,
        memory,
        onEpoch: async (record, image, isBest) => {
          if (record.epoch === (resume?.records.length ?? 0) && memory.peak !== null) {
            ctx.log(`GPU memory of one update (allocated, pool included): ${Object.entries(memory.peaks).map(([p, b]) => `${p} ${formatBytes(b)}`).join(', ')}`);
          }
          if (isBest) best = { rewards: record.rewards, weightedReward: record.weightedReward, image, epoch: record.epoch };
          ctx.progress({ kind: 'epoch', record, image, isBest, checkpoint: await saveCheckpoint(run!) });
        },
      }));
      const checkpoint = await saveCheckpoint(run);
      history.push(...records);
      const tokens = run.best ? exportTokens({
        params: run.best.params, config, sampling: sampling(settings), modelId: settings.models.sd, textEncoder: fingerprint,
        prompts: [prompt], rewardWeights: settings.mix as Record<string, number>, history, reward: run.best.reward,
      }) : null;
      return { status: run.epoch >= config.epochs ? 'done' : 'paused', raw, best, final, tokens, checkpoint };
    } finally {
      if (run) disposeRun(run);
      pc?.dispose();
      trainer.dispose();
      bringBack(away);
    }
  }),

  batch: ({ train, heldout, settings }, ctx) => guarded(ctx, 'batch run', async () => {
    validateSettings(settings);
    const prompts = [...train, ...heldout].map((p) => p.trim());
    if (train.length === 0) throw new JobError('invalid-input', 'the training split has no prompts');
    if (prompts.some((p) => !p)) throw new JobError('invalid-input', 'empty prompt in the list');
    const { models, info, fingerprint } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), (m) => ctx.log(m));
    const config = configOf(settings, info.textDim, true);
    const trainer = new IpgoTrainer(models, config, sampling(settings), settings.mix);
    let pauseRequested = false;
    ctx.onControl((action) => {
      if (action === 'pause') pauseRequested = true;
    });
    const contexts: PromptContext[] = [];
    let away: Offloaded | null = null;
    const run = freshRun(config);
    const events: TrainerEvents = {
      isCancelled: () => ctx.cancelled(),
      onStep: (phase, step, total) => ctx.progress({ kind: 'step', phase, step, total }),
      shouldStop: () => pauseRequested || deviceLoss() !== null,
      memory: new PhaseMemory(),
    };
    try {
      // Every prompt is checked (context length) before any sampling starts.
      for (const p of prompts) contexts.push(trainer.prepare(p));
      away = await textTowersAway(models, ctx.log);
      const rows: BatchProgressRow[] = prompts.map((p, i) => ({ prompt: p, split: i < train.length ? 'train' : 'heldout' }));
      for (let i = 0; i < contexts.length; i++) {
        ctx.progress({ kind: 'stage', stage: `raw image ${i + 1}/${contexts.length}` });
        rows[i]!.raw = await trainer.raw(contexts[i]!, events);
        ctx.progress({ kind: 'row', index: i, row: rows[i]! });
      }
      ctx.progress({ kind: 'stage', stage: 'training' });
      const history = await trainer.trainBatch(run, contexts.slice(0, train.length), {
        ...events, onEpoch: (record, image) => ctx.progress({ kind: 'record', record, image }),
      });
      for (let i = 0; i < contexts.length; i++) {
        ctx.progress({ kind: 'stage', stage: `tuned image ${i + 1}/${contexts.length}` });
        rows[i]!.tuned = await trainer.tuned(run, contexts[i]!, events);
        ctx.progress({ kind: 'row', index: i, row: rows[i]! });
      }
      const evalRows = heldout.length ? rows.filter((r) => r.split === 'heldout') : rows;
      const table: Record<string, { raw: { mean: number; std: number }; tuned: { mean: number; std: number } }> = {};
      for (const id of mixIds(settings.mix)) {
        const r = stats(evalRows.map((row) => row.raw!.rewards[id]!));
        const t = stats(evalRows.map((row) => row.tuned!.rewards[id]!));
        table[id] = { raw: { mean: r.mean, std: r.std }, tuned: { mean: t.mean, std: t.std } };
      }
      const tokens = exportTokens({
        params: await readParams(run.params), config, sampling: sampling(settings), modelId: settings.models.sd, textEncoder: fingerprint,
        prompts: train, rewardWeights: settings.mix as Record<string, number>, history,
      });
      return {
        status: run.epoch >= config.epochs ? 'done' : 'paused', table, rows, tokens,
        winRate: winRate(evalRows.map((row) => ({ raw: row.raw!.weightedReward, tuned: row.tuned!.weightedReward }))),
      };
    } finally {
      disposeRun(run);
      contexts.forEach((c) => c.dispose());
      trainer.dispose();
      bringBack(away);
    }
  }),

  applyTokens: ({ tokens, prompt, settings }, ctx) => guarded(ctx, 'applying tokens', async () => {
    if (!prompt.trim()) throw new JobError('invalid-input', 'enter a prompt to apply the tokens to');
    const { models, info, fingerprint } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), (m) => ctx.log(m));
    const imported = parseTokensFile(tokens, { textDim: info.textDim, modelId: settings.models.sd, textEncoder: fingerprint });
    const config = { ...imported.config, inferenceSteps: settings.steps, guidance: settings.guidance };
    const trainer = new IpgoTrainer(models, config, sampling(settings), settings.mix);
    try {
      const { raw, tuned } = await applyTokensToPrompt(trainer, imported, prompt, streamingEvents(ctx));
      return { raw, tuned, warnings: imported.warnings };
    } finally {
      trainer.dispose();
    }
  }),
};
