/**
 * The committed demo set draws what it is told and IPGO improves it (nothing is trained here):
 * (a) at the demo defaults, the judge reads the base images of a fixed caption set (every held-out caption,
 *     seed 0) as their captions say (colour, shape and position) at least half the time (chance is 1/72);
 * (b) 5 IPGO epochs with the CLIP score on two fixed held-out prompts raise the CLIP score over the raw image's;
 * (d) the untrained boundary tokens keep the base picture: with them around the prompt the judge reads the images
 *     right nearly as often as without (tuning starts from the prompt's own picture, as on real SD).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { disposeJudge, type Judge } from '../src/demo/judge';
import { caption, captionSplit } from '../src/demo/scenes';
import type { LoadedModelSet } from '../src/ipgo/model-set';
import type { RgbaImage } from '../src/ipgo/rgba-image';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import { demoTrainer, judgedShare, loadDemoJudge, loadDemoModels, rawImages } from './demo-set';

const CAPTIONS = captionSplit().heldOut.map(caption);
let set: LoadedModelSet;
let judge: Judge;
let base: Promise<RgbaImage[]> | undefined;

/** The base images of CAPTIONS at the demo defaults, sampled once for the tests that judge them. */
function baseImages(): Promise<RgbaImage[]> {
  base ??= (async () => {
    const trainer = demoTrainer(set, { clip: 1 });
    try {
      return await rawImages(trainer, CAPTIONS);
    } finally {
      trainer.dispose();
    }
  })();
  return base;
}

beforeAll(async () => {
  set = await loadDemoModels({ clip: 1 });
  judge = await loadDemoJudge();
});

afterAll(() => {
  set?.dispose();
  if (judge) disposeJudge(judge);
});

it('(a) the judge reads at least half the base images as their captions say', async () => {
  const before = tf.memory().numTensors;
  const images = await baseImages();
  expect(tf.memory().numTensors).toBe(before);
  expect(await judgedShare(judge, images, CAPTIONS)).toBeGreaterThanOrEqual(0.5);
});

it('(b) 5 IPGO epochs raise the CLIP score on two fixed prompts', async () => {
  const before = tf.memory().numTensors;
  const trainer = demoTrainer(set, { clip: 1 }, { epochs: 5 });
  for (const prompt of CAPTIONS.slice(0, 2)) {
    const ctx = trainer.prepare(prompt);
    const run = freshRun(trainer.config);
    const raw = await trainer.raw(ctx);
    await trainer.trainPrompt(run, ctx);
    const tuned = await trainer.tuned(run, ctx);
    disposeRun(run);
    ctx.dispose();
    expect(tuned.rewards.clip, prompt).toBeGreaterThan(raw.rewards.clip!);
  }
  trainer.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('(d) the initial tokens keep what the base images get right', async () => {
  const before = tf.memory().numTensors;
  const raw = await baseImages();
  const trainer = demoTrainer(set, { clip: 1 });
  const initial = [];
  for (const prompt of CAPTIONS) {
    const ctx = trainer.prepare(prompt);
    const run = freshRun(trainer.config);
    initial.push((await trainer.tuned(run, ctx)).image);
    disposeRun(run);
    ctx.dispose();
  }
  trainer.dispose();
  expect(tf.memory().numTensors).toBe(before);
  const rawShare = await judgedShare(judge, raw, CAPTIONS);
  const initialShare = await judgedShare(judge, initial, CAPTIONS);
  console.log(`judge accuracy: base ${rawShare.toFixed(3)}, with the initial tokens ${initialShare.toFixed(3)}`);
  expect(initialShare).toBeGreaterThanOrEqual(rawShare - 0.1);
});
