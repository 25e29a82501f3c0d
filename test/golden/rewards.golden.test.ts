import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nchwToNhwc, nhwcToNchw } from '../../src/model/nn';
import { clipImageEmbeds, clipTextEmbeds } from '../../src/model/clip/clip-model';
import { openClipImageFeatures, openClipTextFeatures } from '../../src/model/clip/openclip-model';
import { clipPixelValues } from '../../src/rewards/preprocess';
import {
  type RewardContext, type RewardId, type RewardModelId, type RewardModels, disposeRewardModels, disposeRewardText,
  encodeRewardText, getReward, l2Normalize, loadRewardModels,
} from '../../src/rewards/registry';
import { sourceFromHost } from '../../src/model/weights';
import { type HostTensor, parseHeader, readHeaderLength } from '../../src/weights/formats/safetensors';
import { GOLDEN_DIR, casesOf, describeGolden, fixturePath, readJson, readSafetensors, relL2, tensorOf } from '../golden';

/**
 * Reward goldens (golden 6g internals): every golden safetensors file holding `<case>.reward_pixel_values` is a
 * source of reward cases (today only ipgo.safetensors). Per case: `<case>.image` (NCHW) → preprocessing → reward,
 * comparing pixel values and embeddings (rel L2 < 1e-4) and the reward (abs < 1e-3·max(1, |ref|)). The reward
 * kind comes from the internals the case stores: `image_embeds_normalized` → aesthetic, `text_embeds` → CLIP
 * score, `image_features` → HPS. Models: tiny-clip (as CLIP ViT-L/14), the real aesthetic head, tiny-hps.
 */
const MODULE_TOL = 1e-4;
const clipDir = fixturePath('tiny-clip');
const hpsDir = fixturePath('tiny-hps');
const aestheticFile = fixturePath('aesthetic', 'sac+logos+ava1-l14-linearMSE.safetensors');
const modelFiles = [path.join(clipDir, 'model.safetensors'), path.join(clipDir, 'config.json'), path.join(hpsDir, 'open_clip_model.safetensors'), path.join(hpsDir, 'open_clip_config.json'), aestheticFile];

function headerKeys(file: string): string[] {
  const fd = fs.openSync(file, 'r');
  try {
    const first = new Uint8Array(8);
    fs.readSync(fd, first, 0, 8, 0);
    const header = new Uint8Array(readHeaderLength(first));
    fs.readSync(fd, header, 0, header.length, 8);
    return parseHeader(header).entries.map((e) => e.name);
  } finally {
    fs.closeSync(fd);
  }
}

const goldenFiles = fs.existsSync(GOLDEN_DIR)
  ? fs.readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.safetensors')).map((f) => path.join(GOLDEN_DIR, f))
    .filter((f) => headerKeys(f).some((k) => k.endsWith('.reward_pixel_values')))
  : [];
if (goldenFiles.length === 0) goldenFiles.push(path.join(GOLDEN_DIR, 'ipgo.safetensors')); // → a clear skip

function kindOf(g: Map<string, HostTensor>, c: string): RewardId {
  if (g.has(`${c}.image_embeds_normalized`)) return 'aesthetic';
  if (g.has(`${c}.text_embeds`)) return 'clip';
  if (g.has(`${c}.image_features`)) return 'hps';
  throw new Error(`cannot tell the reward of case ${c} from its tensors`);
}

const toTensor = (h: HostTensor): tf.Tensor =>
  tf.tensor(h.data as Float32Array | Int32Array, h.shape, h.data instanceof Int32Array ? 'int32' : 'float32');

for (const file of goldenFiles) {
  describeGolden(`rewards (${path.basename(file)}: tiny-clip, tiny-hps, LAION aesthetic head)`, [file, ...modelFiles], () => {
    const g = readSafetensors(file);
    let models: RewardModels;
    let before = 0;

    beforeAll(async () => {
      before = tf.memory().numTensors;
      const host = (f: string) => sourceFromHost(readSafetensors(f));
      models = await loadRewardModels(['aesthetic', 'clip', 'hps'], async (m: RewardModelId) => {
        if (m === 'clip-vit-l14') return { source: host(path.join(clipDir, 'model.safetensors')), config: readJson(path.join(clipDir, 'config.json')) };
        if (m === 'laion-aesthetic') return { source: host(aestheticFile) };
        return { source: host(path.join(hpsDir, 'open_clip_model.safetensors')), config: readJson(path.join(hpsDir, 'open_clip_config.json')) };
      });
    });
    afterAll(() => {
      disposeRewardModels(models);
      expect(tf.memory().numTensors).toBe(before);
    });

    for (const c of casesOf(g, /^(.+)\.reward_pixel_values$/)) {
      it(c, () => {
        const kind = kindOf(g, c);
        const idsOf = (name: string) => toTensor(g.get(`${c}.${name}`) ?? tensorOf(g, `inputs.${name}`)) as tf.Tensor2D;
        const ids = { clip: kind === 'clip' ? idsOf('clip_text_ids') : undefined, hps: kind === 'hps' ? idsOf('hps_text_ids') : undefined };
        const text = encodeRewardText(models, ids);
        const ctx: RewardContext = { models, text };
        const errs: Record<string, number> = {};
        let reward = NaN;
        tf.tidy(() => {
          const image = nchwToNhwc(toTensor(tensorOf(g, `${c}.image`)) as tf.Tensor4D);
          const ref = (name: string) => tensorOf(g, `${c}.${name}`).data as Float32Array;
          const tower = kind === 'hps' ? models.hps!.vision! : models.clip!.vision!;
          const px = clipPixelValues(image, tower.imageSize);
          errs.reward_pixel_values = relL2(nhwcToNchw(px).dataSync(), ref('reward_pixel_values'));
          if (kind === 'hps') {
            errs.image_features = relL2(l2Normalize(openClipImageFeatures(models.hps!, px)).dataSync(), ref('image_features'));
            errs.text_features = relL2(l2Normalize(openClipTextFeatures(models.hps!, ids.hps!)).dataSync(), ref('text_features'));
          } else {
            const embeds = clipImageEmbeds(models.clip!, px);
            errs.image_embeds = relL2(embeds.dataSync(), ref('image_embeds'));
            if (kind === 'aesthetic') errs.image_embeds_normalized = relL2(l2Normalize(embeds).dataSync(), ref('image_embeds_normalized'));
            else errs.text_embeds = relL2(clipTextEmbeds(models.clip!, ids.clip!).dataSync(), ref('text_embeds'));
          }
          reward = getReward(kind).score(image, ctx).dataSync()[0]!;
        });
        disposeRewardText(text);
        tf.dispose([ids.clip, ids.hps].filter((t): t is tf.Tensor2D => t !== undefined));
        const refReward = tensorOf(g, `${c}.reward`).data[0]!;
        const rewardErr = Math.abs(reward - refReward);
        console.log(`reward ${c} (${kind}): reward ${reward.toFixed(6)} vs ${refReward.toFixed(6)} (abs ${rewardErr.toExponential(2)}); rel L2 ` +
          Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', '));
        for (const [k, e] of Object.entries(errs)) expect(e, k).toBeLessThan(MODULE_TOL);
        expect(rewardErr).toBeLessThan(1e-3 * Math.max(1, Math.abs(refReward)));
      });
    }
  });
}
