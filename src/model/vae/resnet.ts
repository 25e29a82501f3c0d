import * as tf from '@tensorflow/tfjs';
import { conv2d, groupNorm, silu, type ConvParams, type NormParams } from '../nn';
import type { WeightScope } from '../weights';
import { conv, norm } from './params';

/**
 * diffusers ResnetBlock2D as the VAE uses it: no time embedding, output_scale_factor 1.
 * h = conv2(silu(GN2(conv1(silu(GN1(x)))))); out = shortcut(x) + h (1×1 conv shortcut when channels change).
 */
export interface VaeResnet {
  norm1: NormParams;
  conv1: ConvParams;
  norm2: NormParams;
  conv2: ConvParams;
  shortcut?: ConvParams;
  groups: number;
}

export function loadVaeResnet(ws: WeightScope, inC: number, outC: number, groups: number, eps: number): VaeResnet {
  return {
    norm1: norm(ws, 'norm1', inC, eps),
    conv1: conv(ws, 'conv1', inC, outC, 3),
    norm2: norm(ws, 'norm2', outC, eps),
    conv2: conv(ws, 'conv2', outC, outC, 3),
    shortcut: inC !== outC ? conv(ws, 'conv_shortcut', inC, outC, 1) : undefined,
    groups,
  };
}

export function vaeResnet(x: tf.Tensor4D, p: VaeResnet): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv2d(silu(groupNorm(x, p.groups, p.norm1)) as tf.Tensor4D, p.conv1);
    h = conv2d(silu(groupNorm(h, p.groups, p.norm2)) as tf.Tensor4D, p.conv2);
    const skip = p.shortcut ? conv2d(x, p.shortcut) : x;
    return tf.add(skip, h) as tf.Tensor4D;
  });
}
