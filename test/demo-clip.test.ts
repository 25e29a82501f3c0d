/**
 * The demo set's CLIP score sees what the judge checks: on real scenes of held-out captions it scores each scene's
 * own caption above the same caption with another shape, colour or position. Shape is the attribute a CLIP
 * trained on random batches alone never learned, so a reward that cannot see it could not fix a blob drawn for a
 * square; the bar is on every attribute, shape included.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { captionSplit, caption, COLOUR_NAMES, POSITIONS, sampleScenes, SCENE_SIZE, SHAPES, type SceneAttributes } from '../src/demo/scenes';
import { preparePrompt, type PromptContext } from '../src/ipgo/prompt-context';
import type { LoadedModelSet } from '../src/ipgo/model-set';
import { clipScoreReward } from '../src/rewards/clip-score';
import { loadDemoModels } from './demo-set';

const MIX = { clip: 1 };
/** The judged attributes and the words the caption grammar has for each. */
const SWAPS = { shape: SHAPES, colour: COLOUR_NAMES, position: POSITIONS } as const;
type Swapped = keyof typeof SWAPS;

let set: LoadedModelSet;
beforeAll(async () => { set = await loadDemoModels(MIX); });
afterAll(() => set?.dispose());

/** CLIP score of each image with one caption ([B] numbers). */
function clipScores(images: tf.Tensor4D, text: string): number[] {
  const ctx: PromptContext = preparePrompt(set.models, text, 0, MIX);
  try {
    return tf.tidy(() => clipScoreReward.score(images, { models: set.models.rewards, text: ctx.text }).arraySync() as number[]);
  } finally {
    ctx.dispose();
  }
}

/** For each attribute, the share of scenes whose own caption outscores every caption that swaps that attribute alone. */
function zeroShotAccuracy(scenes: { attributes: SceneAttributes; image: Uint8Array }[]): Record<Swapped, number> {
  const right: Record<Swapped, number> = { shape: 0, colour: 0, position: 0 };
  for (const s of scenes) {
    const images = tf.tensor4d(Float32Array.from(s.image, (v) => v / 255), [1, SCENE_SIZE, SCENE_SIZE, 3]);
    const own = clipScores(images, caption(s.attributes))[0]!;
    for (const attr of Object.keys(SWAPS) as Swapped[]) {
      const others = SWAPS[attr].filter((w) => w !== s.attributes[attr])
        .map((w) => clipScores(images, caption({ ...s.attributes, [attr]: w }))[0]!);
      if (others.every((o) => own > o)) right[attr]++;
    }
    images.dispose();
  }
  return Object.fromEntries(Object.entries(right).map(([k, n]) => [k, n / scenes.length])) as Record<Swapped, number>;
}

it('scores real held-out scenes highest with their own caption: shape, colour and position each ≥ 80%', () => {
  const scenes = sampleScenes(captionSplit().heldOut, 60, 5);
  const before = tf.memory().numTensors;
  const accuracy = zeroShotAccuracy(scenes);
  expect(tf.memory().numTensors).toBe(before);
  for (const attr of Object.keys(SWAPS) as Swapped[]) expect(accuracy[attr], attr).toBeGreaterThanOrEqual(0.8);
});
