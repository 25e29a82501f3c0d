/**
 * No single tensor over 128 MiB (WebGPU's default maxStorageBufferBindingSize) at 512² for SD1.5: the analytical
 * largest tensor of the UNet (64×64 latents, batch 2, 77 tokens) and the VAE decoder (512², batch 1 and 2), from
 * the real configs in sd15-shapes.json (the SD1.5 configs are written out here too, so the test runs without
 * fixtures). The analysis is trusted because it equals, exactly, the largest tensor an instrumented run creates
 * (forward and backward, chunking active) on tiny configs, on the cpu backend: WebGPU shares its code paths, and
 * wasm has speed paths of its own.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { resolveUNetConfig, type UNetConfigJson } from '../src/model/unet/config';
import { RandomParams } from './random-params';
import { largestUNetTensor } from './unet-tensor-budget';
import { UNet2DConditionModel } from '../src/model/unet/unet';
import { DEFAULT_ATTENTION_CHUNK_BYTES } from '../src/model/unet/attention';
import { AutoencoderKL } from '../src/model/vae/autoencoder-kl';
import { DEFAULT_SCORE_BUDGET_BYTES } from '../src/model/vae/attention';
import { DEFAULT_MAX_TENSOR_BYTES } from '../src/model/vae/channel-chunks';
import { parseVaeConfig } from '../src/model/vae/config';
import { expectedVaeKeys } from '../src/model/vae/autoencoder-kl';
import { largestDecoderTensor } from './vae-tensor-budget';
import { WeightStore } from '../src/model/weights';

const MiB = 2 ** 20;
const LIMIT = 128 * MiB;

/** Largest tensor (elements) the engine registers while `f` runs. */
function largestDuring(f: () => void): { elements: number; shape: number[] } {
  const engine = tf.engine() as unknown as { trackTensor: (t: tf.Tensor, b: unknown) => void };
  const original = engine.trackTensor;
  let top = { elements: 0, shape: [] as number[] };
  engine.trackTensor = function (t: tf.Tensor, b: unknown) {
    if (t.size > top.elements) top = { elements: t.size, shape: [...t.shape] };
    return original.call(this, t, b);
  };
  try {
    f();
  } finally {
    engine.trackTensor = original;
  }
  return top;
}

const SD15_UNET: UNetConfigJson = {
  block_out_channels: [320, 640, 1280, 1280], attention_head_dim: 8, cross_attention_dim: 768, layers_per_block: 2,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], norm_num_groups: 32,
  in_channels: 4, out_channels: 4,
};
const SD15_VAE = parseVaeConfig({
  block_out_channels: [128, 256, 512, 512], layers_per_block: 2, latent_channels: 4, norm_num_groups: 32,
  down_block_types: Array(4).fill('DownEncoderBlock2D'), up_block_types: Array(4).fill('UpDecoderBlock2D'),
});

describe('largest single tensor', () => {
  // On the cpu backend, whose code paths WebGPU shares: the wasm-only speed paths (per-head attention, per-tap conv
  // input gradients) make other, small intermediates, and the 128 MiB binding limit is WebGPU's.
  it('UNet: the analysis equals an instrumented forward+backward on a tiny config (chunked attention)', async () => {
    const previous = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      unetMatchesAnalysis();
    } finally {
      await tf.setBackend(previous);
    }
  });

  function unetMatchesAnalysis(): void {
    const json: UNetConfigJson = {
      block_out_channels: [16, 32, 32], down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], layers_per_block: 1, attention_head_dim: 2,
      cross_attention_dim: 16, norm_num_groups: 4, in_channels: 4, out_channels: 4,
    };
    const unet = UNet2DConditionModel.fromSource(json, new RandomParams(3));
    for (const [size, chunkBytes] of [[8, 1 << 30], [16, 2 * 2 * 8 * 256 * 4], [12, 2 * 2 * 10 * 144 * 4]] as const) {
      const sample = tf.randomNormal([2, size, size, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const ehs = tf.randomNormal([2, 7, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
      const seen = largestDuring(() => tf.dispose(tf.grads((x: tf.Tensor, e: tf.Tensor) =>
        tf.sum(unet.forward(x as tf.Tensor4D, 50, e as tf.Tensor3D, { attentionChunkBytes: chunkBytes })))([sample, ehs])));
      const predicted = largestUNetTensor(unet.config, { batch: 2, height: size, width: size, tokens: 7, chunkBytes });
      expect(seen.elements, `${size}²: instrumented [${seen.shape}] vs predicted ${predicted.what}`).toBe(predicted.elements);
      tf.dispose([sample, ehs]);
    }
    unet.dispose();
  }

  it('VAE decoder: the analysis equals an instrumented decode+vjp on a tiny config (channel chunks active)', () => {
    const cfg = parseVaeConfig({
      block_out_channels: [8, 16, 16], layers_per_block: 1, latent_channels: 4, norm_num_groups: 4,
      down_block_types: Array(3).fill('DownEncoderBlock2D'), up_block_types: Array(3).fill('UpDecoderBlock2D'),
    });
    const m = new Map<string, tf.Tensor>();
    expectedVaeKeys(cfg).forEach(({ key, shape }, i) => m.set(key, tf.mul(tf.randomNormal(shape, 0, 1, 'float32', i), 0.2)));
    const store = new WeightStore(m);
    const vae = AutoencoderKL.fromWeights(cfg, store, { decoderOnly: true });
    store.dispose();
    for (const [batch, budget, scores] of [[1, 1 << 30, 1 << 30], [2, 2 * 24 * 24 * 8 * 4, 2 * 20 * 36 * 4], [1, 24 * 24 * 4 * 4, 1 << 30]] as const) {
      vae.maxTensorBytes = budget;
      vae.attentionScoreBudgetBytes = scores;
      const z = tf.randomNormal([batch, 6, 6, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
      const seen = largestDuring(() => tf.dispose(tf.grad((x: tf.Tensor) => tf.sum(vae.decode(x as tf.Tensor4D)))(z)));
      const predicted = largestDecoderTensor(cfg, { batch, latentHeight: 6, latentWidth: 6, maxTensorBytes: budget, scoreBudgetBytes: scores });
      expect(seen.elements, `batch ${batch}, budget ${budget}: instrumented [${seen.shape}] vs predicted ${predicted.what}`).toBe(predicted.elements);
      z.dispose();
    }
    vae.dispose();
  });

  it('SD1.5 at 512²: UNet (batch 2, 77 tokens) and VAE decoder (batch 1 and 2) stay within 128 MiB', () => {
    const unet = largestUNetTensor(resolveUNetConfig(SD15_UNET), { batch: 2, height: 64, width: 64, tokens: 77, chunkBytes: DEFAULT_ATTENTION_CHUNK_BYTES });
    const shape = (batch: number) => ({ batch, latentHeight: 64, latentWidth: 64, maxTensorBytes: DEFAULT_MAX_TENSOR_BYTES, scoreBudgetBytes: DEFAULT_SCORE_BUDGET_BYTES });
    const vae1 = largestDecoderTensor(SD15_VAE, shape(1));
    const vae2 = largestDecoderTensor(SD15_VAE, shape(2));
    const unchunked = largestDecoderTensor(SD15_VAE, { ...shape(1), maxTensorBytes: Infinity });
    console.log(`[tensor budget] SD1.5 512²: UNet ${(unet.bytes / MiB).toFixed(1)} MiB (${unet.what}); VAE decoder b1 ${(vae1.bytes / MiB).toFixed(1)} MiB ` +
      `(${vae1.what}), b2 ${(vae2.bytes / MiB).toFixed(1)} MiB; decoder without channel chunks ${(unchunked.bytes / MiB).toFixed(1)} MiB (${unchunked.what})`);
    expect(unet.bytes).toBeLessThanOrEqual(LIMIT);
    expect(vae1.bytes).toBeLessThanOrEqual(LIMIT);
    expect(vae2.bytes).toBeLessThanOrEqual(LIMIT);
    expect(unchunked.bytes).toBeGreaterThan(LIMIT); // the offender the chunking removes: [1, 512, 512, 256]
  });
});
