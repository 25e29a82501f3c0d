/**
 * Everything a prompt contributes to the IPGO objective, computed once per prompt (no gradient): its encoder
 * states H (unpadded, length L), the unconditional states ("" padded to L + 2n), and the reward models' text
 * features. Checks L + 2n ≤ 77 before doing any work.
 */
import * as tf from '@tensorflow/tfjs';
import { encodeIds, promptIds, type StableDiffusion } from '../model/pipeline';
import type { ClipTokenizer } from '../model/tokenizer/clip-tokenizer';
import { disposeRewardText, encodeRewardText, getReward, mixIds, rewardModelOfRole, rewardTextParts, textsFor, type FeatureCache,
  type RewardContext, type RewardMix, type RewardModels, type RewardText, type RewardTextIds } from '../rewards/registry';
import type { TextTokens } from '../rewards/reward-def';
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
  const textIds: RewardTextIds = {};
  for (const role of textsFor(mixIds(mix))) {
    const { text: side, label } = rewardModelOfRole(role);
    if (!side) throw new Error(`a reward reads the prompt through ${label}, which has no text tower`);
    const { tokens } = side;
    const roleIds = tokenizerOf(models, tokens).encode(prompt, tokens.padding === 'max_length' ? { padding: 'max_length' } : {});
    textIds[role] = tf.tensor2d([roleIds], [1, roleIds.length], 'int32');
  }
  const text = encodeRewardText(models.rewards, textIds);
  tf.dispose(Object.values(textIds));
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

/** The tokenizer a reward text tower reads: Stable Diffusion's (the HF CLIP tokenizer) or open_clip's variant. */
function tokenizerOf(models: IpgoModels, tokens: TextTokens): ClipTokenizer {
  return tokens.variant === 'clip' ? models.sd.tokenizer : models.openClipTokenizer;
}

/**
 * The text towers (the SD text encoder, the reward models' text sides): used only while a prompt is prepared, so
 * they can leave the GPU for the update (see offloadTextTowers).
 */
export function textTowers(models: IpgoModels): unknown[] {
  return [models.sd.textEncoder, ...rewardTextParts(models.rewards)];
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
