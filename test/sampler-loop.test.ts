/**
 * The one sampling loop on the built-in tiny model, for every scheduler IPGO accepts: the raw baseline
 * (sampleLatents) and IPGO's forward pass (evaluateObjective) give bit-identical latents for the same
 * conditioning, and IPGO's gradient with DPM-Solver++(2M) (whose steps read the previous step's x̂₀) matches
 * central finite differences of the loss (K = N, so the truncated gradient is the loss's own gradient).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTinyModel } from '../tools/make-tiny-model';
import { fsModelFiles } from '../tools/lib/fs-model-files';
import { loadStableDiffusion } from '../src/model/load-pipeline';
import { disposeStableDiffusion, encodeIds, promptIds, sampleLatents, seededNoise, type StableDiffusion } from '../src/model/pipeline';
import { samplerSteps, type SchedulerName } from '../src/model/schedulers';
import { promptWiseConfig } from '../src/ipgo/config';
import { IPGO_SCHEDULERS } from '../src/ipgo/config-check';
import { conditioningOf, evaluateObjective, type ObjectiveSetup } from '../src/ipgo/objective';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import { PARAM_NAMES, readParams } from '../src/ipgo/params';

let root: string;
let sd: StableDiffusion;
const config = promptWiseConfig(32, { tokens: { numTokens: 2, rank: 3, textDim: 32, bound: 4, rotation: 'intended' }, inferenceSteps: 3, gradLastK: 3, seed: 5 });

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sampler-loop-'));
  makeTinyModel(root);
  sd = await loadStableDiffusion(fsModelFiles(path.join(root, 'tiny-sd')));
});

afterAll(() => {
  disposeStableDiffusion(sd);
  fs.rmSync(root, { recursive: true, force: true });
});

/** The objective's inputs for one prompt; the reward is the image's mean brightness (smooth in the image). */
function setupFor(scheduler: SchedulerName): ObjectiveSetup {
  const ids = promptIds(sd, 'a red fox in the snow');
  return {
    sd, steps: samplerSteps(scheduler, sd.schedulerConfig, config.inferenceSteps),
    promptStates: encodeIds(sd, ids),
    uncond: encodeIds(sd, promptIds(sd, '', ids.length + 2 * config.tokens.numTokens)),
    initNoise: seededNoise([1, 4, 4, sd.latentChannels], 9),
    guidance: 7.5, gradLastK: config.gradLastK, penaltyWeight: 0.1, shape: config.tokens,
    rewards: (image) => ({ brightness: tf.reshape(tf.mean(image), [1]) }),
    weights: { brightness: 1 },
  };
}

const disposeSetup = (s: ObjectiveSetup) => tf.dispose([s.promptStates, s.uncond, s.initNoise]);

it('IPGO’s forward pass and the raw sampler give bit-identical latents at every step, for every IPGO scheduler', async () => {
  const before = tf.memory().numTensors;
  for (const scheduler of IPGO_SCHEDULERS) {
    const setup = setupFor(scheduler);
    const run = freshRun(config);
    const fromObjective: Float32Array[] = [];
    const r = await evaluateObjective(setup, run.params, {
      withGradient: false,
      onStep: async (_i, _n, z) => void fromObjective.push((await z.data()) as Float32Array),
    });
    r.image.dispose();
    const cond = conditioningOf(run.params, setup.promptStates, setup.shape);
    const fromSampler: Float32Array[] = [];
    const latents = await sampleLatents(sd, {
      cond, uncond: setup.uncond, steps: config.inferenceSteps, guidanceScale: setup.guidance, scheduler, initNoise: setup.initNoise,
      onStep: async ({ latents: z }) => void fromSampler.push((await z.data()) as Float32Array),
    });
    expect(fromObjective.length, scheduler).toBe(config.inferenceSteps);
    fromSampler.forEach((z, i) => expect(Array.from(fromObjective[i]!), `${scheduler} step ${i}`).toEqual(Array.from(z)));
    tf.dispose([cond, latents]);
    disposeRun(run);
    disposeSetup(setup);
  }
  expect(tf.memory().numTensors).toBe(before);
});

it('IPGO’s gradient through DPM-Solver++(2M) steps matches central finite differences of the loss (K = N)', async () => {
  const before = tf.memory().numTensors;
  const setup = setupFor('dpmpp-2m');
  const run = freshRun(config);
  const r = await evaluateObjective(setup, run.params, { withGradient: true });
  const host = await readParams(run.params);
  let seed = 11;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  const dir = Object.fromEntries(PARAM_NAMES.map((n) => [n, Float32Array.from(host[n], rand)]));
  let analytic = 0;
  for (const n of PARAM_NAMES) {
    const g = await r.grads![n].data();
    g.forEach((v, i) => (analytic += v * dir[n]![i]!));
  }
  tf.dispose([r.image, ...Object.values(r.grads!)]);
  const lossAt = async (eps: number) => {
    for (const n of PARAM_NAMES) {
      const moved = tf.tensor(host[n].map((v, i) => v + eps * dir[n]![i]!), run.params[n].shape);
      run.params[n].assign(moved);
      moved.dispose();
    }
    const e = await evaluateObjective(setup, run.params, { withGradient: false });
    e.image.dispose();
    return e.loss;
  };
  const eps = 2e-3;
  const numeric = ((await lossAt(eps)) - (await lossAt(-eps))) / (2 * eps);
  console.info(`DPM-Solver++(2M) directional derivative: analytic ${analytic}, central difference ${numeric}`);
  expect(Math.abs(numeric)).toBeGreaterThan(1e-4);
  // 1% is tight enough to fail when the gradient through the history item (the previous x̂₀) is left out
  expect(Math.abs(analytic - numeric)).toBeLessThan(0.01 * Math.abs(numeric));
  disposeRun(run);
  disposeSetup(setup);
  expect(tf.memory().numTensors).toBe(before);
});
