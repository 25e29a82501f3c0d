import * as tf from '@tensorflow/tfjs';
import { disposeParams } from '../model/nn';
import { loadFromSource, type ModelBinding, type WeightSource } from '../model/params';
import { rewardModelConfig } from './model-needs';
import type { PrecisionPolicy } from '../model/precision';
import { type AestheticHead, aestheticBinding, aestheticForward } from './aesthetic';
import { type ClipModel, type ClipModelConfig, type ClipTower, clipBinding, clipImageEmbeds, clipTextEmbeds } from '../model/clip/clip-model';
import { type OpenClipModel, openClipBinding, openClipImageFeatures, openClipModelCfg, openClipTextFeatures } from '../model/clip/openclip-model';
import { type PreprocessOptions, clipPixelValues } from './preprocess';

/**
 * The reward registry: each reward is a differentiable `(image01 NHWC [B, H, W, 3], ctx) → [B]` built on the
 * models it names. Models are shared: aesthetic and CLIP score both use CLIP ViT-L/14, which is loaded once and,
 * inside a mix, run once per image batch (features are memoised per call).
 */
export type RewardId = 'aesthetic' | 'clip' | 'hps';
export type RewardModelId = 'clip-vit-l14' | 'laion-aesthetic' | 'hpsv2-vit-h14';

export interface RewardModels {
  clip?: ClipModel;
  aesthetic?: AestheticHead;
  hps?: OpenClipModel;
}

/** Text features of the prompt, computed once per prompt (no gradient), L2-normalised, [1 or B, E]. */
export interface RewardText {
  clip?: tf.Tensor2D;
  hps?: tf.Tensor2D;
}

export interface RewardContext {
  models: RewardModels;
  text?: RewardText;
  /** Resize filter/fit for every tower (default: torch bilinear, no antialias, stretch — as the goldens). */
  preprocess?: Omit<PreprocessOptions, 'mean' | 'std'>;
}

/** Per-call memo of image features shared by the rewards of one mix; its tensors are kept, the mix disposes them. */
export type FeatureCache = Map<string, tf.Tensor>;

export interface RewardDef {
  id: RewardId;
  label: string;
  description: string;
  models: RewardModelId[];
  /** Which text features the reward reads from `ctx.text` (null: image only). */
  text: keyof RewardText | null;
  /** Differentiable with respect to the image; returns [B]. */
  score(image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor1D;
  /** How to show a raw score: transform and the axis range of the displayed value. */
  display: { min: number; max: number; fromRaw(raw: number): number; unit?: string };
}

/** x / max(‖x‖₂, 1e-12) over the last axis (torch F.normalize). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12)) as tf.Tensor2D);
}

/** Row-wise dot product of [B, E] with [B or 1, E] → [B]. */
const rowDot = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D => tf.sum(tf.mul(a, b), -1) as tf.Tensor1D;

function memo(cache: FeatureCache | undefined, key: string, make: () => tf.Tensor): tf.Tensor {
  if (!cache) return make();
  let t = cache.get(key);
  if (!t) {
    t = tf.keep(make());
    cache.set(key, t);
  }
  return t;
}

function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`reward needs ${what}, which is not loaded/prepared`);
  return x;
}

/** CLIP ViT-L/14 image embeds (unnormalised) of image01. */
export function clipImageFeatures(image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor2D {
  const clip = need(ctx.models.clip, 'the CLIP model');
  return memo(cache, 'clip.image_embeds', () =>
    tf.tidy(() => clipImageEmbeds(clip, clipPixelValues(image01, need(clip.vision, 'the CLIP vision tower').imageSize, ctx.preprocess))),
  ) as tf.Tensor2D;
}

/** HPS (open_clip) image features (unnormalised) of image01. */
export function hpsImageFeatures(image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor2D {
  const hps = need(ctx.models.hps, 'the HPSv2 model');
  return memo(cache, 'hps.image_features', () =>
    tf.tidy(() => openClipImageFeatures(hps, clipPixelValues(image01, need(hps.vision, 'the HPS vision tower').imageSize, ctx.preprocess))),
  ) as tf.Tensor2D;
}

export const REWARDS: readonly RewardDef[] = [
  {
    id: 'aesthetic',
    label: 'LAION aesthetic',
    description: 'LAION improved aesthetic predictor (MLP) on the L2-normalised CLIP ViT-L/14 image embedding; about 1–10.',
    models: ['clip-vit-l14', 'laion-aesthetic'],
    text: null,
    score: (image01, ctx, cache) =>
      tf.tidy(() => aestheticForward(need(ctx.models.aesthetic, 'the aesthetic head'), l2Normalize(clipImageFeatures(image01, ctx, cache)))),
    display: { min: 0, max: 10, fromRaw: (r) => r },
  },
  {
    id: 'clip',
    label: 'CLIP score',
    description: 'Cosine of the normalised CLIP ViT-L/14 image and prompt-text embeddings (shown as 100·max(cos, 0)).',
    models: ['clip-vit-l14'],
    text: 'clip',
    score: (image01, ctx, cache) =>
      tf.tidy(() => rowDot(l2Normalize(clipImageFeatures(image01, ctx, cache)), need(ctx.text?.clip, 'CLIP text features'))),
    display: { min: 0, max: 100, fromRaw: (r) => Math.max(100 * r, 0) },
  },
  {
    id: 'hps',
    label: 'HPSv2',
    description: 'Human Preference Score v2 (OpenCLIP ViT-H/14): cosine of normalised image and prompt features.',
    models: ['hpsv2-vit-h14'],
    text: 'hps',
    score: (image01, ctx, cache) =>
      tf.tidy(() => rowDot(l2Normalize(hpsImageFeatures(image01, ctx, cache)), need(ctx.text?.hps, 'HPS text features'))),
    display: { min: 0, max: 0.4, fromRaw: (r) => r },
  },
];

export function getReward(id: RewardId): RewardDef {
  const r = REWARDS.find((x) => x.id === id);
  if (!r) throw new Error(`unknown reward "${id}"`);
  return r;
}

/** Weighted sum of rewards, e.g. { aesthetic: 1, clip: 5 }. */
export type RewardMix = Partial<Record<RewardId, number>>;

export const mixIds = (mix: RewardMix): RewardId[] => (Object.keys(mix) as RewardId[]).filter((id) => (mix[id] ?? 0) !== 0);

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

/** Which text features the given rewards need. */
export function textsFor(ids: RewardId[]): (keyof RewardText)[] {
  return [...new Set(ids.map((id) => getReward(id).text).filter((t): t is keyof RewardText => t !== null))];
}

/** Weights and parsed config of one reward model (HF config.json for CLIP, open_clip_config.json for HPS). */
export interface RewardModelFiles {
  source: WeightSource;
  config?: unknown;
}

/**
 * Loads each distinct model the rewards need exactly once, streamed tensor by tensor from `source`'s files.
 * CLIP loads its text tower only when the CLIP score is among the rewards. `precision`: what the device holds for
 * the vision towers' weights (the CLIP-L and ViT-H text towers follow their vision tower's).
 */
export async function loadRewardModels(
  ids: RewardId[], source: (model: RewardModelId) => Promise<RewardModelFiles>, precision: Partial<PrecisionPolicy> = {},
): Promise<RewardModels> {
  const models: RewardModels = {};
  try {
    for (const m of modelsFor(ids)) {
      const files = await source(m);
      const binding = rewardModelBinding(m, files.config, ids, precision);
      const model = await loadFromSource(files.source, binding.build, binding.opts);
      if (m === 'clip-vit-l14') models.clip = model as ClipModel;
      else if (m === 'laion-aesthetic') models.aesthetic = model as AestheticHead;
      else models.hps = model as OpenClipModel;
    }
  } catch (e) {
    disposeParams(models);
    throw e;
  }
  return models;
}

/**
 * How one reward model binds its weights, for these rewards: its config from its file or built in
 * (model-needs.ts); CLIP binds its text tower only when the CLIP score is among the rewards.
 */
export function rewardModelBinding(m: RewardModelId, configFromFile: unknown, ids: RewardId[], precision: Partial<PrecisionPolicy> = {}): ModelBinding<unknown> {
  const config = rewardModelConfig(m, configFromFile);
  if (m === 'clip-vit-l14') {
    const towers: ClipTower[] = textsFor(ids).includes('clip') ? ['vision', 'text'] : ['vision'];
    return clipBinding(config as ClipModelConfig, towers, precision.clipVision);
  }
  if (m === 'laion-aesthetic') return aestheticBinding();
  return openClipBinding(openClipModelCfg(config), ['vision', 'text'], precision.vitHVision);
}

/** Token ids (CLIP: HF tokenizer, unpadded ok; HPS: open_clip tokenizer, zero padded to 77) → normalised text features. */
export function encodeRewardText(models: RewardModels, ids: { clip?: tf.Tensor2D; hps?: tf.Tensor2D }): RewardText {
  const text: RewardText = {};
  if (ids.clip) text.clip = tf.tidy(() => l2Normalize(clipTextEmbeds(need(models.clip, 'the CLIP model'), ids.clip!)));
  if (ids.hps) text.hps = tf.tidy(() => l2Normalize(openClipTextFeatures(need(models.hps, 'the HPSv2 model'), ids.hps!)));
  return text;
}

export function disposeRewardText(text: RewardText): void {
  tf.dispose([text.clip, text.hps].filter((t): t is tf.Tensor2D => t !== undefined));
}

export function disposeRewardModels(models: RewardModels): void {
  disposeParams(models);
}
