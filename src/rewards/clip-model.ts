import * as tf from '@tensorflow/tfjs';
import { BoundWeights, type ParamSpec, boundScope, specLinear, specNorm } from '../model/clip-bind';
import { activation, hfEncoderSpec, loadHfEncoder } from '../model/clip-transformer';
import { type TorchLinear, linearT, loadTorchLinear } from '../model/clip-matmul';
import { loadNorm, own } from '../model/nn';
import { type ClipTextConfig, type ClipTextModel, buildClipText, clipTextExpectedKeys, clipTextForward } from '../model/text-encoder';
import { WeightStore, type WeightScope } from '../model/weights';
import { patchMatrix, type VisionTower, visionForward } from './vision-tower';

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
  /** torch layout [E, D], no bias. */
  textProjection?: TorchLinear;
}

export type ClipTower = 'vision' | 'text';

/** Keys and torch shapes of the chosen towers (both by default; `logit_scale` is declared optional). */
export function clipExpectedKeys(c: ClipModelConfig, towers: ClipTower[] = ['vision', 'text']): ParamSpec[] {
  const v = c.vision_config, t = c.text_config, e = c.projection_dim;
  const channels = v.num_channels ?? 3;
  const grid = v.image_size / v.patch_size;
  const spec: ParamSpec[] = [{ key: 'logit_scale', shape: [], optional: true }];
  if (towers.includes('vision')) {
    spec.push(
      { key: 'vision_model.embeddings.class_embedding', shape: [v.hidden_size] },
      { key: 'vision_model.embeddings.patch_embedding.weight', shape: [v.hidden_size, channels, v.patch_size, v.patch_size] },
      { key: 'vision_model.embeddings.position_embedding.weight', shape: [grid * grid + 1, v.hidden_size] },
      { key: 'vision_model.embeddings.position_ids', shape: [1, grid * grid + 1], optional: true },
      ...specNorm('vision_model.pre_layrnorm', v.hidden_size),
      ...hfEncoderSpec('vision_model.encoder.', v.num_hidden_layers, v.hidden_size, v.intermediate_size),
      ...specNorm('vision_model.post_layernorm', v.hidden_size),
      ...specLinear('visual_projection', v.hidden_size, e, false),
    );
  }
  if (towers.includes('text')) spec.push(...clipTextExpectedKeys(t), ...specLinear('text_projection', t.hidden_size, e, false));
  return spec;
}

function buildVision(b: BoundWeights, c: ClipModelConfig): VisionTower {
  const v = c.vision_config;
  const ws = boundScope(b);
  b.ignore('vision_model.embeddings.position_ids');
  return {
    imageSize: v.image_size,
    patchSize: v.patch_size,
    patch: patchMatrix(b.get('vision_model.embeddings.patch_embedding.weight')),
    classEmbedding: own(b.get('vision_model.embeddings.class_embedding')) as tf.Tensor1D,
    positionEmbedding: own(b.get('vision_model.embeddings.position_embedding.weight')) as tf.Tensor2D,
    preNorm: loadNorm(ws, 'vision_model.pre_layrnorm', v.layer_norm_eps),
    encoder: loadHfEncoder(b, 'vision_model.encoder.', v.num_hidden_layers, v.num_attention_heads, activation(v.hidden_act), v.layer_norm_eps),
    postNorm: loadNorm(ws, 'vision_model.post_layernorm', v.layer_norm_eps),
    projection: loadTorchLinear(ws, 'visual_projection', { bias: false }),
  };
}

/**
 * Builds the chosen towers from a WeightStore (HF keys) and the parsed `config.json`; a tower not asked for is
 * absent from the result (its keys are left unused in the store). Free with `disposeParams(model)`.
 */
export function loadClipModel(ws: WeightStore | WeightScope, config: ClipModelConfig, towers: ClipTower[] = ['vision', 'text']): ClipModel {
  const scope = ws instanceof WeightStore ? ws.sub('') : ws;
  const b = new BoundWeights(scope, clipExpectedKeys(config, towers));
  b.ignore('logit_scale');
  const model: ClipModel = { config };
  if (towers.includes('vision')) model.vision = buildVision(b, config);
  if (towers.includes('text')) {
    model.text = buildClipText(b, config.text_config);
    model.textProjection = loadTorchLinear(boundScope(b), 'text_projection', { bias: false });
  }
  b.finish();
  return model;
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
    return linearT(out.pooledOutput, textProjection) as tf.Tensor2D;
  });
}
