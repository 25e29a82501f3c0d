/**
 * Studio jobs in the worker: a thin adapter from the job protocol to the IPGO session (src/ipgo/session.ts). The
 * worker owns the loaded model set (kept across jobs while the selection is unchanged), the device (recovery after a
 * loss, out-of-memory advice), and the stream of progress: per-step previews, per-epoch records with checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import { latentPreview } from '../../model/latent-preview';
import { PhaseMemory } from '../../model/gpu-memory';
import { COMPONENT_LABELS, DEFAULT_PRECISION, WEIGHT_PRECISIONS, type PrecisionPolicy } from '../../model/precision';
import { mixIds, rewardModel, type RewardId } from '../../rewards/registry';
import { installedModelFiles } from '../../weights/store/installed-model-files';
import { WeightsStorage } from '../../weights/store/storage';
import { formatBytes } from '../../lib/format-bytes';
import { InvalidInputError } from '../../lib/input-error';
import { loadModelSet, ModelSetCache, type LoadedModelSet, type ModelSetSource } from '../../ipgo/model-set';
import { ipgoConfigOf, samplingOf, validateTuneSettings, type ModelSelection, type TuneSettings } from '../../ipgo/settings';
import { applyPrepared, batchPrepared, runConfig, tunePrepared, withSession, type SessionSetup } from '../../ipgo/session';
import { splitHeldOut } from '../../lib/held-out-split';
import { parseTokensFile, TokensFileError } from '../../ipgo/tokens-json';
import type { TrainerEvents } from '../../ipgo/trainer';
import { preflight, updateMemoryShape } from '../../ipgo/preflight';
import { JobError, type JobContext, type JobHandlers } from '../protocol';
import { deviceLoss, recoverDevice, throwIfDeviceLost, throwIfDeviceLostAfterError, withOutOfMemoryScope } from '../gpu-device';
import type { LoadedModels, PreflightReport, StudioJobs, TuneProgress } from '../studio-protocol';

const cache = new ModelSetCache();
let precision: PrecisionPolicy = { ...DEFAULT_PRECISION };

/** Installed models from IndexedDB, each named in the error when it is missing. */
function installedSource(selection: ModelSelection): ModelSetSource {
  const storage = WeightsStorage.open();
  const open = async (id: string | undefined, what: string) => {
    if (!id) throw new InvalidInputError(`no ${what} model selected: install one in the Models view`);
    try {
      return await storage.openModel(id);
    } catch (e) {
      throw new InvalidInputError(`${what} model "${id}" is not installed (${(e as Error).message}); install it in the Models view`);
    }
  };
  return {
    sd: async () => installedModelFiles(await open(selection.sd, 'Stable Diffusion')),
    rewardModel: async (m) => {
      const reader = await open(selection[rewardModel(m).role], m);
      const configFile = reader.files().find((f) => f.role === 'config');
      return {
        source: await installedModelFiles(reader).weights(reader.fileByRole('model').path),
        config: configFile ? await reader.readJson(configFile.path) : undefined,
      };
    },
  };
}

/** Bytes the backend holds in tensors (on WebGPU: device memory in use, not counting its free-buffer pool). */
function residentBytes(): number {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return m.numBytesInGPU ?? m.numBytes;
}

async function ensureModels(selection: ModelSelection, rewards: RewardId[], progress: (stage: string) => void, log: (m: string) => void): Promise<{ set: LoadedModelSet; info: LoadedModels }> {
  // after a device loss every loaded tensor is gone with the old device: start a new one and load again
  if (await recoverDevice(log)) cache.clear({ dispose: false });
  const policy = { ...precision };
  const before = residentBytes();
  const set = await cache.get(JSON.stringify([selection, [...rewards].sort(), policy]), async () => {
    const loaded = await loadModelSet(installedSource(selection), rewards, { precision: policy, progress, scope: withOutOfMemoryScope });
    log(`models loaded (UNet ${policy.unet}, VAE decoder ${policy.vaeDecoder}, text encoder ${policy.textEncoder}, CLIP-L ${policy.clipVision}, `
      + `ViT-H ${policy.vitHVision}): ${formatBytes(residentBytes() - before)} on the device`);
    return loaded;
  });
  return { set, info: { selection, rewards, ...set.info, precision: policy, residentBytes: residentBytes() } };
}

function validPolicy(p: PrecisionPolicy): PrecisionPolicy {
  for (const [component, value] of Object.entries(p)) {
    if (!(component in COMPONENT_LABELS)) throw new JobError('invalid-input', `unknown model component "${component}" (${Object.keys(COMPONENT_LABELS).join(', ')})`);
    if (!WEIGHT_PRECISIONS.includes(value)) throw new JobError('invalid-input', `${component}: precision must be one of ${WEIGHT_PRECISIONS.join(', ')}, got "${value}"`);
  }
  return p;
}

/** Trainer events that stream step previews and honour cancellation and pause. */
function streamingEvents(ctx: JobContext<'tune'> | JobContext<'applyTokens'>, shouldStop?: () => boolean): TrainerEvents {
  return {
    isCancelled: () => ctx.cancelled(),
    shouldStop,
    onStep: async (phase, step, total, latents) => {
      throwIfDeviceLost('tuning');
      ctx.progress({ kind: 'step', phase, step, total, preview: await latentPreview(latents) } as TuneProgress);
    },
  };
}

/** Runs a job: user errors become invalid-input, a lost device is reported as such, cancellation as cancelled. */
async function guarded<T>(ctx: { cancelled(): boolean }, what: string, work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    throwIfDeviceLost(what);
    return result;
  } catch (e) {
    if (ctx.cancelled()) throw new JobError('cancelled', `${what} cancelled`);
    await throwIfDeviceLostAfterError(what); // whatever failed, a lost device is the cause to report
    if (e instanceof InvalidInputError || e instanceof TokensFileError) throw new JobError('invalid-input', e.message);
    throw e;
  }
}

/** A pause request from the UI, or a lost device, stops a run after its current epoch. */
function pauseFlag(ctx: JobContext<'tune'> | JobContext<'batch'>): () => boolean {
  let requested = false;
  ctx.onControl((action) => {
    if (action === 'pause') requested = true;
  });
  return () => requested || deviceLoss() !== null;
}

function preflightReport(set: LoadedModelSet, settings: TuneSettings, budgetBytes: number): PreflightReport {
  if (!(budgetBytes > 0)) throw new JobError('invalid-input', `the GPU memory budget must be a positive number of bytes, got ${budgetBytes}`);
  const shape = updateMemoryShape(set.models, settings.height, settings.width);
  const v = preflight(shape, { budgetBytes, size: Math.max(settings.height, settings.width), int8Everywhere: Object.values(precision).every((p) => p === 'int8') });
  return {
    applies: tf.getBackend() === 'webgpu', ok: v.ok, peakBytes: v.prediction.peak, residentBytes: shape.residentBytes,
    phases: v.prediction.phases, budgetBytes, message: v.message, advice: v.advice,
  };
}

const training = (log: (m: string) => void) => ({ log, offloadTextTowers: true, restoreTextTowers: () => deviceLoss() === null });

export const studioHandlers: JobHandlers<StudioJobs> = {
  precisionPolicy: async ({ set }) => {
    if (set) precision = validPolicy({ ...precision, ...set });
    return { precisions: [...WEIGHT_PRECISIONS], policy: { ...precision }, defaults: { ...DEFAULT_PRECISION }, labels: COMPONENT_LABELS };
  },
  loadModels: ({ models, rewards }, ctx) => guarded(ctx, 'loading models', async () => (await ensureModels(models, rewards, (stage) => ctx.progress({ stage }), ctx.log)).info),

  preflight: ({ settings, budgetBytes }, ctx) => guarded(ctx, 'memory check', async () => {
    validateTuneSettings(settings);
    const { set } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ stage }), ctx.log);
    return preflightReport(set, settings, budgetBytes);
  }),

  tune: ({ prompt, settings, budgetBytes, resume }, ctx) => guarded(ctx, 'tuning', async () => {
    validateTuneSettings(settings);
    if (!prompt.trim()) throw new InvalidInputError('enter a prompt to tune');
    const { set, info } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), ctx.log);
    if (budgetBytes !== undefined) {
      const verdict = preflightReport(set, settings, budgetBytes);
      if (verdict.applies && !verdict.ok) throw new JobError('out-of-memory', `not started: ${verdict.message}. ${verdict.advice.join('; ')}`);
    }
    const setup: SessionSetup = { set, config: runConfig(() => ipgoConfigOf(settings, info.textDim, 'prompt'), resume?.checkpoint), sampling: samplingOf(settings), mix: settings.mix, modelId: settings.models.sd };
    const memory = new PhaseMemory();
    const firstEpoch = resume?.records.length ?? 0;
    const events = { ...streamingEvents(ctx, pauseFlag(ctx)), memory };
    ctx.progress({ kind: 'stage', stage: 'raw prompt' });
    const out = await withSession(setup, [prompt], training(ctx.log), (trainer, [p]) => tunePrepared(setup, trainer, p!.ctx!, {
      ...events,
      onRaw: (_prompt, raw) => ctx.progress({ kind: 'raw', prompt, result: raw }),
      onEpochDone: async (record, image, isBest, checkpoint) => {
        if (record.epoch === firstEpoch && memory.peak !== null) {
          ctx.log(`GPU memory of one update (allocated, pool included): ${Object.entries(memory.peaks).map(([ph, b]) => `${ph} ${formatBytes(b)}`).join(', ')}`);
        }
        ctx.progress({ kind: 'epoch', record, image, isBest, checkpoint: await checkpoint() });
      },
    }, resume));
    const final = out.final ? (({ image: _image, ...record }) => record)(out.final) : null;
    return { status: out.status, raw: out.raw, best: out.best, final, tokens: out.tokens, checkpoint: out.checkpoint };
  }),

  batch: ({ prompts, heldOut, settings, resume }, ctx) => guarded(ctx, 'batch run', async () => {
    validateTuneSettings(settings);
    const list = prompts.map((p) => p.trim());
    if (list.length === 0) throw new InvalidInputError('the prompt list is empty');
    const { train } = splitHeldOut(list.length, heldOut);
    const { set, info } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), ctx.log);
    const setup: SessionSetup = { set, config: runConfig(() => ipgoConfigOf(settings, info.textDim, 'batch'), resume?.checkpoint), sampling: samplingOf(settings), mix: settings.mix, modelId: settings.models.sd };
    const shouldStop = pauseFlag(ctx);
    return withSession(setup, list, training(ctx.log), (trainer, prepared) => batchPrepared(setup, trainer, prepared.map((p) => p.ctx!), train, {
      isCancelled: () => ctx.cancelled(),
      shouldStop,
      memory: new PhaseMemory(),
      onStep: (phase, step, total) => ctx.progress({ kind: 'step', phase, step, total }),
      onStage: (stage) => ctx.progress({ kind: 'stage', stage }),
      onRow: (index, row) => ctx.progress({ kind: 'row', index, row }),
      onRecord: (record, image) => ctx.progress({ kind: 'record', record, image }),
      onCheckpoint: async (checkpoint, history) => ctx.progress({ kind: 'checkpoint', checkpoint: await checkpoint(), history }),
    }, resume));
  }),

  applyTokens: ({ tokens, prompt, settings }, ctx) => guarded(ctx, 'applying tokens', async () => {
    if (!prompt.trim()) throw new InvalidInputError('enter a prompt to apply the tokens to');
    const { set, info } = await ensureModels(settings.models, mixIds(settings.mix), (stage) => ctx.progress({ kind: 'stage', stage }), ctx.log);
    const imported = parseTokensFile(tokens, { textDim: info.textDim, modelId: settings.models.sd, textEncoder: set.fingerprint });
    const setup: SessionSetup = { set, config: { ...imported.config, inferenceSteps: settings.steps, guidance: settings.guidance }, sampling: samplingOf(settings), mix: settings.mix, modelId: settings.models.sd };
    const { raw, tuned } = await withSession(setup, [prompt], { log: ctx.log }, (trainer, [p]) => applyPrepared(trainer, imported, p!.ctx!, streamingEvents(ctx)));
    return { raw, tuned, warnings: imported.warnings };
  }),
};
