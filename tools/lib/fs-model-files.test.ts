import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFromSource } from '../../src/model/params';
import { disposeParams } from '../../src/model/nn';
import { aestheticBinding, aestheticExpectedKeys } from '../../src/rewards/aesthetic';
import { OrderedDictValue, contiguousTensor, writeTorchCheckpoint } from '../../test/torch-zip-writer';
import { fsRewardModelFiles } from './fs-model-files';

/** The runner's reward folders: whatever weight file the model's needs name, safetensors or a torch checkpoint. */
describe('reward model folders on disk', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reward-folders-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('reads the LAION head from its original torch checkpoint (.pth) through the app\'s loader', async () => {
    const dir = path.join(root, 'aesthetic');
    fs.mkdirSync(dir);
    const values = new Map(aestheticExpectedKeys(768).map((k, i) => [k.key, Float32Array.from({ length: k.shape.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(i + j * 0.37))]));
    const state = new OrderedDictValue(new Map([...values].map(([key, v]) =>
      [key, contiguousTensor('F32', aestheticExpectedKeys(768).find((k) => k.key === key)!.shape, new Uint8Array(v.buffer))])));
    fs.writeFileSync(path.join(dir, 'sac+logos+ava1-l14-linearMSE.pth'), writeTorchCheckpoint(state));
    const files = await fsRewardModelFiles('laion-aesthetic', dir);
    expect(files.config).toBeUndefined();
    expect(files.source.listing.map((k) => k.key).sort()).toEqual([...values.keys()].sort());
    const before = tf.memory().numTensors;
    const head = await loadFromSource(files.source, aestheticBinding().build, aestheticBinding().opts);
    const lastBias = [...values.keys()].filter((k) => k.endsWith('.bias')).at(-1)!;
    expect(Array.from(await head.layers.at(-1)!.b!.data())).toEqual(Array.from(values.get(lastBias)!));
    disposeParams(head);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names the files it looked for when a folder has no weights', async () => {
    const dir = path.join(root, 'empty');
    fs.mkdirSync(dir);
    await expect(fsRewardModelFiles('hpsv2-vit-h14', dir)).rejects.toThrow(/no weights for the hpsv2-vit-h14 model \(looked for open_clip_model.safetensors, HPS_v2_compressed.pt/);
  });
});
