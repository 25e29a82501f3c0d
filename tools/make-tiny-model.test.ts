import * as tf from '@tensorflow/tfjs';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTinyModel } from './make-tiny-model';
import { fsModelFiles } from './lib/fs-model-files';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, textToImage } from '../src/model/pipeline';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-model-'));
  dirs.push(d);
  return d;
};
const digest = (dir: string, files: string[]) =>
  files.map((f) => `${f} ${crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex')}`);

afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('tools/make-tiny-model', () => {
  it('is deterministic and loads through the real loader into a working pipeline', async () => {
    const a = tmp(), b = tmp();
    const files = makeTinyModel(a);
    expect(digest(b, makeTinyModel(b))).toEqual(digest(a, files));

    const before = tf.memory().numTensors;
    const sd = await loadStableDiffusion(fsModelFiles(path.join(a, 'tiny-sd')));
    const { image, latents } = await textToImage(sd, {
      prompt: 'a red fox in the snow', padding: 'unpadded', steps: 3, guidanceScale: 7.5, scheduler: 'lms', height: 64, width: 64, seed: 1,
    });
    expect(image.shape).toEqual([1, 64, 64, 3]);
    const px = await image.data();
    expect(px.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
    // Random weights still give a non-constant image.
    expect(Math.max(...px) - Math.min(...px)).toBeGreaterThan(0.01);
    tf.dispose([image, latents]);
    disposeStableDiffusion(sd);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
