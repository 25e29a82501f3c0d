import * as tf from '@tensorflow/tfjs';
import { BoundWeights, type ParamSpec, boundScope, specLinear } from '../model/clip-bind';
import { type TorchLinear, linearT, loadTorchLinear } from '../model/clip-matmul';
import { WeightStore, type WeightScope } from '../model/weights';

/**
 * LAION improved-aesthetic-predictor head (sac+logos+ava1-l14-linearMSE): an MLP 768→1024→128→64→16→1 stored as
 * torch `nn.Sequential` indices 0, 2, 4, 6, 7 (the odd indices in between are Dropout, inert at inference; there
 * are no activations, so the head is affine). Input: the L2-normalised CLIP ViT-L/14 image embedding.
 */
export interface AestheticHead {
  layers: TorchLinear[];
}

const LAYERS: { index: number; out: number }[] = [
  { index: 0, out: 1024 },
  { index: 2, out: 128 },
  { index: 4, out: 64 },
  { index: 6, out: 16 },
  { index: 7, out: 1 },
];

export function aestheticExpectedKeys(inDim = 768): ParamSpec[] {
  let d = inDim;
  return LAYERS.flatMap(({ index, out }) => {
    const s = specLinear(`layers.${index}`, d, out);
    d = out;
    return s;
  });
}

export function loadAestheticHead(ws: WeightStore | WeightScope, inDim = 768): AestheticHead {
  const scope = ws instanceof WeightStore ? ws.sub('') : ws;
  const b = new BoundWeights(scope, aestheticExpectedKeys(inDim));
  const head = { layers: LAYERS.map(({ index }) => loadTorchLinear(boundScope(b), `layers.${index}`)) };
  b.finish();
  return head;
}

/** [B, inDim] normalised embeddings → scores [B]. */
export function aestheticForward(head: AestheticHead, normalizedEmbeds: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => head.layers.reduce<tf.Tensor>((x, l) => linearT(x, l), normalizedEmbeds).reshape([-1]) as tf.Tensor1D);
}
