/**
 * The reward models, one file each under models/: this list is the only place that names them. Everything a
 * caller needs about a model (its binding, config, files, the installed model that serves it, its towers) is
 * read from its definition by the generic functions here.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelBinding } from '../model/params';
import type { PrecisionPolicy } from '../model/precision';
import type { ModelSet as ModelSetId } from '../weights/catalog/manifest';
import { type FeatureCache, type RewardModelDef, l2Normalize, need, rowDot } from './reward-def';
import { type PreprocessOptions, clipPixelValues } from './preprocess';
import { clipVitL14 } from './models/clip-vit-l14';
import { hpsV2VitH14 } from './models/hpsv2-vit-h14';
import { laionAesthetic } from './models/laion-aesthetic';

export const REWARD_MODELS = [clipVitL14, laionAesthetic, hpsV2VitH14] as const;

type ModelDefs = (typeof REWARD_MODELS)[number];
type ModelOf<D> = D extends RewardModelDef<string, string, infer M> ? M : never;

export type RewardModelId = ModelDefs['id'];
export type RewardModelRole = ModelDefs['role'];

/** The loaded reward models by role; only those a mix needs are present. */
export type RewardModels = { [D in ModelDefs as D['role']]?: ModelOf<D> };

/** Prompt-text features by the role of the model that encoded them, once per prompt (no gradient), L2-normalised, [1 or B, E]. */
export type RewardText = Partial<Record<RewardModelRole, tf.Tensor2D>>;

/** Token ids of the prompt by the role of the text tower that reads them. */
export type RewardTextIds = Partial<Record<RewardModelRole, tf.Tensor2D>>;

export interface RewardContext {
  models: RewardModels;
  text?: RewardText;
  /** Resize filter/fit for every tower (default: torch bilinear, no antialias, stretch — as the goldens). */
  preprocess?: Omit<PreprocessOptions, 'mean' | 'std'>;
}

/** A reward model's definition, typed over an unknown model (the generic functions' view). */
export type AnyRewardModelDef = RewardModelDef<RewardModelId, RewardModelRole>;

export function rewardModel(id: RewardModelId): AnyRewardModelDef {
  const m = REWARD_MODELS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown reward model "${id}" (${REWARD_MODELS.map((x) => x.id).join(', ')})`);
  return m as AnyRewardModelDef;
}

/** The reward model whose text features (or loaded model) sit under this role. */
export function rewardModelOfRole(role: RewardModelRole): AnyRewardModelDef {
  const m = REWARD_MODELS.find((x) => x.role === role);
  if (!m) throw new Error(`no reward model has the role "${role}"`);
  return m as AnyRewardModelDef;
}

/** The reward model a manifest kind serves (undefined: not a reward model). */
export function rewardModelOfKind(kind: string): RewardModelId | undefined {
  return REWARD_MODELS.find((m) => m.needs.kind === kind)?.id;
}

/** The config a model loads with: its own file's, else the built-in one; a clear error when it has neither. */
export function rewardModelConfig(id: RewardModelId, fromFile: unknown): unknown {
  const need = rewardModel(id).needs.config;
  if (!need) return undefined;
  const config = fromFile ?? need.builtin;
  if (config === undefined) throw new Error(`the ${id} model needs ${need.describe}, and its files have none`);
  return config;
}

/** How one reward model binds its weights: its config from its file or built in; the text tower only when `withText`. */
export function bindingOf(id: RewardModelId, configFromFile: unknown, withText: boolean, precision: Partial<PrecisionPolicy> = {}): ModelBinding<unknown> {
  return rewardModel(id).binding(rewardModelConfig(id, configFromFile), { withText, precision });
}

/** The installed model (weights-manifest id) serving each role in a model set. */
export function installedRewardModels(set: ModelSetId): Record<RewardModelRole, string> {
  return Object.fromEntries(REWARD_MODELS.map((m) => [m.role, m.installs[set]])) as Record<RewardModelRole, string>;
}

const loadedModel = (models: RewardModels, def: AnyRewardModelDef): unknown => need((models as Record<string, unknown>)[def.role], def.label);

/** A reward model's image features (unnormalised) of image01, computed once per feature cache. */
export function imageFeatures(id: RewardModelId, image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor2D {
  const def = rewardModel(id);
  const image = need(def.image, `the image side of ${def.label}`);
  const model = loadedModel(ctx.models, def);
  const make = () => tf.tidy(() => image.features(model, clipPixelValues(image01, image.size(model), ctx.preprocess)));
  if (!cache) return make();
  const key = `${id}.image_features`;
  let t = cache.get(key);
  if (!t) {
    t = tf.keep(make());
    cache.set(key, t);
  }
  return t as tf.Tensor2D;
}

/**
 * The prompt-alignment score a CLIP-like model gives: cosine of its normalised image features with the prompt's
 * normalised text features (which the prompt context computed once).
 */
export function textImageCosine(id: RewardModelId, image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor1D {
  const text = need(ctx.text?.[rewardModel(id).role], `the prompt's ${id} text features`);
  return tf.tidy(() => rowDot(l2Normalize(imageFeatures(id, image01, ctx, cache)), text));
}

/** Token ids per text tower → normalised text features by role. */
export function encodeRewardText(models: RewardModels, ids: RewardTextIds): RewardText {
  const text: RewardText = {};
  for (const [role, roleIds] of Object.entries(ids) as [RewardModelRole, tf.Tensor2D | undefined][]) {
    if (!roleIds) continue;
    const def = rewardModelOfRole(role);
    const side = need(def.text, `the text side of ${def.label}`);
    const model = loadedModel(models, def);
    text[role] = tf.tidy(() => l2Normalize(side.features(model, roleIds)));
  }
  return text;
}

export function disposeRewardText(text: RewardText): void {
  tf.dispose(Object.values(text).filter((t): t is tf.Tensor2D => t !== undefined));
}

/** The parts of the loaded models that only the prompt's text features use (they may leave the GPU once those are computed). */
export function rewardTextParts(models: RewardModels): unknown[] {
  return REWARD_MODELS.flatMap((def) => {
    const model = (models as Record<string, unknown>)[def.role];
    const text = (def as AnyRewardModelDef).text;
    return model !== undefined && text ? text.parts(model) : [];
  }).filter((p) => p !== undefined);
}
