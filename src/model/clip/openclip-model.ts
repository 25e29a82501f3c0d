import * as tf from '@tensorflow/tfjs';
import { linear } from '../input-grad-ops';
import type { LinearParams } from '../nn';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../params';
import type { WeightScope, WeightStore } from '../weights';
import type { WeightPrecision } from '../precision';
import { type ClipTextModel, clipTextForward } from './text-model';
import { type ClipActivation, openClipEncoder } from './transformer';
import { type VisionTower, visionForward } from './vision-tower';

/**
 * open_clip's `CLIP` with a ViT image tower (HPSv2 = ViT-H-14), from open_clip's own key layout:
 * `visual.{conv1, class_embedding, positional_embedding, ln_pre, transformer.resblocks.N.*, ln_post, proj}` and
 * `token_embedding, positional_embedding, transformer.resblocks.N.*, ln_final, text_projection`.
 * Differences from the HF layout that matter: fused `in_proj_weight = cat(q, k, v)`, projections stored
 * [width, embed] and applied as `x @ proj`, exact-erf GELU unless `quick_gelu: true`. The text tower pools at
 * argmax(ids) (the <|endoftext|> = 49407; open_clip's tokenizer pads with 0) and uses a causal mask, so it runs
 * on the same forward as the SD text encoder.
 */
export interface OpenClipVisionCfg {
  image_size: number;
  patch_size: number;
  width: number;
  layers: number;
  head_width?: number;
  mlp_ratio?: number;
}

export interface OpenClipTextCfg {
  context_length?: number;
  vocab_size?: number;
  width?: number;
  heads?: number;
  layers?: number;
  mlp_ratio?: number;
}

/** open_clip `model_cfg` (the `model_cfg` object of `open_clip_config.json`, or the file itself). */
export interface OpenClipModelCfg {
  embed_dim: number;
  quick_gelu?: boolean;
  vision_cfg: OpenClipVisionCfg;
  text_cfg: OpenClipTextCfg;
}

export interface OpenClipModel {
  config: OpenClipModelCfg;
  vision?: VisionTower;
  text?: ClipTextModel;
  /** [embed, width]: open_clip's `text_projection` ([width, embed], applied as x @ proj) in torch Linear layout. */
  textProjection?: LinearParams;
}

export type OpenClipTower = 'vision' | 'text';

const LN_EPS = 1e-5;

/** Accepts `open_clip_config.json` ({ model_cfg, preprocess_cfg }) or a bare model_cfg. */
export function openClipModelCfg(json: unknown): OpenClipModelCfg {
  const o = json as { model_cfg?: OpenClipModelCfg } & Partial<OpenClipModelCfg>;
  const cfg = o.model_cfg ?? (o as OpenClipModelCfg);
  if (!cfg.vision_cfg || !cfg.text_cfg || !cfg.embed_dim) throw new Error('not an open_clip model config (embed_dim, vision_cfg, text_cfg)');
  return cfg;
}

/** open_clip defaults (VisionCfg / CLIPTextCfg dataclasses) filled in. */
function resolved(c: OpenClipModelCfg) {
  const v = c.vision_cfg, t = c.text_cfg;
  const vWidth = v.width;
  const tWidth = t.width ?? 512;
  return {
    act: (c.quick_gelu ? 'quick_gelu' : 'gelu') as ClipActivation,
    embed: c.embed_dim,
    v: { size: v.image_size, patch: v.patch_size, width: vWidth, layers: v.layers, heads: vWidth / (v.head_width ?? 64), inner: Math.round(vWidth * (v.mlp_ratio ?? 4)) },
    t: { ctx: t.context_length ?? 77, vocab: t.vocab_size ?? 49408, width: tWidth, heads: t.heads ?? 8, layers: t.layers ?? 12, inner: Math.round(tWidth * (t.mlp_ratio ?? 4)) },
  };
}

/** The chosen towers from any parameter source (open_clip keys); a tower not asked for is absent. */
export function buildOpenClipModel(src: ParamSource, config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text']): OpenClipModel {
  const { v, t, embed, act } = resolved(config);
  src.ignore('logit_scale', []);
  const model: OpenClipModel = { config };
  if (towers.includes('vision')) {
    const grid = v.size / v.patch;
    const patch = src.patchLinear('visual.conv1', 3, v.width, v.patch);
    const classEmbedding = src.tensor('visual.class_embedding', [v.width]) as tf.Tensor1D;
    const positionEmbedding = src.tensor('visual.positional_embedding', [grid * grid + 1, v.width]) as tf.Tensor2D;
    const preNorm = src.norm('visual.ln_pre', v.width, LN_EPS);
    const encoder = openClipEncoder(src.sub('visual.transformer.'), { layers: v.layers, width: v.width, inner: v.inner, heads: v.heads, act, eps: LN_EPS });
    const postNorm = src.norm('visual.ln_post', v.width, LN_EPS);
    const projection = src.linear('visual.proj', v.width, embed, false, { weight: 'visual.proj', inOut: true });
    model.vision = { imageSize: v.size, patchSize: v.patch, patch, classEmbedding, positionEmbedding, preNorm, encoder, postNorm, projection };
  }
  if (towers.includes('text')) {
    const tokenEmbedding = src.embedding('token_embedding.weight', t.vocab, t.width);
    const positionEmbedding = src.tensor('positional_embedding', [t.ctx, t.width]) as tf.Tensor2D;
    const encoder = openClipEncoder(src.sub('transformer.'), { layers: t.layers, width: t.width, inner: t.inner, heads: t.heads, act, eps: LN_EPS });
    model.text = {
      // The shared text forward reads these HF-named fields.
      config: {
        vocab_size: t.vocab, hidden_size: t.width, intermediate_size: t.inner, num_attention_heads: t.heads,
        num_hidden_layers: t.layers, max_position_embeddings: t.ctx, hidden_act: act, layer_norm_eps: LN_EPS,
      },
      tokenEmbedding, positionEmbedding, encoder, finalLayerNorm: src.norm('ln_final', t.width, LN_EPS),
    };
    model.textProjection = src.linear('text_projection', t.width, embed, false, { weight: 'text_projection', inOut: true });
  }
  return model;
}

export function openClipExpectedKeys(config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text']): ParamSpec[] {
  return declaredParams((src) => buildOpenClipModel(src, config, towers));
}

export function loadOpenClipModel(ws: WeightStore | WeightScope, config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text'], precision: WeightPrecision = 'fp32'): OpenClipModel {
  const b = openClipBinding(config, towers, precision);
  return loadFromStore(ws, b.build, b.opts);
}

/** open_clip CLIP's checkpoint binding for the chosen towers. */
export function openClipBinding(config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text'], precision: WeightPrecision = 'fp32'): ModelBinding<OpenClipModel> {
  // strict: a config that does not describe the checkpoint (fewer layers, say) must not bind a part of it
  const leaves = [...(towers.includes('text') ? [] : ['token_embedding.', 'positional_embedding', 'transformer.', 'ln_final.', 'text_projection']),
    ...(towers.includes('vision') ? [] : ['visual.'])];
  return { build: (src) => buildOpenClipModel(src, config, towers), opts: { precision, strict: true, leaves } };
}

/** Normalised pixel values NHWC [B, S, S, 3] → `encode_image` [B, E] (unnormalised). */
export function openClipImageFeatures(model: OpenClipModel, px: tf.Tensor4D): tf.Tensor2D {
  if (!model.vision) throw new Error('open_clip vision tower not loaded');
  return visionForward(model.vision, px);
}

/** open_clip token ids int32 [B, L] (zero padded to context_length by its tokenizer) → `encode_text` [B, E]. */
export function openClipTextFeatures(model: OpenClipModel, ids: tf.Tensor2D): tf.Tensor2D {
  if (!model.text || !model.textProjection) throw new Error('open_clip text tower not loaded');
  const { text, textProjection } = model;
  return tf.tidy(() => linear(clipTextForward(text, ids).pooledOutput, textProjection) as tf.Tensor2D);
}
