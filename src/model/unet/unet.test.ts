import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath, readJson } from '../../../test/golden';
import { WeightStore } from '../weights';
import type { UNetConfigJson } from './config';
import { RandomParams } from '../../../test/random-params';
import { UNet2DConditionModel, expectedUnetKeys } from './unet';

/** A small SD-shaped UNet: every block kind, 3 levels, 2 heads, cross-attention dim 16. */
const TINY: UNetConfigJson = {
  block_out_channels: [16, 32, 32], down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], layers_per_block: 1, attention_head_dim: 2,
  cross_attention_dim: 16, norm_num_groups: 4, in_channels: 4, out_channels: 4, flip_sin_to_cos: true, freq_shift: 0,
};

const inputs = (h: number, w: number, l = 5) => ({
  sample: tf.randomNormal([2, h, w, 4], 0, 1, 'float32', 11) as tf.Tensor4D,
  ehs: tf.randomNormal([2, l, 16], 0, 1, 'float32', 12) as tf.Tensor3D,
});

/** Σ out·R with R fixed, summed in float64 on the host (for finite differences). */
function objective(unet: UNet2DConditionModel, r: tf.Tensor, chunkBytes?: number) {
  const f = (x: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(unet.forward(x as tf.Tensor4D, 321.5, e as tf.Tensor3D, { attentionChunkBytes: chunkBytes }), r));
  const host = (x: tf.Tensor, e: tf.Tensor): number => {
    const out = tf.tidy(() => tf.mul(unet.forward(x as tf.Tensor4D, 321.5, e as tf.Tensor3D), r));
    const v = (out.dataSync() as Float32Array).reduce((a, b) => a + b, 0);
    out.dispose();
    return v;
  };
  return { f, host };
}

const dot = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0]!);
const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

describe('UNet2DConditionModel (random tiny weights)', () => {
  it('runs without leaking tensors and supports latents not divisible by 2^levels', () => {
    const before = tf.memory().numTensors;
    const unet = UNet2DConditionModel.fromSource(TINY, new RandomParams(1));
    const afterBuild = tf.memory().numTensors;
    for (const [h, w] of [[8, 8], [8, 12], [6, 10], [5, 3]] as const) {
      const { sample, ehs } = inputs(h, w);
      const t = tf.scalar(10);
      const out = unet.forward(sample, t, ehs);
      expect(out.shape).toEqual([2, h, w, 4]);
      expect(tf.tidy(() => tf.all(tf.isFinite(out)).dataSync()[0])).toBe(1);
      tf.dispose([sample, ehs, out, t]);
      expect(tf.memory().numTensors).toBe(afterBuild);
    }
    unet.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gradients wrt sample and encoder_hidden_states run on this backend and match central finite differences', () => {
    const unet = UNet2DConditionModel.fromSource(TINY, new RandomParams(2));
    const before = tf.memory().numTensors;
    const { sample, ehs } = inputs(8, 8);
    const r = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 13);
    const { f, host } = objective(unet, r);
    const [gx, ge] = tf.grads(f)([sample, ehs]);
    expect(gx!.shape).toEqual(sample.shape);
    expect(ge!.shape).toEqual(ehs.shape);

    // Directional derivative along a random unit direction d vs (f(x+εd) − f(x−εd)) / 2ε.
    // Float32 FD accuracy is limited: f carries ≈1e-5 absolute rounding noise, so the step must be large (a
    // unit-norm step of 0.1 spread over all elements), and then O(ε²) truncation is ≈1e-3 relative for ehs.
    const eps = 0.1;
    for (const [which, g, dShape] of [['sample', gx!, sample.shape], ['encoder_hidden_states', ge!, ehs.shape]] as const) {
      const d = tf.tidy(() => { const n = tf.randomNormal([...dShape], 0, 1, 'float32', 14); return tf.div(n, tf.norm(n)); });
      const shifted = (s: number) => tf.tidy(() => (which === 'sample' ? [tf.add(sample, tf.mul(d, s)), ehs] : [sample, tf.add(ehs, tf.mul(d, s))]));
      const [xp, ep] = shifted(eps), [xm, em] = shifted(-eps);
      const fd = (host(xp!, ep!) - host(xm!, em!)) / (2 * eps);
      const analytic = dot(g, d);
      console.log(`[unet grad] ${which}: analytic ${analytic.toPrecision(6)} finite-diff ${fd.toPrecision(6)}`);
      expect(Math.abs(analytic - fd) / Math.abs(analytic), which).toBeLessThan(5e-3); // measured 1e-4 (sample), 9e-4 (ehs)
      tf.dispose([d, ...[xp!, ep!, xm!, em!].filter((t) => t !== sample && t !== ehs)]);
    }
    tf.dispose([gx!, ge!, sample, ehs, r]);
    expect(tf.memory().numTensors).toBe(before);
    unet.dispose();
  });

  it('query-chunked attention gives the same output and gradients as unchunked', () => {
    const unet = UNet2DConditionModel.fromSource(TINY, new RandomParams(3));
    const before = tf.memory().numTensors;
    const { sample, ehs } = inputs(8, 8, 7);
    const r = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 15);
    const run = (chunkBytes?: number) => {
      const { f } = objective(unet, r, chunkBytes);
      const out = unet.forward(sample, 321.5, ehs, { attentionChunkBytes: chunkBytes });
      return [out, ...tf.grads(f)([sample, ehs])];
    };
    const full = run();
    // 2·2·64·4 bytes is one query row of the 64-token self-attention: 1-row chunks, also for cross-attention.
    const chunked = run(2 * 2 * 7 * 4);
    ['out', 'd/dsample', 'd/dehs'].forEach((name, i) => expect(relErr(chunked[i]!, full[i]!), name).toBeLessThan(1e-5));
    tf.dispose([...full, ...chunked, sample, ehs, r]);
    expect(tf.memory().numTensors).toBe(before);
    unet.dispose();
  });

  it('use_linear_projection: proj_in/proj_out are linear layers and the model runs', () => {
    const cfg = { ...TINY, use_linear_projection: true };
    const shapes = new Map(expectedUnetKeys(cfg).map((s) => [s.key, s.shape]));
    expect(shapes.get('down_blocks.0.attentions.0.proj_in.weight')).toEqual([16, 16]);
    expect(shapes.get('down_blocks.0.attentions.0.proj_in.bias')).toEqual([16]);
    const unet = UNet2DConditionModel.fromSource(cfg, new RandomParams(4));
    const { sample, ehs } = inputs(4, 4);
    const out = unet.forward(sample, 1, ehs);
    expect(out.shape).toEqual([2, 4, 4, 4]);
    tf.dispose([sample, ehs, out]);
    unet.dispose();
  });
});

describe('UNet2DConditionModel.fromWeights key checking', () => {
  const storeFor = (specs: { key: string; shape: number[] }[]) => new WeightStore(new Map(specs.map((s) => [s.key, tf.zeros(s.shape)])));

  it('binds exactly the expected keys; reports missing, unexpected and mis-shaped keys all at once', () => {
    const before = tf.memory().numTensors;
    const specs = expectedUnetKeys(TINY);
    const ok = storeFor(specs);
    UNet2DConditionModel.fromWeights(TINY, ok).dispose();
    expect(ok.unusedKeys()).toEqual([]);
    ok.dispose();

    const bad = storeFor([
      ...specs.filter((s) => s.key !== 'mid_block.attentions.0.proj_in.bias').map((s) => (s.key === 'conv_in.weight' ? { ...s, shape: [16, 4, 1, 1] } : s)),
      { key: 'mid_block.attentions.0.transformer_blocks.0.attn1.to_q.bias', shape: [32] },
    ]);
    let message = '';
    try { UNet2DConditionModel.fromWeights(TINY, bad); } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/1 missing \(mid_block\.attentions\.0\.proj_in\.bias\)/);
    expect(message).toMatch(/1 unexpected \(mid_block\.attentions\.0\.transformer_blocks\.0\.attn1\.to_q\.bias\)/);
    expect(message).toMatch(/conv_in\.weight: \[16,4,1,1\] vs \[16,4,3,3\]/);
    bad.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

const sd15Shapes = fixturePath('sd15-shapes.json');
describe.skipIf(!fs.existsSync(sd15Shapes))('expectedUnetKeys vs the real SD1.5 UNet (dry bind, no allocation)', () => {
  it('matches every key and shape of sd15-shapes.json and the parameter count', () => {
    interface Entry { key: string; shape: number[] }
    const sd15 = readJson<{ sd15: { unet: { config_json: UNetConfigJson; num_keys: number; num_parameters: number; keys: Entry[] } } }>(sd15Shapes).sd15.unet;
    const before = tf.memory().numTensors;
    const got = expectedUnetKeys(sd15.config_json);
    expect(tf.memory().numTensors).toBe(before);
    const asMap = (l: Entry[]) => new Map(l.map((e) => [e.key, e.shape.join('×')]));
    expect(asMap(got)).toEqual(asMap(sd15.keys));
    expect(got.length).toBe(sd15.num_keys);
    expect(got.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0)).toBe(sd15.num_parameters);
  });
});
