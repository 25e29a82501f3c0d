/**
 * Golden 6f: the full tiny txt2img loop (LMS, CFG) against diffusers. Modes (`unpadded`, `padded77`, …) are
 * discovered from the tensor names; each mode is one case. Per-step latents and the final image: rel L2 < 1e-3.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import fs from 'node:fs';
import { describeGolden, fixturePath, goldenPath, readJson, readSafetensors, relL2, tensorOf, casesOf } from '../golden';
import { loadStableDiffusion } from '../../src/model/load-pipeline';
import { decodeLatents, disposeStableDiffusion, encodeIds, promptIds as tokenize, sampleLatents, type StableDiffusion } from '../../src/model/pipeline';
import { nchwToNhwc, nhwcToNchw } from '../../src/model/nn';
import { fsModelFiles } from '../../tools/lib/fs-model-files';

const GOLDEN = goldenPath('pipeline.safetensors');
const MODEL = fixturePath('tiny-sd');

describeGolden('txt2img pipeline (6f)', [GOLDEN, MODEL], () => {
  const g = readSafetensors(GOLDEN);
  const indexFile = goldenPath('index.json');
  const index = fs.existsSync(indexFile) ? readJson<{ pipeline?: { prompt: string; guidance: number } }>(indexFile) : {};
  let sd: StableDiffusion;
  beforeAll(async () => {
    sd = await loadStableDiffusion(fsModelFiles(MODEL));
  });
  afterAll(() => disposeStableDiffusion(sd));

  for (const mode of casesOf(g, /^([^.]+)\.final_latents$/)) {
    it(`${mode}: ids, embeddings, per-step latents and image`, async () => {
      const before = tf.memory().numTensors;
      const ids = (k: string) => [...tensorOf(g, `${mode}.${k}`).data];
      const asNhwc = (k: string) => {
        const t = tensorOf(g, k);
        return tf.tidy(() => nchwToNhwc(tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number])));
      };
      const promptIds = ids('prompt_ids');
      if (index.pipeline?.prompt !== undefined) {
        const padTo = promptIds.length === sd.textEncoder.config.max_position_embeddings ? promptIds.length : undefined;
        expect(tokenize(sd, index.pipeline.prompt, padTo)).toEqual(promptIds);
        expect(tokenize(sd, '', promptIds.length)).toEqual(ids('uncond_ids'));
      }
      const guidance = index.pipeline?.guidance ?? 7.5;
      const cond = encodeIds(sd, promptIds);
      const uncond = encodeIds(sd, ids('uncond_ids'));
      expect(relL2(await cond.data(), tensorOf(g, `${mode}.prompt_embeds`).data as Float32Array)).toBeLessThan(1e-4);
      expect(relL2(await uncond.data(), tensorOf(g, `${mode}.uncond_embeds`).data as Float32Array)).toBeLessThan(1e-4);
      const steps = tensorOf(g, `${mode}.timesteps`).shape[0]!;
      const noise = asNhwc(g.has(`${mode}.init_noise`) ? `${mode}.init_noise` : 'init_noise');
      const errors: number[] = [];
      const latents = await sampleLatents(sd, {
        cond, uncond, steps, guidanceScale: guidance, scheduler: 'lms', initNoise: noise,
        onStep: async ({ step, latents: l }) => {
          const got = tf.tidy(() => nhwcToNchw(l));
          errors.push(relL2(await got.data(), tensorOf(g, `${mode}.step${step}.latents`).data as Float32Array));
          got.dispose();
        },
      });
      const image = decodeLatents(sd, latents);
      const imageNchw = tf.tidy(() => nhwcToNchw(image));
      const imageErr = relL2(await imageNchw.data(), tensorOf(g, `${mode}.image`).data as Float32Array);
      tf.dispose([cond, uncond, noise, latents, image, imageNchw]);
      expect(errors.length).toBe(steps);
      expect(Math.max(...errors), `per-step latents rel L2 ${errors.map((e) => e.toExponential(1)).join(' ')}`).toBeLessThan(1e-3);
      expect(imageErr).toBeLessThan(1e-3);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
