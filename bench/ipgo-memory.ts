/**
 * Peak GPU memory of one IPGO update at SD1.5 shapes, measured by running the app's code on a device that
 * allocates and counts but does not compute (bench/lib/counting-gpu.ts: Dawn's null backend, large buffers shrunk).
 * Run by bench/gpu.ts (its `ipgo` part) in a child process, since a process has one WebGPU device; prints one JSON
 * line {metrics, notes} on stdout.
 *
 * One update: K = 2, the fewest LMS steps that hold the K gradient steps (N = K), VAE decode, one reward, the
 * gradient of the tokens (the optimizer step after it is left out: its tensors are a few KiB, and its
 * orthonormality check reads values this device does not compute); random
 * weights (a fixed pattern: values do not matter here) at the default precision policy, loaded through the app's
 * streaming loader; n = 10 tokens per side, rank 30, 768-d, prompt of 10 tokens. The text encoders are not loaded
 * (they run once per prompt, before the update, and leave the GPU during it). Peaks are the counting device's
 * high-water marks of bytes allocated (tfjs-webgpu's pool included), per phase.
 *
 * BENCH_MEMORY_PLAN=0 runs without the memory plan (no pool release between phases), for comparison.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { promptWiseConfig, type BoundaryShape } from '../src/ipgo/config';
import { evaluateObjective } from '../src/ipgo/objective';
import { createParams, disposeIpgoParams, initHostParams, PARAM_NAMES } from '../src/ipgo/params';
import { Rng } from '../src/ipgo/rng';
import { samplerSteps } from '../src/model/schedulers';
import { type ClipModelConfig, clipBinding } from '../src/model/clip/clip-model';
import { type OpenClipModelCfg, openClipBinding } from '../src/model/clip/openclip-model';
import { PhaseMemory, releaseBufferPool, type UpdatePhase } from '../src/model/gpu-memory';
import { disposeParams } from '../src/model/nn';
import { type ModelBinding, type WeightSource, declaredParams, loadFromSource } from '../src/model/params';
import type { StableDiffusion } from '../src/model/pipeline';
import { DEFAULT_PRECISION } from '../src/model/precision';
import type { UNetConfigJson } from '../src/model/unet/config';
import { unetBinding } from '../src/model/unet/unet';
import { vaeBinding } from '../src/model/vae/autoencoder-kl';
import { aestheticBinding } from '../src/rewards/aesthetic';
import { getReward, type RewardContext, type RewardId, type RewardModels } from '../src/rewards/registry';
import { installCountingGpu } from './lib/counting-gpu';

const MiB = 2 ** 20;
const env = process.env;
const plan = env.BENCH_MEMORY_PLAN !== '0';
const fixtures = path.resolve(env.FIXTURES_DIR ?? '../shared/fixtures');
const shapes = JSON.parse(fs.readFileSync(path.join(fixtures, 'sd15-shapes.json'), 'utf8')) as {
  sd15: { unet: { config_json: UNetConfigJson }; vae: { config_json: Record<string, unknown> }; scheduler_config_json: Record<string, unknown> };
  clip_vit_l14: { config_essentials: ClipModelConfig };
  openclip_vit_h14: { open_clip_model_config: OpenClipModelCfg };
};
const log = (m: string) => process.stderr.write(`${m}\n`);

const tally = await installCountingGpu();
await import('@tensorflow/tfjs-backend-webgpu');
if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs-webgpu did not start on the counting device');
await tf.ready();
if (env.BENCH_POOL === '0') {
  // no pool at all: the tensors' own high-water mark (a lower bound for any pool policy)
  const m = (tf.backend() as unknown as { bufferManager: { releaseBuffer(b: GPUBuffer, reuse?: boolean): void } }).bufferManager;
  const release = m.releaseBuffer.bind(m);
  m.releaseBuffer = (b) => release(b, false);
}

/** Every declared tensor of a binding as a cheap fixed pattern (this device computes nothing). */
function patternSource<T>(b: ModelBinding<T>): WeightSource {
  const specs = declaredParams(b.build).filter((s) => !s.optional);
  return {
    listing: specs.map(({ key, shape }) => ({ key, shape })),
    read: async (key) => {
      const shape = specs.find((s) => s.key === key)!.shape;
      const data = new Float32Array(shape.reduce((a, c) => a * c, 1));
      for (let i = 0; i < data.length; i++) data[i] = ((i % 251) - 125) / 4000;
      return { shape, data };
    },
  };
}
const load = <T>(b: ModelBinding<T>) => loadFromSource(patternSource(b), b.build, b.opts);

const p = DEFAULT_PRECISION;
const resident0 = tally.live;
const unet = await load(unetBinding(shapes.sd15.unet.config_json, { precision: p.unet }));
const vae = await load(vaeBinding(shapes.sd15.vae.config_json, { decoderOnly: true, precision: p.vaeDecoder }));
const sdBytes = tally.live - resident0;
const sd = { unet, vae, schedulerConfig: shapes.sd15.scheduler_config_json, latentChannels: 4, vaeScaleFactor: 8 } as unknown as StableDiffusion;
log(`SD1.5 UNet ${p.unet} + VAE decoder ${p.vaeDecoder}: ${(sdBytes / MiB).toFixed(0)} MiB`);

const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};
const shape: BoundaryShape = { numTokens: 10, rank: 30, textDim: 768, bound: 1, rotation: 'intended' };
const K = 2;

async function rewardModels(reward: RewardId): Promise<{ models: RewardModels; text: RewardContext['text']; dispose(): void }> {
  if (reward === 'aesthetic') {
    const clip = await load(clipBinding(shapes.clip_vit_l14.config_essentials, ['vision'], p.clipVision));
    const aesthetic = await load(aestheticBinding(shapes.clip_vit_l14.config_essentials.projection_dim));
    return { models: { clip, aesthetic }, text: {}, dispose: () => disposeParams([clip, aesthetic]) };
  }
  const hps = await load(openClipBinding(shapes.openclip_vit_h14.open_clip_model_config, ['vision'], p.vitHVision));
  const dim = shapes.openclip_vit_h14.open_clip_model_config.embed_dim;
  const text = { hps: tf.keep(tf.fill([1, dim], 1 / Math.sqrt(dim))) as tf.Tensor2D };
  return { models: { hps }, text, dispose: () => { disposeParams(hps); text.hps.dispose(); } };
}

/** One update at `size`² with `reward`: per-phase peaks in MiB (counting device), total peak. */
async function measure(reward: RewardId, size: number, models: RewardModels, text: RewardContext['text']) {
  const config = promptWiseConfig(768, { tokens: shape, inferenceSteps: K, gradLastK: K });
  const params = createParams(initHostParams(shape, new Rng(0)), shape);
  const rc: RewardContext = { models, text };
  const [promptStates, uncond, noise] = [[1, 10, 768], [1, 30, 768], [1, size / 8, size / 8, 4]].map((s) => tf.keep(tf.fill(s, 0.01)));
  releaseBufferPool();
  tally.resetPeak();
  const phases: Partial<Record<UpdatePhase, number>> = {};
  const r = await evaluateObjective({
    sd, promptStates: promptStates as tf.Tensor3D, uncond: uncond as tf.Tensor3D, initNoise: noise as tf.Tensor4D,
    steps: samplerSteps('lms', sd.schedulerConfig, K), guidance: config.guidance, gradLastK: K, penaltyWeight: config.penaltyWeight,
    shape, rewards: (img, cache) => ({ [reward]: getReward(reward).score(img, rc, cache) }), weights: { [reward]: 1 },
  }, params, {
    withGradient: true,
    memory: plan ? (env.BENCH_DEBUG ? new (class extends PhaseMemory {
      override release() { log(`  release: live ${(tally.live / MiB).toFixed(0)} peak ${(tally.peak / MiB).toFixed(0)}`); super.release(); }
    })() : new PhaseMemory()) : undefined,
    // the counting device's high-water mark since the previous boundary (taken before the plan releases the pool)
    onPhase: (phase) => { phases[phase] = tally.peak / MiB; tally.resetPeak(); },
  });
  tf.dispose([r.image, ...PARAM_NAMES.map((n) => r.grads![n]), promptStates!, uncond!, noise!]);
  disposeIpgoParams(params);
  releaseBufferPool();
  return { phases, peak: Math.max(...Object.values(phases)) };
}

for (const reward of ['aesthetic', 'hps'] as const) {
  const before = tally.live;
  const rm = await rewardModels(reward);
  const rewardBytes = tally.live - before;
  const key = reward === 'aesthetic' ? 'aesthetic' : 'hps';
  for (const size of (env.BENCH_SIZES ?? '256,512').split(',').map(Number)) {
    const t0 = performance.now();
    const m = await measure(reward, size, rm.models, rm.text);
    metrics[`ipgo_peak_gpu_mb_${size}_${key}`] = m.peak;
    for (const [phase, mb] of Object.entries(m.phases)) metrics[`ipgo_peak_gpu_mb_${size}_${key}_${phase}`] = mb;
    log(`${reward} ${size}²: peak ${m.peak.toFixed(0)} MiB (${Object.entries(m.phases).map(([ph, v]) => `${ph} ${v.toFixed(0)}`).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  metrics[`resident_mb_reward_${key}`] = rewardBytes / MiB;
  rm.dispose();
}
metrics.resident_mb_sd15_update = sdBytes / MiB;
notes.ipgo_peak_gpu_mb = `one update (K = ${K}, LMS ${K} steps, CFG 7.5, n = 10, r = 30, L = 10), SD1.5 shapes at ${JSON.stringify(p)}, `
  + `memory plan ${plan ? 'on' : 'off'}; bytes allocated on a counting null device (tfjs-webgpu pool included), weights included; `
  + `${tally.errors} validation errors swallowed (copies from shrunk buffers)`;
process.stdout.write(`${JSON.stringify({ metrics, notes })}\n`);
