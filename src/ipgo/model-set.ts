/**
 * The model set one IPGO job runs on: Stable Diffusion, the reward models its reward mix needs, open_clip's
 * tokenizer variant (the same BPE files as SD's, zero padded: HPSv2's text side) and the text encoder's fingerprint
 * that exported tokens carry. One loader for the app's worker (files from IndexedDB) and the runner (files on disk);
 * a one-slot cache keeps the set loaded across jobs while the selection is unchanged.
 */
import { loadStableDiffusion, type ModelFiles } from '../model/load-pipeline';
import { disposeStableDiffusion } from '../model/pipeline';
import type { PrecisionPolicy } from '../model/precision';
import { ClipTokenizer } from '../model/tokenizer/clip-tokenizer';
import { disposeRewardModels, loadRewardModels, type RewardId, type RewardModelFiles, type RewardModelId } from '../rewards/registry';
import type { IpgoModels } from './prompt-context';
import { textEncoderFingerprint, type TextEncoderFingerprint } from './text-encoder-fingerprint';

/** Where a model set's files come from. */
export interface ModelSetSource {
  sd(): Promise<ModelFiles>;
  rewardModel(m: RewardModelId): Promise<RewardModelFiles>;
}

/** What a loaded set tells its users: the text width and context, the latent scale and the native image size. */
export interface ModelSetInfo {
  textDim: number;
  maxLength: number;
  vaeScaleFactor: number;
  sampleSize: number;
}

export interface LoadedModelSet {
  models: IpgoModels;
  info: ModelSetInfo;
  fingerprint: TextEncoderFingerprint;
  dispose(): void;
}

export interface ModelSetLoadOptions {
  precision?: Partial<PrecisionPolicy>;
  progress?: (stage: string) => void;
  /** Runs each load (the worker turns a device out-of-memory error into advice). */
  scope?: <T>(what: string, load: () => Promise<T>) => Promise<T>;
}

/** Loads SD, then the reward models `rewards` need; on any failure frees what was loaded. */
export async function loadModelSet(source: ModelSetSource, rewards: RewardId[], o: ModelSetLoadOptions = {}): Promise<LoadedModelSet> {
  const scope = o.scope ?? ((_what, load) => load());
  const files = await source.sd();
  const sd = await scope('loading Stable Diffusion', () => loadStableDiffusion(files, (stage) => o.progress?.(`loading ${stage}`), o.precision));
  try {
    const openClipTokenizer = ClipTokenizer.fromFiles(await files.text('tokenizer/vocab.json'), await files.text('tokenizer/merges.txt'), { variant: 'openclip' });
    o.progress?.('loading reward models');
    const rewardModels = await scope('loading the reward models', () => loadRewardModels(rewards, (m) => source.rewardModel(m), o.precision));
    const models: IpgoModels = { sd, rewards: rewardModels, openClipTokenizer };
    const unet = sd.unet.config as unknown as { sampleSize?: number };
    return {
      models,
      info: {
        textDim: sd.textEncoder.config.hidden_size,
        maxLength: sd.textEncoder.config.max_position_embeddings,
        vaeScaleFactor: sd.vaeScaleFactor,
        sampleSize: (unet.sampleSize ?? 64) * sd.vaeScaleFactor,
      },
      fingerprint: await textEncoderFingerprint(sd),
      dispose() {
        disposeStableDiffusion(sd);
        disposeRewardModels(rewardModels);
      },
    };
  } catch (e) {
    disposeStableDiffusion(sd);
    throw e;
  }
}

/** Keeps the last loaded set; a different key frees it before loading the next (one set fits on a GPU). */
export class ModelSetCache {
  private slot: { key: string; set: LoadedModelSet } | null = null;

  async get(key: string, load: () => Promise<LoadedModelSet>): Promise<LoadedModelSet> {
    if (this.slot?.key === key) return this.slot.set;
    this.clear();
    const set = await load();
    this.slot = { key, set };
    return set;
  }

  /** Frees the loaded set (or, after a device loss, just forgets it: its tensors went with the device). */
  clear(opts: { dispose?: boolean } = {}): void {
    if (this.slot && opts.dispose !== false) this.slot.set.dispose();
    this.slot = null;
  }
}
