/**
 * The demo set's independent judge: a small attribute classifier (three stride-2 3×3 convs with ReLU, then one
 * Linear head per attribute) trained by tools/demo/train.py on real scenes only. It is never a reward: it reads
 * what a generated picture shows, so a reward that rises while the judge's accuracy does not is reward hacking.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2d, linear } from '../model/input-grad-ops';
import { disposeParams, type ConvParams, type LinearParams } from '../model/nn';
import type { ModelBinding, ParamSource } from '../model/params';
import { BACKGROUND_NAMES, COLOUR_NAMES, POSITIONS, SCENE_SIZE, SHAPES, SIZES, type SceneAttributes } from './scenes';

const ATTRIBUTE_VALUES = {
  colour: COLOUR_NAMES, shape: SHAPES, position: POSITIONS, size: SIZES, background: BACKGROUND_NAMES,
} as const satisfies { [K in keyof SceneAttributes]: readonly SceneAttributes[K][] };
type Attribute = keyof SceneAttributes;
const ATTRIBUTES = Object.keys(ATTRIBUTE_VALUES) as Attribute[];

/** What a caption's judged reading must get right to count: the drawn object, where it is and its colour. */
export const JUDGED_ATTRIBUTES: readonly Attribute[] = ['colour', 'shape', 'position'];

export interface Judge {
  convs: ConvParams[];
  heads: Record<Attribute, LinearParams>;
}

const WIDTHS = [3, 16, 32, 32];
const FLAT = 32 * (SCENE_SIZE / 8) ** 2;

function buildJudge(src: ParamSource): Judge {
  return {
    convs: [1, 2, 3].map((i) => src.conv(`conv${i}`, WIDTHS[i - 1]!, WIDTHS[i]!, 3, 2, 1)),
    heads: Object.fromEntries(ATTRIBUTES.map((a) => [a, src.linear(`heads.${a}`, FLAT, ATTRIBUTE_VALUES[a].length, true)])) as Judge['heads'],
  };
}

export const judgeBinding: ModelBinding<Judge> = { build: buildJudge, opts: { strict: true } };

export function disposeJudge(j: Judge): void {
  disposeParams(j);
}

/** Images NHWC in [0, 1] at SCENE_SIZE → what the judge reads in each. */
export async function judgeImages(judge: Judge, image01: tf.Tensor4D): Promise<SceneAttributes[]> {
  const [, h, w, c] = image01.shape;
  if (h !== SCENE_SIZE || w !== SCENE_SIZE || c !== 3) throw new Error(`the judge reads ${SCENE_SIZE}×${SCENE_SIZE} RGB images, got ${h}×${w}×${c}`);
  const classes = tf.tidy(() => {
    const x = judge.convs.reduce<tf.Tensor4D>((h0, p) => tf.relu(conv2d(h0, p)), tf.sub(tf.mul(image01, 2), 1));
    const flat = x.reshape([x.shape[0], -1]);
    return ATTRIBUTES.map((a) => tf.argMax(linear(flat, judge.heads[a]), 1));
  });
  const values = await Promise.all(classes.map((t) => t.data()));
  tf.dispose(classes);
  return Array.from({ length: image01.shape[0] }, (_, i) => Object.fromEntries(
    ATTRIBUTES.map((a, k) => [a, ATTRIBUTE_VALUES[a][values[k]![i]!]])) as unknown as SceneAttributes);
}

/** Whether the judge's reading agrees with what the caption asked for, on the judged attributes (or `attributes`). */
export function judgedCorrect(read: SceneAttributes, asked: SceneAttributes, attributes: readonly Attribute[] = JUDGED_ATTRIBUTES): boolean {
  return attributes.every((a) => read[a] === asked[a]);
}

export const ALL_ATTRIBUTES: readonly Attribute[] = ATTRIBUTES;

/** The accuracy a judge reading at random would score: one over the number of judged combinations. */
export function chanceAccuracy(): number {
  return 1 / JUDGED_ATTRIBUTES.reduce((p, a) => p * ATTRIBUTE_VALUES[a].length, 1);
}
