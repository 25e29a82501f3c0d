/**
 * The reward registry: each reward is a differentiable `(image01 NHWC [B, H, W, 3], ctx) → [B]` built on the
 * models it names (one file per reward; the models are in reward-models.ts). Models are shared: aesthetic and
 * CLIP score both use CLIP ViT-L/14, which is loaded once and, inside a mix, run once per image batch (features
 * are memoised per call). This list is the only place that names the rewards; the functions below are generic.
 *
 * A new reward on the models there are: its file (defineReward: id, words, models, the text it reads, score,
 * display, default weight) and its line in REWARDS. The UI, the runner's config check and the model sets follow.
 * A new reward model besides: its file under models/ (defineRewardModel) and its line in REWARD_MODELS, plus
 * what serves it (a manifest of its kind per model set in weights-manifest/, its tiny stand-in in make-tiny-model).
 */
import * as tf from '@tensorflow/tfjs';
import { disposeParams } from '../model/nn';
import { loadFromSource, type ModelBinding, type WeightSource } from '../model/params';
import type { PrecisionPolicy } from '../model/precision';
import type { FeatureCache, RewardDef } from './reward-def';
import { type RewardContext, type RewardModelId, type RewardModelRole, type RewardModels, bindingOf, rewardModel } from './reward-models';
import { aestheticReward } from './aesthetic-score';
import { clipScoreReward } from './clip-score';
import { hpsReward } from './hps';

export const REWARDS = [aestheticReward, clipScoreReward, hpsReward] as const;

export type RewardId = (typeof REWARDS)[number]['id'];

export type { FeatureCache, RewardDef, RewardDisplay } from './reward-def';
export { l2Normalize } from './reward-def';
export {
  type RewardContext, type RewardModelId, type RewardModelRole, type RewardModels, type RewardText, type RewardTextIds,
  REWARD_MODELS, disposeRewardText, encodeRewardText, imageFeatures, installedRewardModels, rewardModel, rewardModelConfig, rewardModelOfRole,
  rewardModelOfKind, rewardTextParts,
} from './reward-models';

export const REWARD_IDS: readonly RewardId[] = REWARDS.map((r) => r.id);

export function isRewardId(id: string): id is RewardId {
  return (REWARD_IDS as readonly string[]).includes(id);
}

export function getReward(id: RewardId): RewardDef {
  const r = REWARDS.find((x) => x.id === id);
  if (!r) throw new Error(`unknown reward "${id}" (${REWARD_IDS.join(', ')})`);
  return r as RewardDef;
}

/** Weighted sum of rewards, e.g. { aesthetic: 1, clip: 5 }. */
export type RewardMix = Partial<Record<RewardId, number>>;

export const mixIds = (mix: RewardMix): RewardId[] => (Object.keys(mix) as RewardId[]).filter((id) => (mix[id] ?? 0) !== 0);

/** The mix a new run starts from: each reward at its default weight (those at 0 left out). */
export function defaultMix(): RewardMix {
  return Object.fromEntries(REWARDS.filter((r) => r.defaultWeight !== 0).map((r) => [r.id, r.defaultWeight])) as RewardMix;
}

/** Σ wᵢ·rewardᵢ(image) → [B]; shared image features are computed once. Differentiable. */
export function mixScore(mix: RewardMix, image01: tf.Tensor4D, ctx: RewardContext): tf.Tensor1D {
  const ids = mixIds(mix);
  if (ids.length === 0) throw new Error('empty reward mix');
  const cache: FeatureCache = new Map();
  try {
    return tf.tidy(() => ids.map((id) => tf.mul(getReward(id).score(image01, ctx, cache), mix[id]!)).reduce((a, b) => tf.add(a, b)) as tf.Tensor1D);
  } finally {
    for (const t of cache.values()) t.dispose();
  }
}

/** Distinct models the given rewards need (CLIP ViT-L/14 appears once for aesthetic + clip). */
export function modelsFor(ids: RewardId[]): RewardModelId[] {
  return [...new Set(ids.flatMap((id) => getReward(id).models))];
}

/** Whose text features the given rewards need (roles of the text towers to run on the prompt). */
export function textsFor(ids: RewardId[]): RewardModelRole[] {
  return [...new Set(ids.map((id) => getReward(id).text).filter((t): t is RewardModelRole => t !== null))];
}

/** Weights and parsed config of one reward model (e.g. HF config.json for CLIP, open_clip_config.json for HPS). */
export interface RewardModelFiles {
  source: WeightSource;
  config?: unknown;
}

/**
 * Loads each distinct model the rewards need exactly once, streamed tensor by tensor from `source`'s files.
 * A model binds its text tower only when one of the rewards reads the prompt through it. `precision`: what the
 * device holds for the vision towers' weights (a text tower follows its vision tower's).
 */
export async function loadRewardModels(
  ids: RewardId[], source: (model: RewardModelId) => Promise<RewardModelFiles>, precision: Partial<PrecisionPolicy> = {},
): Promise<RewardModels> {
  const models: Record<string, unknown> = {};
  try {
    for (const m of modelsFor(ids)) {
      const files = await source(m);
      const binding = rewardModelBinding(m, files.config, ids, precision);
      models[rewardModel(m).role] = await loadFromSource(files.source, binding.build, binding.opts);
    }
  } catch (e) {
    disposeParams(models);
    throw e;
  }
  return models as RewardModels;
}

/** How one reward model binds its weights for these rewards: config from its file or built in; its text tower when a reward reads it. */
export function rewardModelBinding(m: RewardModelId, configFromFile: unknown, ids: RewardId[], precision: Partial<PrecisionPolicy> = {}): ModelBinding<unknown> {
  return bindingOf(m, configFromFile, textsFor(ids).includes(rewardModel(m).role), precision);
}

export function disposeRewardModels(models: RewardModels): void {
  disposeParams(models);
}
