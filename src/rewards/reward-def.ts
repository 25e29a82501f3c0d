/**
 * What a reward and a reward model are, as the registries (reward-models.ts, registry.ts) take them. A reward
 * model file says how its weights bind, what its files must hold and which installed model serves it; a reward
 * file says which models and text features it reads and how it scores an image. Nothing here names a reward.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelBinding } from '../model/params';
import type { PrecisionPolicy } from '../model/precision';
import type { ModelSet as ModelSetId } from '../weights/catalog/manifest';
import type { RewardContext, RewardModelId, RewardModelRole } from './reward-models';

/** What a reward model needs from its files (installed models and the runner's model folders alike). */
export interface RewardModelNeeds {
  /** The manifest `kind` whose installs serve this model. */
  kind: string;
  /** Weight files a model folder may hold, by preference (an install names its own: the file of role 'model'). */
  weightFiles: string[];
  /** null: the loader needs no config (its shapes come from its weights). */
  config: null | {
    /** Config files a folder may hold, by preference (an install: the file of role 'config'). */
    files: string[];
    /** What the config is, for messages. */
    describe: string;
    /** Used when the model has no config file. */
    builtin?: unknown;
  };
}

/** How the prompt becomes token ids for a text tower. */
export interface TextTokens {
  /** 'clip': the Hugging Face CLIP tokenizer (Stable Diffusion's own); 'openclip': open_clip's variant of the same BPE. */
  variant: 'clip' | 'openclip';
  /** 'none': the prompt's ids as they are; 'max_length': zero padded to the tower's context length. */
  padding: 'none' | 'max_length';
}

/**
 * One reward model. Methods (not function-valued fields) so that a definition over its own model type `M` fits
 * the registry's list of definitions over unknown models.
 */
export interface RewardModelDef<Id extends string = string, Role extends string = string, M = unknown> {
  id: Id;
  /** The slot it fills: the key of the loaded model in `RewardModels`, of its text features in `RewardText`,
   *  and of the installed model that serves it in a model selection. */
  role: Role;
  /** For messages: "the CLIP model". */
  label: string;
  needs: RewardModelNeeds;
  /** The installed model (weights-manifest id) that serves this role in each model set. */
  installs: Record<ModelSetId, string>;
  /** The binding for a config (already resolved); `withText`: bind the text tower too. */
  binding(config: unknown, o: { withText: boolean; precision: Partial<PrecisionPolicy> }): ModelBinding<M>;
  /** Image side: the tower's input size and its (unnormalised) features of preprocessed pixels. */
  image?: {
    size(model: M): number;
    features(model: M, pixelValues: tf.Tensor4D): tf.Tensor2D;
  };
  /** Text side: how the prompt is tokenised, its (unnormalised) features, and the parts only it uses. */
  text?: {
    tokens: TextTokens;
    features(model: M, ids: tf.Tensor2D): tf.Tensor2D;
    parts(model: M): unknown[];
  };
}

/** Keeps a reward model definition's literal id and role (for the registry's derived types). */
export const defineRewardModel = <Id extends string, Role extends string, M>(d: RewardModelDef<Id, Role, M>): RewardModelDef<Id, Role, M> => d;

/** Per-call memo of image features shared by the rewards of one mix; its tensors are kept, the mix disposes them. */
export type FeatureCache = Map<string, tf.Tensor>;

/** How to show a raw score: transform and the axis range of the displayed value. */
export interface RewardDisplay { min: number; max: number; fromRaw(raw: number): number; unit?: string }

export interface RewardDef<Id extends string = string> {
  id: Id;
  label: string;
  description: string;
  models: RewardModelId[];
  /** The role of the model whose prompt-text features the reward reads from `ctx.text` (null: image only). */
  text: RewardModelRole | null;
  /** Its weight in a new mix (0: not in it). */
  defaultWeight: number;
  /** Differentiable with respect to the image; returns [B]. */
  score(image01: tf.Tensor4D, ctx: RewardContext, cache?: FeatureCache): tf.Tensor1D;
  display: RewardDisplay;
}

/** Keeps a reward definition's literal id (RewardId is derived from the registry's list). */
export const defineReward = <Id extends string>(d: RewardDef<Id>): RewardDef<Id> => d;

/** x / max(‖x‖₂, 1e-12) over the last axis (torch F.normalize). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12)) as tf.Tensor2D);
}

/** Row-wise dot product of [B, E] with [B or 1, E] → [B]. */
export const rowDot = (a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D => tf.sum(tf.mul(a, b), -1) as tf.Tensor1D;

export function need<T>(x: T | undefined, what: string): T {
  if (x === undefined) throw new Error(`reward needs ${what}, which is not loaded/prepared`);
  return x;
}
