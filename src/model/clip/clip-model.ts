import * as tf from '@tensorflow/tfjs';
import { linear } from '../input-grad-ops';
import type { LinearParams } from '../nn';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../params';
import type { WeightScope, WeightStore } from '../weights';
import type { WeightPrecision } from '../precision';
import { type ClipTextConfig, type ClipTextModel, buildClipText, clipTextForward } from './text-model';
import { activation, hfEncoder } from './transformer';
import { type VisionTower, visionForward } from './vision-tower';

/**
 * transformers' CLIPModel (real target: openai/clip-vit-large-patch14), built from its `config.json` and HF keys:
 * `vision_model.*` + `visual_projection` (image tower) and `text_model.*` + `text_projection` (the same
 * CLIPTextModel code as the SD text encoder, pooled at argmax(ids)). `logit_scale` is accepted and unused.
 */
export interface ClipVisionConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  image_size: number;
  patch_size: number;
  num_channels?: number;
  hidden_act: string;
  layer_norm_eps: number;
}

export interface ClipModelConfig {
  projection_dim: number;
  text_config: ClipTextConfig;
  vision_config: ClipVisionConfig;
}

/** Towers that were not asked for at load time are absent. */
export interface ClipModel {
  config: ClipModelConfig;
  vision?: VisionTower;
  text?: ClipTextModel;
  /** [E, D], no bias. */
  textProjection?: LinearParams;
}

export type ClipTower = 'vision' | 'text';

function buildVision(src: ParamSource, c: ClipModelConfig): VisionTower {
  const v = c.vision_config;
  const grid = v.image_size / v.patch_size;
  const emb = src.sub('vision_model.embeddings.');
  const classEmbedding = emb.tensor('class_embedding', [v.hidden_size]) as tf.Tensor1D;
  const patch = emb.patchLinear('patch_embedding', v.num_channels ?? 3, v.hidden_size, v.patch_size);
  const positionEmbedding = emb.tensor('position_embedding.weight', [grid * grid + 1, v.hidden_size]) as tf.Tensor2D;
  emb.ignore('position_ids', [1, grid * grid + 1]);
  const preNorm = src.norm('vision_model.pre_layrnorm', v.hidden_size, v.layer_norm_eps);
  const encoder = hfEncoder(src.sub('vision_model.encoder.'), {
    layers: v.num_hidden_layers, width: v.hidden_size, inner: v.intermediate_size, heads: v.num_attention_heads,
    act: activation(v.hidden_act), eps: v.layer_norm_eps,
  });
  return {
    imageSize: v.image_size, patchSize: v.patch_size, patch, classEmbedding, positionEmbedding, preNorm, encoder,
    postNorm: src.norm('vision_model.post_layernorm', v.hidden_size, v.layer_norm_eps),
    projection: src.linear('visual_projection', v.hidden_size, c.projection_dim, false),
  };
}

/** The chosen towers from any parameter source (HF keys); a tower not asked for is absent. */
export function buildClipModel(src: ParamSource, config: ClipModelConfig, towers: ClipTower[] = ['vision', 'text']): ClipModel {
  src.ignore('logit_scale', []);
  const model: ClipModel = { config };
  if (towers.includes('vision')) model.vision = buildVision(src, config);
  if (towers.includes('text')) {
    model.text = buildClipText(src.sub('text_model.'), config.text_config);
    model.textProjection = src.linear('text_projection', config.text_config.hidden_size, config.projection_dim, false);
  }
  return model;
}

/** Keys and torch shapes of the chosen towers (both by default; `logit_scale` is declared optional). */
export function clipExpectedKeys(c: ClipModelConfig, towers: ClipTower[] = ['vision', 'text']): ParamSpec[] {
  return declaredParams((src) => buildClipModel(src, c, towers));
}

/**
 * Builds the chosen towers from a WeightStore (HF keys) and the parsed `config.json`; a tower not asked for is
 * absent from the result (its keys are left unused in the store). Free with `disposeParams(model)`.
 */
export function loadClipModel(ws: WeightStore | WeightScope, config: ClipModelConfig, towers: ClipTower[] = ['vision', 'text'], precision: WeightPrecision = 'fp32'): ClipModel {
  const b = clipBinding(config, towers, precision);
  return loadFromStore(ws, b.build, b.opts);
}

/** CLIPModel's checkpoint binding for the chosen towers. */
export function clipBinding(config: ClipModelConfig, towers: ClipTower[] = ['vision', 'text'], precision: WeightPrecision = 'fp32'): ModelBinding<ClipModel> {
  // strict: every key of the checkpoint is claimed, but those of a tower not asked for
  const leaves = [...(towers.includes('text') ? [] : ['text_model.', 'text_projection.']), ...(towers.includes('vision') ? [] : ['vision_model.', 'visual_projection.'])];
  return { build: (src) => buildClipModel(src, config, towers), opts: { precision, strict: true, leaves } };
}

/** Normalised pixel values NHWC [B, S, S, 3] → `image_embeds` [B, E] (HF `get_image_features`, unnormalised). */
export function clipImageEmbeds(model: ClipModel, px: tf.Tensor4D): tf.Tensor2D {
  if (!model.vision) throw new Error('CLIP vision tower not loaded');
  return visionForward(model.vision, px);
}

/** Token ids int32 [B, L] → `text_embeds` [B, E] (HF `get_text_features`, unnormalised). */
export function clipTextEmbeds(model: ClipModel, ids: tf.Tensor2D): tf.Tensor2D {
  if (!model.text || !model.textProjection) throw new Error('CLIP text tower not loaded');
  const { text, textProjection } = model;
  return tf.tidy(() => {
    const out = clipTextForward(text, ids);
    return linear(out.pooledOutput, textProjection) as tf.Tensor2D;
  });
}
