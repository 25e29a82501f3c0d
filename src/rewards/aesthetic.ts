import * as tf from '@tensorflow/tfjs';
import { linear } from '../model/input-grad-ops';
import type { LinearParams } from '../model/nn';
import { declaredParams, loadFromStore, type ModelBinding, type ParamSource, type ParamSpec } from '../model/params';
import type { WeightScope, WeightStore } from '../model/weights';

/**
 * LAION improved-aesthetic-predictor head (sac+logos+ava1-l14-linearMSE): an MLP 768→1024→128→64→16→1 stored as
 * torch `nn.Sequential` indices 0, 2, 4, 6, 7 (the odd indices in between are Dropout, inert at inference; there
 * are no activations, so the head is affine). Input: the L2-normalised CLIP ViT-L/14 image embedding.
 */
export interface AestheticHead {
  layers: LinearParams[];
}

const LAYERS: { index: number; out: number }[] = [
  { index: 0, out: 1024 },
  { index: 2, out: 128 },
  { index: 4, out: 64 },
  { index: 6, out: 16 },
  { index: 7, out: 1 },
];

export function buildAestheticHead(src: ParamSource, inDim = 768): AestheticHead {
  let d = inDim;
  return {
    layers: LAYERS.map(({ index, out }) => {
      const l = src.linear(`layers.${index}`, d, out, true);
      d = out;
      return l;
    }),
  };
}

export function aestheticExpectedKeys(inDim = 768): ParamSpec[] {
  return declaredParams((src) => buildAestheticHead(src, inDim));
}

export function loadAestheticHead(ws: WeightStore | WeightScope, inDim = 768): AestheticHead {
  const b = aestheticBinding(inDim);
  return loadFromStore(ws, b.build, b.opts);
}

/** The head's checkpoint binding (a few small Linears: always float32). */
export function aestheticBinding(inDim = 768): ModelBinding<AestheticHead> {
  return { build: (src) => buildAestheticHead(src, inDim), opts: { strict: true } };
}

/** [B, inDim] normalised embeddings → scores [B]. */
export function aestheticForward(head: AestheticHead, normalizedEmbeds: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => head.layers.reduce<tf.Tensor>((x, l) => linear(x, l), normalizedEmbeds).reshape([-1]) as tf.Tensor1D);
}
