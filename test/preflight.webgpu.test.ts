import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptWiseConfig } from '../src/ipgo/config';
import { predictUpdatePeak, updateMemoryShape } from '../src/ipgo/preflight';
import { type IpgoModels, offloadTextTowers, textTowers } from '../src/ipgo/prompt-context';
import { paramsOf } from '../src/model/nn';
import { IpgoTrainer } from '../src/ipgo/trainer';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import { PhaseMemory, allocatedGpuBytes } from '../src/model/gpu-memory';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, encodeIds, promptIds } from '../src/model/pipeline';
import { ClipTokenizer } from '../src/model/tokenizer/clip-tokenizer';
import { disposeRewardModels, loadRewardModels } from '../src/rewards/registry';
import { fsModelFiles, fsRewardSource } from '../tools/lib/fs-model-files';
import { makeTinyModel } from '../tools/make-tiny-model';

/**
 * The preflight's prediction against the peak a real (software) WebGPU device allocates — tfjs-webgpu's
 * numBytesAllocatedInGPU, pool included, read by the memory plan at each phase end — for one tiny-model update
 * at two sizes.
 */
describe('preflight and text-tower offload (tiny model, WebGPU)', () => {
  let root: string;
  let models: IpgoModels;
  beforeAll(async () => {
    expect(tf.getBackend()).toBe('webgpu');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-'));
    makeTinyModel(root);
    const files = fsModelFiles(path.join(root, 'tiny-sd'));
    const sd = await loadStableDiffusion(files, () => {});
    const openClipTokenizer = ClipTokenizer.fromFiles(await files.text('tokenizer/vocab.json'), await files.text('tokenizer/merges.txt'), { variant: 'openclip' });
    models = { sd, rewards: await loadRewardModels(['aesthetic'], fsRewardSource(root)), openClipTokenizer };
  });
  afterAll(() => {
    disposeStableDiffusion(models.sd);
    disposeRewardModels(models.rewards);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('moves the text towers off the GPU for the update and back, unchanged', async () => {
    const encode = () => tf.tidy(() => encodeIds(models.sd, promptIds(models.sd, 'a red fox')));
    const before = encode();
    const tfjsBytes = tf.memory().numBytes;
    const allocated = allocatedGpuBytes()!; // pool included
    const away = await offloadTextTowers(models);
    try {
      expect(away.bytes).toBe(paramsOf(textTowers(models)).reduce((n, t) => n + t.size * 4, 0));
      expect(away.bytes).toBeGreaterThan(0);
      expect(tfjsBytes - tf.memory().numBytes).toBe(away.bytes);
      expect(allocated - allocatedGpuBytes()!).toBeGreaterThanOrEqual(away.bytes); // returned to the GPU
      expect(() => encode()).toThrow(); // its tensors are disposed while away
    } finally {
      away.restore();
    }
    away.restore(); // idempotent
    expect(tf.memory().numBytes).toBe(tfjsBytes);
    const after = encode();
    expect(Array.from(await after.data())).toEqual(Array.from(await before.data()));
    tf.dispose([before, after]);
  });

  for (const size of [64, 128]) {
    it(`predicts the measured peak within 10 % at ${size}×${size}`, async () => {
      const cfg = promptWiseConfig(32, { tokens: { numTokens: 4, rank: 6, textDim: 32, bound: 1, rotation: 'intended' }, inferenceSteps: 2, gradLastK: 2, seed: 1 });
      const trainer = new IpgoTrainer(models, cfg, { scheduler: 'lms', height: size, width: size, noiseSeed: 5 }, { aesthetic: 1 });
      const ctx = trainer.prepare('a watercolor fox');
      const away = await offloadTextTowers(models); // as the studio does for an update
      const run = freshRun(cfg);
      const memory = new PhaseMemory();
      try {
        const r = await trainer.evaluate(run, ctx, true, { memory });
        tf.dispose([r.image, ...Object.values(r.grads!)]);
      } finally {
        disposeRun(run); ctx.dispose(); trainer.dispose(); away.restore();
      }
      const measured = memory.peak!;
      const shape = updateMemoryShape(models, size, size);
      const predicted = predictUpdatePeak(shape).peak;
      console.info(`tiny ${size}²: measured ${measured} B (phases ${JSON.stringify(memory.peaks)}), predicted ${Math.round(predicted)} B`);
      expect(Math.abs(predicted - measured) / measured).toBeLessThan(0.1);
    });
  }
});
