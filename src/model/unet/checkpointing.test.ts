import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { UNetConfigJson } from './config';
import { RandomParams } from '../../../test/random-params';
import { UNet2DConditionModel } from './unet';
import type { CheckpointGranularity } from './blocks';

/** Every block kind (cross-attn down/up, plain down/up, mid), 3 levels, 2 transformer layers in one block. */
const TINY: UNetConfigJson = {
  block_out_channels: [16, 32, 32], down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], layers_per_block: 2, attention_head_dim: 2,
  cross_attention_dim: 16, norm_num_groups: 4, in_channels: 4, out_channels: 4, transformer_layers_per_block: [2, 1, 1],
};

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('UNet gradient checkpointing', () => {
  it('gives the same gradients wrt sample and encoder_hidden_states as plain autodiff, at every granularity, without leaks', () => {
    const unet = UNet2DConditionModel.fromSource(TINY, new RandomParams(5));
    const sample = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ehs = tf.randomNormal([2, 7, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    const r = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    for (const chunkBytes of [undefined, 2 * 2 * 8 * 64 * 4]) { // the second budget chunks the 64-token self-attention
      const grads = (checkpointing: boolean | CheckpointGranularity, largeLayerMinBytes?: number) => tf.grads((x: tf.Tensor, e: tf.Tensor) =>
        tf.sum(tf.mul(unet.forward(x as tf.Tensor4D, 421, e as tf.Tensor3D, { checkpointing, attentionChunkBytes: chunkBytes, largeLayerMinBytes }), r)))([sample, ehs]);
      const plain = grads(false);
      // 'large-layers' at 4 KiB: the two upper levels' layers recomputed (inputs of 8 and 4 KiB), the lowest one kept
      for (const [mode, minBytes] of [['module'], ['layer'], [true], ['large-layers', 4096]] as const) {
        const ck = grads(mode, minBytes);
        expect(relErr(ck[0]!, plain[0]!)).toBeLessThan(1e-6);
        expect(relErr(ck[1]!, plain[1]!)).toBeLessThan(1e-6);
        tf.dispose(ck);
      }
      expect(tf.tidy(() => tf.norm(plain[1]!).dataSync()[0]!)).toBeGreaterThan(0);
      tf.dispose(plain);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sample, ehs, r]);
    unet.dispose();
  });

  it('holds less memory during the backward than plain autodiff', async () => {
    const unet = UNet2DConditionModel.fromSource(TINY, new RandomParams(6));
    const sample = tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const ehs = tf.randomNormal([2, 7, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
    const peak = async (checkpointing: boolean | CheckpointGranularity, largeLayerMinBytes?: number) => {
      const base = tf.memory().numBytes;
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => {
        out = tf.grads((x: tf.Tensor, e: tf.Tensor) => tf.sum(unet.forward(x as tf.Tensor4D, 10, e as tf.Tensor3D, { checkpointing, largeLayerMinBytes })))([sample, ehs]);
      });
      tf.dispose(out);
      return info.peakBytes - base;
    };
    const plain = await peak(false);
    expect(await peak('module')).toBeLessThan(0.5 * plain);
    // levels 0 and 1 (inputs of 32 and 16 KiB) recomputed, level 2 kept
    expect(await peak('large-layers', 8192)).toBeLessThan(0.5 * plain);
    tf.dispose([sample, ehs]);
    unet.dispose();
  });
});
