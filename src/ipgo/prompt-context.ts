/**
 * Everything a prompt contributes to the IPGO objective, computed once per prompt (no gradient): its encoder
 * states H (unpadded, length L), the unconditional states ("" padded to L + 2n), and the reward models' text
 * features. Checks L + 2n ≤ 77 before doing any work.
 */
import * as tf from '@tensorflow/tfjs';
import { encodeIds, promptIds, type StableDiffusion } from '../model/pipeline';
import type { ClipTokenizer } from '../model/tokenizer/clip-tokenizer';
import { disposeRewardText, encodeRewardText, getReward, mixIds, type FeatureCache, type RewardContext, type RewardMix,
  type RewardModels, type RewardText } from '../rewards/registry';
import { checkContextLength } from './conformity';
import { type Offloaded, offloadToHost } from '../model/offload';
import type { RewardTerms } from './objective';

export interface IpgoModels {
  sd: StableDiffusion;
  rewards: RewardModels;
  /** open_clip's tokenizer variant (zero padded to 77), for HPSv2's text tower. */
  openClipTokenizer: ClipTokenizer;
}

export interface PromptContext {
  prompt: string;
  ids: number[];
  /** H [1, L, D]. */
  promptStates: tf.Tensor3D;
  /** text_encoder("" padded to L + 2n) [1, L + 2n, D]. */
  uncond: tf.Tensor3D;
  /** text_encoder("" padded to L): the raw baseline's unconditional branch. */
  rawUncond: tf.Tensor3D;
  text: RewardText;
  dispose(): void;
}

export function preparePrompt(models: IpgoModels, prompt: string, numTokens: number, mix: RewardMix): PromptContext {
  const { sd } = models;
  const ids = promptIds(sd, prompt);
  checkContextLength(ids.length, numTokens, sd.textEncoder.config.max_position_embeddings);
  const needs = new Set(mixIds(mix).map((id) => getReward(id).text));
  const clipIds = needs.has('clip') ? tf.tensor2d([ids], [1, ids.length], 'int32') : undefined;
  const hpsIds = needs.has('hps') ? tf.tensor2d([models.openClipTokenizer.encode(prompt, { padding: 'max_length' })], undefined, 'int32') : undefined;
  const text = encodeRewardText(models.rewards, { clip: clipIds, hps: hpsIds });
  tf.dispose([clipIds, hpsIds].filter((t): t is tf.Tensor2D => t !== undefined));
  const promptStates = encodeIds(sd, ids);
  const uncond = encodeIds(sd, promptIds(sd, '', ids.length + 2 * numTokens));
  const rawUncond = encodeIds(sd, promptIds(sd, '', ids.length));
  return {
    prompt, ids, promptStates, uncond, rawUncond, text,
    dispose() {
      tf.dispose([promptStates, uncond, rawUncond]);
      disposeRewardText(text);
    },
  };
}

/**
 * The text towers (the SD text encoder, the reward models' text sides): used only while a prompt is prepared, so
 * they can leave the GPU for the update (see offloadTextTowers).
 */
export function textTowers(models: IpgoModels): unknown[] {
  const { clip, hps } = models.rewards;
  return [models.sd.textEncoder, clip?.text, clip?.textProjection, hps?.text, hps?.textProjection].filter((m) => m !== undefined);
}

/** Moves the text towers to host memory until `restore()` (on WebGPU): call once every prompt is prepared. */
export function offloadTextTowers(models: IpgoModels): Promise<Offloaded> {
  return offloadToHost(textTowers(models));
}

/** Raw values of each reward in the mix (weights applied by the objective); shared image features computed once. */
export function rewardTermsFor(models: IpgoModels, ctx: PromptContext, mix: RewardMix): RewardTerms {
  const rc: RewardContext = { models: models.rewards, text: ctx.text };
  return (image01, cache: FeatureCache) => Object.fromEntries(mixIds(mix).map((id) => [id, getReward(id).score(image01, rc, cache)]));
}
