/**
 * Golden 6g end to end: boundary tokens → LMS sampling with gradients through the last K UNet calls → VAE →
 * reward, against the reference (tiny-sd, tiny-clip, tiny-hps, the real aesthetic head). One test per case of
 * ipgo.json (reward, K, rotation): forward latents/image (rel L2 < 1e-3), reward/penalty/loss
 * (abs < 1e-3·max(1,|ref|)) and the parameter gradients (rel L2 < 1e-3).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGolden, fixturePath, goldenPath, readJson, readSafetensors, relL2, tensorOf } from '../golden';
import { loadStableDiffusion } from '../../src/model/load-pipeline';
import { disposeStableDiffusion, encodeIds, type StableDiffusion } from '../../src/model/pipeline';
import { nchwToNhwc, nhwcToNchw } from '../../src/model/nn';
import { disposeRewardModels, disposeRewardText, encodeRewardText, getReward, loadRewardModels, type RewardContext, type RewardId, type RewardModelId, type RewardModels } from '../../src/rewards/registry';
import { evaluateObjective } from '../../src/ipgo/objective';
import { samplerSteps } from '../../src/model/schedulers';
import { PARAM_NAMES } from '../../src/ipgo/params';
import type { BoundaryShape } from '../../src/ipgo/config';
import { fsModelFiles, safetensorsFileSource } from '../../tools/lib/fs-model-files';
import fs from 'node:fs';

interface IpgoCase { name: string; reward_model: RewardId; grad_last_k: number; rotate: boolean; reward: number; penalty: number; loss: number }
interface IpgoJson { steps: number; guidance: number; bound: number; penalty_weight: number; cases: IpgoCase[] }

const GOLDEN = goldenPath('ipgo.safetensors');
const JSON_FILE = goldenPath('ipgo.json');
const SD = fixturePath('tiny-sd');
const MODEL_DIRS: Record<RewardModelId, { dir: string; weights: string; config?: string }> = {
  'clip-vit-l14': { dir: fixturePath('tiny-clip'), weights: 'model.safetensors', config: 'config.json' },
  'hpsv2-vit-h14': { dir: fixturePath('tiny-hps'), weights: 'open_clip_model.safetensors', config: 'open_clip_config.json' },
  'laion-aesthetic': { dir: fixturePath('aesthetic'), weights: 'sac+logos+ava1-l14-linearMSE.safetensors' },
};

const close = (got: number, ref: number) => Math.abs(got - ref) < 1e-3 * Math.max(1, Math.abs(ref));

describeGolden('IPGO objective and gradients (6g)', [GOLDEN, JSON_FILE, SD, ...Object.values(MODEL_DIRS).map((m) => m.dir)], () => {
  const g = readSafetensors(GOLDEN);
  const cfg = readJson<IpgoJson>(JSON_FILE);
  let sd: StableDiffusion;
  let models: RewardModels;
  beforeAll(async () => {
    sd = await loadStableDiffusion(fsModelFiles(SD));
    models = await loadRewardModels(['aesthetic', 'clip', 'hps'], async (m) => {
      const { dir, weights, config } = MODEL_DIRS[m];
      return {
        source: safetensorsFileSource(`${dir}/${weights}`),
        config: config ? JSON.parse(fs.readFileSync(`${dir}/${config}`, 'utf8')) : undefined,
      };
    });
  });
  afterAll(() => {
    disposeStableDiffusion(sd);
    disposeRewardModels(models);
  });

  const host = (key: string) => tensorOf(g, key);
  const tensor = (key: string) => tf.tensor(host(key).data as Float32Array, host(key).shape);

  for (const c of cfg.cases.filter((x) => g.has(`${x.name}.grad.x_prefix`))) {
    it(`${c.name}: reward ${c.reward_model}, K=${c.grad_last_k}, rotation ${c.rotate ? 'intended' : 'off'}`, async () => {
      const before = tf.memory().numTensors;
      const [n, cols] = host('inputs.x_prefix').shape as [number, number];
      const d = host('inputs.W_prefix').shape[0]!;
      const shape: BoundaryShape = { numTokens: n, rank: (cols - 2) / n, textDim: d, bound: cfg.bound, rotation: c.rotate ? 'intended' : 'off' };
      const promptIds = [...host('inputs.prompt_ids').data];
      const promptStates = encodeIds(sd, promptIds);
      const uncond = encodeIds(sd, [...host(`${c.name}.uncond_ids`).data]);
      const initNoise = tf.tidy(() => nchwToNhwc(tensor('inputs.init_noise') as tf.Tensor4D));
      const params = Object.fromEntries(PARAM_NAMES.map((name) => [name, tensor(`inputs.${name}`)])) as Record<(typeof PARAM_NAMES)[number], tf.Tensor>;
      const ids = {
        clip: tf.tensor2d([[...host('inputs.clip_text_ids').data]], undefined, 'int32'),
        hps: tf.tensor2d([[...host('inputs.hps_text_ids').data]], undefined, 'int32'),
      };
      const text = encodeRewardText(models, ids);
      tf.dispose([ids.clip, ids.hps]);
      const ctx: RewardContext = { models, text };
      const steps = samplerSteps('lms', sd.schedulerConfig, cfg.steps);
      const latentErr: number[] = [];
      const r = await evaluateObjective({
        sd, promptStates, uncond, initNoise, steps, guidance: cfg.guidance, gradLastK: c.grad_last_k,
        penaltyWeight: cfg.penalty_weight, shape, weights: { [c.reward_model]: 1 },
        rewards: (image, cache) => ({ [c.reward_model]: getReward(c.reward_model).score(image, ctx, cache) }),
      }, params, {
        withGradient: true,
        onStep: async (i, _n, z) => {
          const key = `${c.name}.step${i}.latents`;
          if (!g.has(key)) return;
          const got = tf.tidy(() => nhwcToNchw(z));
          latentErr.push(relL2(await got.data(), host(key).data as Float32Array));
          got.dispose();
        },
      });
      const img = tf.tidy(() => nhwcToNchw(r.image));
      const imageErr = relL2(await img.data(), host(`${c.name}.image`).data as Float32Array);
      const gradErr: Record<string, number> = {};
      for (const name of PARAM_NAMES) gradErr[name] = relL2(await r.grads![name].data(), host(`${c.name}.grad.${name}`).data as Float32Array);
      tf.dispose([promptStates, uncond, initNoise, img, r.image, ...Object.values(params), ...Object.values(r.grads!)]);
      disposeRewardText(text);

      expect(Math.max(...latentErr), `latents ${latentErr.map((e) => e.toExponential(1))}`).toBeLessThan(1e-3);
      expect(imageErr).toBeLessThan(1e-3);
      expect(close(r.rewards[c.reward_model]!, c.reward), `reward ${r.rewards[c.reward_model]} vs ${c.reward}`).toBe(true);
      expect(close(r.penalty, c.penalty), `penalty ${r.penalty} vs ${c.penalty}`).toBe(true);
      expect(close(r.loss, c.loss), `loss ${r.loss} vs ${c.loss}`).toBe(true);
      for (const name of PARAM_NAMES) {
        expect(gradErr[name], `grad ${name} rel L2 ${gradErr[name]}`).toBeLessThan(1e-3);
      }
      expect(tf.memory().numTensors).toBe(before);
      console.info(`${c.name}: image ${imageErr.toExponential(2)}, grads ${Object.entries(gradErr).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
    });
  }
});
