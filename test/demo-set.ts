/** The committed demo model set loaded for Node tests and benchmarks (public/demo/). */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { judgeBinding, judgeImages, judgedCorrect, type Judge } from '../src/demo/judge';
import { parseCaption } from '../src/demo/scenes';
import { MODEL_SETS } from '../src/ipgo/model-sets';
import type { RgbaImage } from '../src/ipgo/rgba-image';
import { ipgoConfigOf, samplingOf, type TuneSettings } from '../src/ipgo/settings';
import { IpgoTrainer } from '../src/ipgo/trainer';
import { loadFromSource } from '../src/model/params';
import { safetensorsFileSource } from '../tools/lib/fs-model-files';
import { loadIpgoModels } from '../tools/lib/ipgo-models';
import type { LoadedModelSet } from '../src/ipgo/model-set';
import type { RewardMix } from '../src/rewards/registry';
import { DEMO_MODEL_DIR } from '../tools/demo/paths';

export function loadDemoJudge(): Promise<Judge> {
  return loadFromSource(safetensorsFileSource(path.join(DEMO_MODEL_DIR, 'demo-judge/model.safetensors')), judgeBinding.build, judgeBinding.opts);
}

/** The demo SD model and the demo reward towers a mix needs. */
export function loadDemoModels(mix: RewardMix): Promise<LoadedModelSet> {
  return loadIpgoModels(path.join(DEMO_MODEL_DIR, 'demo-sd'), {
    'clip-vit-l14': path.join(DEMO_MODEL_DIR, 'demo-clip'), 'laion-aesthetic': path.join(DEMO_MODEL_DIR, 'demo-aesthetic'),
  }, mix);
}

/** The demo model set's default tune settings (src/ipgo/model-sets.ts). */
export function demoDefaults(): TuneSettings {
  const set = MODEL_SETS.find((s) => s.id === 'demo');
  if (!set) throw new Error('no demo model set in src/ipgo/model-sets.ts');
  return structuredClone(set.defaults);
}

/** RGBA images (from the trainer) → [B, H, W, 3] in [0, 1]. */
export function rgbaToTensor(images: RgbaImage[]): tf.Tensor4D {
  const { width, height } = images[0]!;
  const out = new Float32Array(images.length * width * height * 3);
  images.forEach((img, b) => {
    for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) out[(b * width * height + p) * 3 + c] = img.data[p * 4 + c]! / 255;
  });
  return tf.tensor4d(out, [images.length, height, width, 3]);
}

/** For each of `images`, whether the judge reads it as its caption says (colour, shape and position). */
export async function judgedRight(judge: Judge, images: RgbaImage[], captions: string[]): Promise<boolean[]> {
  const batch = rgbaToTensor(images);
  const read = await judgeImages(judge, batch);
  batch.dispose();
  return read.map((r, i) => {
    const asked = parseCaption(captions[i]!);
    if (!asked) throw new Error(`not a demo caption: "${captions[i]}"`);
    return judgedCorrect(r, asked);
  });
}

/** The share of `images` the judge reads as their captions say. */
export async function judgedShare(judge: Judge, images: RgbaImage[], captions: string[]): Promise<number> {
  return (await judgedRight(judge, images, captions)).filter(Boolean).length / images.length;
}

/** The base (raw) image of each caption, in order, with the trainer's pipeline and noise. */
export async function rawImages(trainer: IpgoTrainer, captions: string[]): Promise<RgbaImage[]> {
  const images: RgbaImage[] = [];
  for (const c of captions) {
    const ctx = trainer.prepare(c);
    try {
      images.push((await trainer.raw(ctx)).image);
    } finally {
      ctx.dispose();
    }
  }
  return images;
}

/** A trainer at the demo defaults, optimising `mix`, with the settings' overrides. */
export function demoTrainer(set: LoadedModelSet, mix: RewardMix, overrides: Partial<TuneSettings> = {}): IpgoTrainer {
  const s = { ...demoDefaults(), ...overrides, mix };
  return new IpgoTrainer(set.models, ipgoConfigOf(s, 32, 'prompt'), samplingOf(s), mix);
}
