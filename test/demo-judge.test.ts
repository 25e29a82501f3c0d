/**
 * The demo set's judge reads real scenes of held-out captions (never seen in training) as the generator drew
 * them: every attribute, on at least 95% of the images.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ALL_ATTRIBUTES, disposeJudge, judgeImages, judgedCorrect, type Judge } from '../src/demo/judge';
import { captionSplit, sampleScenes, SCENE_SIZE } from '../src/demo/scenes';
import { loadDemoJudge } from './demo-set';

let judge: Judge;
beforeAll(async () => { judge = await loadDemoJudge(); });
afterAll(() => judge && disposeJudge(judge));

it('agrees with the generator on held-out real images (every attribute, ≥ 95%)', async () => {
  const scenes = sampleScenes(captionSplit().heldOut, 400, 99);
  const pixels = new Float32Array(scenes.length * SCENE_SIZE * SCENE_SIZE * 3);
  scenes.forEach((s, i) => s.image.forEach((v, k) => { pixels[i * s.image.length + k] = v / 255; }));
  const before = tf.memory().numTensors;
  const images = tf.tensor4d(pixels, [scenes.length, SCENE_SIZE, SCENE_SIZE, 3]);
  const read = await judgeImages(judge, images);
  images.dispose();
  expect(tf.memory().numTensors).toBe(before);
  const agree = read.filter((r, i) => judgedCorrect(r, scenes[i]!.attributes, ALL_ATTRIBUTES)).length / scenes.length;
  expect(agree).toBeGreaterThanOrEqual(0.95);
});
