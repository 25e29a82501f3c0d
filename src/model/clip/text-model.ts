import * as tf from '@tensorflow/tfjs';
import { causalMask, embeddingLookup, layerNorm, type EmbeddingTable, type NormParams } from '../nn';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../params';
import type { WeightScope, WeightStore } from '../weights';
import type { WeightPrecision } from '../precision';
import { type ClipEncoder, activation, hfEncoder, runEncoder } from './transformer';

/**
 * transformers' CLIPTextModel (the SD1.5 text encoder, and the text tower of CLIPModel):
 *   x = token_embedding[ids] + position_embedding[:L]
 *   x = encoder(x, causal mask)            pre-LN blocks, quick_gelu
 *   last_hidden_state = final_layer_norm(x)
 *   pooler_output = last_hidden_state[b, argmax(ids[b])]   (the first <|endoftext|>; HF's legacy eos rule)
 * Ids may have any length L ≤ max_position_embeddings (IPGO feeds unpadded prompts); the causal mask makes
 * position i independent of what follows it, so padding never changes the first L rows.
 */
export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  max_position_embeddings: number;
  hidden_act: string;
  layer_norm_eps: number;
}

export interface ClipTextModel {
  config: ClipTextConfig;
  tokenEmbedding: EmbeddingTable;
  positionEmbedding: tf.Tensor2D;
  encoder: ClipEncoder;
  finalLayerNorm: NormParams;
}

export interface ClipTextOutput {
  /** [B, L, D] after the final layer norm: the SD conditioning. */
  lastHiddenState: tf.Tensor3D;
  /** [B, D]: `lastHiddenState` at argmax(ids) per row. */
  pooledOutput: tf.Tensor2D;
  /** HF `hidden_states` when requested: embeddings, then the output of every layer (before the final LN). */
  hiddenStates?: tf.Tensor3D[];
}

/** Builds the model from any parameter source (shared with CLIPModel, whose towers add the projections). */
export function buildClipText(src: ParamSource, c: ClipTextConfig): ClipTextModel {
  const tokenEmbedding = src.embedding('embeddings.token_embedding.weight', c.vocab_size, c.hidden_size);
  const positionEmbedding = src.tensor('embeddings.position_embedding.weight', [c.max_position_embeddings, c.hidden_size]) as tf.Tensor2D;
  // Buffer that older transformers wrote into checkpoints (arange); accepted and ignored.
  src.ignore('embeddings.position_ids', [1, c.max_position_embeddings]);
  const encoder = hfEncoder(src.sub('encoder.'), {
    layers: c.num_hidden_layers, width: c.hidden_size, inner: c.intermediate_size, heads: c.num_attention_heads,
    act: activation(c.hidden_act), eps: c.layer_norm_eps,
  });
  return { config: c, tokenEmbedding, positionEmbedding, encoder, finalLayerNorm: src.norm('final_layer_norm', c.hidden_size, c.layer_norm_eps) };
}

/** Every key and torch shape the model reads (under `text_model.`), from a dry bind of the builder. */
export function clipTextExpectedKeys(c: ClipTextConfig): ParamSpec[] {
  return declaredParams((src) => buildClipText(src.sub('text_model.'), c));
}

/**
 * Loads a CLIPTextModel from a WeightStore holding `text_model.*` keys (diffusers `text_encoder/model.safetensors`)
 * and its parsed `config.json`. Throws on missing keys or wrong shapes; the store may be disposed afterwards, and
 * `disposeParams(model)` (nn.ts) frees the model.
 */
export function loadClipTextModel(ws: WeightStore | WeightScope, config: ClipTextConfig, precision: WeightPrecision = 'fp32'): ClipTextModel {
  const b = clipTextBinding(config, precision);
  return loadFromStore(ws, b.build, b.opts);
}

/** CLIPTextModel's checkpoint binding (`text_model.*` keys). */
export function clipTextBinding(config: ClipTextConfig, precision: WeightPrecision = 'fp32'): ModelBinding<ClipTextModel> {
  return { build: (src) => buildClipText(src.sub('text_model.'), config), opts: { precision, strict: true } };
}

/** ids: int32 [B, L], 1 ≤ L ≤ max_position_embeddings. */
export function clipTextForward(model: ClipTextModel, ids: tf.Tensor2D, opts: { outputHiddenStates?: boolean } = {}): ClipTextOutput {
  const len = ids.shape[1];
  const maxLen = model.config.max_position_embeddings;
  if (len < 1 || len > maxLen) throw new Error(`text length ${len} outside 1..${maxLen}`);
  return tf.tidy(() => {
    const ids32 = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
    const emb = tf.add(embeddingLookup(model.tokenEmbedding, ids32), model.positionEmbedding.slice([0, 0], [len, -1])) as tf.Tensor3D;
    const mask = causalMask(len);
    const keep = opts.outputHiddenStates === true;
    const { out, each } = runEncoder(emb, model.encoder, mask, keep);
    const lastHiddenState = layerNorm(out, model.finalLayerNorm) as tf.Tensor3D;
    const pooledOutput = poolAt(lastHiddenState, tf.argMax(ids32, 1) as tf.Tensor1D);
    return keep ? { lastHiddenState, pooledOutput, hiddenStates: [emb, ...each] } : { lastHiddenState, pooledOutput };
  });
}

/** Rows `x[b, index[b]]` of a [B, L, D] tensor (differentiable gather). */
export function poolAt(x: tf.Tensor3D, index: tf.Tensor1D): tf.Tensor2D {
  const [batch, len, dim] = x.shape;
  const flat = tf.add(index.toInt(), tf.range(0, batch * len, len, 'int32'));
  return tf.gather(x.reshape([batch * len, dim]), flat) as tf.Tensor2D;
}
