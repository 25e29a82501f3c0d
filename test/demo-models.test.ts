/**
 * The committed demo set (public/demo/) loads with the app's loaders and computes what the training side computed:
 * tools/demo/train.py wrote the outputs of its PyTorch text encoder, UNet and VAE decoder (weights rounded through
 * fp16 as committed) on fixed inputs into test/fixtures/demo-reference.safetensors.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clipTextForward } from '../src/model/clip/text-model';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, type StableDiffusion } from '../src/model/pipeline';
import { parseSafetensors } from '../src/weights/formats/safetensors';
import { fsModelFiles } from '../tools/lib/fs-model-files';
import { DEMO_MODEL_DIR } from '../tools/demo/paths';

const REFERENCE = path.resolve('test/fixtures/demo-reference.safetensors');
let sd: StableDiffusion;
let ref: Map<string, { shape: number[]; data: Float32Array | Int32Array }>;

beforeAll(async () => {
  sd = await loadStableDiffusion(fsModelFiles(path.join(DEMO_MODEL_DIR, 'demo-sd')));
  ref = parseSafetensors(new Uint8Array(fs.readFileSync(REFERENCE))) as typeof ref;
});

afterAll(() => sd && disposeStableDiffusion(sd));

const nchwToNhwc = (name: string) => tf.tidy(() => tf.tensor(ref.get(name)!.data, ref.get(name)!.shape).transpose([0, 2, 3, 1]) as tf.Tensor4D);

function maxRelError(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]! / Math.max(1e-6, tf.max(tf.abs(expected)).dataSync()[0]!));
}

it('text encoder, UNet and VAE decoder match the PyTorch side on fixed inputs', () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const ids = ref.get('ids')!;
    const states = clipTextForward(sd.textEncoder, tf.tensor2d(ids.data, ids.shape as [number, number], 'int32')).lastHiddenState;
    expect(maxRelError(states, tf.tensor(ref.get('states')!.data, ref.get('states')!.shape))).toBeLessThan(1e-4);
    const latents = nchwToNhwc('latents');
    const timesteps = tf.tensor1d(ref.get('timesteps')!.data);
    const eps = sd.unet.forward(latents, timesteps, states);
    expect(maxRelError(eps, nchwToNhwc('unet_out'))).toBeLessThan(1e-4);
    expect(maxRelError(sd.vae.decode(latents), nchwToNhwc('vae_out'))).toBeLessThan(1e-4);
  });
  expect(tf.memory().numTensors).toBe(before);
});
