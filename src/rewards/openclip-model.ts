import * as tf from '@tensorflow/tfjs';
import { BoundWeights, type ParamSpec, boundScope, specNorm } from '../model/clip-bind';
import { type ClipActivation, loadOpenClipEncoder, openClipEncoderSpec } from '../model/clip-transformer';
import { type TorchLinear, linearT } from '../model/clip-matmul';
import { loadNorm, own } from '../model/nn';
import { type ClipTextModel, clipTextForward } from '../model/text-encoder';
import { WeightStore, type WeightScope } from '../model/weights';
import { patchMatrix, type VisionTower, visionForward } from './vision-tower';

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
  /** [embed, width]: open_clip's `text_projection` transposed once at load, so it runs like an HF Linear. */
  textProjection?: TorchLinear;
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

export function openClipExpectedKeys(config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text']): ParamSpec[] {
  const { v, t, embed } = resolved(config);
  const grid = v.size / v.patch;
  const spec: ParamSpec[] = [{ key: 'logit_scale', shape: [], optional: true }];
  if (towers.includes('vision')) {
    spec.push(
      { key: 'visual.conv1.weight', shape: [v.width, 3, v.patch, v.patch] },
      { key: 'visual.class_embedding', shape: [v.width] },
      { key: 'visual.positional_embedding', shape: [grid * grid + 1, v.width] },
      ...specNorm('visual.ln_pre', v.width),
      ...openClipEncoderSpec('visual.transformer.', v.layers, v.width, v.inner),
      ...specNorm('visual.ln_post', v.width),
      { key: 'visual.proj', shape: [v.width, embed] },
    );
  }
  if (towers.includes('text')) {
    spec.push(
      { key: 'token_embedding.weight', shape: [t.vocab, t.width] },
      { key: 'positional_embedding', shape: [t.ctx, t.width] },
      ...openClipEncoderSpec('transformer.', t.layers, t.width, t.inner),
      ...specNorm('ln_final', t.width),
      { key: 'text_projection', shape: [t.width, embed] },
    );
  }
  return spec;
}

export function loadOpenClipModel(ws: WeightStore | WeightScope, config: OpenClipModelCfg, towers: OpenClipTower[] = ['vision', 'text']): OpenClipModel {
  const scope = ws instanceof WeightStore ? ws.sub('') : ws;
  const b = new BoundWeights(scope, openClipExpectedKeys(config, towers));
  const r = resolved(config);
  const bs = boundScope(b);
  b.ignore('logit_scale');
  const model: OpenClipModel = { config };
  if (towers.includes('vision')) {
    model.vision = {
      imageSize: r.v.size,
      patchSize: r.v.patch,
      patch: patchMatrix(b.get('visual.conv1.weight')),
      classEmbedding: own(b.get('visual.class_embedding')) as tf.Tensor1D,
      positionEmbedding: own(b.get('visual.positional_embedding')) as tf.Tensor2D,
      preNorm: loadNorm(bs, 'visual.ln_pre', LN_EPS),
      encoder: loadOpenClipEncoder(b, 'visual.transformer.', r.v.layers, r.v.heads, r.act, LN_EPS),
      postNorm: loadNorm(bs, 'visual.ln_post', LN_EPS),
      projection: { w: tf.keep(tf.transpose(b.get('visual.proj'))) as tf.Tensor2D }, // x @ proj = x · (projᵀ)ᵀ
    };
  }
  if (towers.includes('text')) {
    model.text = {
      // The shared text forward reads these HF-named fields.
      config: {
        vocab_size: r.t.vocab, hidden_size: r.t.width, intermediate_size: r.t.inner, num_attention_heads: r.t.heads,
        num_hidden_layers: r.t.layers, max_position_embeddings: r.t.ctx, hidden_act: r.act, layer_norm_eps: LN_EPS,
      },
      tokenEmbedding: own(b.get('token_embedding.weight')) as tf.Tensor2D,
      positionEmbedding: own(b.get('positional_embedding')) as tf.Tensor2D,
      encoder: loadOpenClipEncoder(b, 'transformer.', r.t.layers, r.t.heads, r.act, LN_EPS),
      finalLayerNorm: loadNorm(bs, 'ln_final', LN_EPS),
    };
    model.textProjection = { w: tf.keep(tf.transpose(b.get('text_projection'))) as tf.Tensor2D };
  }
  b.finish();
  return model;
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
  return tf.tidy(() => linearT(clipTextForward(text, ids).pooledOutput, textProjection) as tf.Tensor2D);
}
