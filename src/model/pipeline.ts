/**
 * Stable Diffusion text-to-image on tfjs, as diffusers' StableDiffusionPipeline computes it:
 * text → embeddings → classifier-free-guided sampling (batch order [uncond, cond]) → latents → VAE → image.
 * Conditioning is any [1, L, D] tensor (IPGO feeds L + 2n tokens), so the sampler never assumes 77.
 * Everything is NHWC; images are in [0, 1].
 */
import * as tf from '@tensorflow/tfjs';
import type { ClipTokenizer } from './tokenizer/clip-tokenizer';
import { clipTextForward, type ClipTextModel } from './clip/text-model';
import type { UNet2DConditionModel } from './unet/unet';
import { latentsToImage01, type AutoencoderKL } from './vae/autoencoder-kl';
import { createScheduler, type Scheduler, type SchedulerConfigJson, type SchedulerName } from './schedulers';
import { disposeParams } from './nn';

export interface StableDiffusion {
  tokenizer: ClipTokenizer;
  textEncoder: ClipTextModel;
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  /** The parsed `scheduler/scheduler_config.json`; each sampler builds its scheduler from it. */
  schedulerConfig: SchedulerConfigJson;
  /** Latent channels and the VAE's spatial factor (8 for SD1.5). */
  latentChannels: number;
  vaeScaleFactor: number;
}

export function disposeStableDiffusion(sd: StableDiffusion): void {
  disposeParams(sd.textEncoder);
  sd.unet.dispose();
  sd.vae.dispose();
}

/** Token ids of a prompt: unpadded ([BOS, …, EOS], true length L) unless `padTo` is given (padded with EOS). */
export function promptIds(sd: StableDiffusion, prompt: string, padTo?: number): number[] {
  if (padTo === undefined) return sd.tokenizer.encode(prompt);
  const ids = sd.tokenizer.encode(prompt, { padding: 'max_length', maxLength: Math.max(padTo, 2) });
  return ids.slice(0, padTo);
}

/** The text encoder's last_hidden_state [1, L, D] for these ids (no gradient is ever needed through it). */
export function encodeIds(sd: StableDiffusion, ids: number[]): tf.Tensor3D {
  return tf.tidy(() => clipTextForward(sd.textEncoder, tf.tensor2d([ids], [1, ids.length], 'int32')).lastHiddenState);
}

/**
 * One classifier-free-guided noise prediction: the UNet on [x, x] with encoder states [uncond, cond], then
 * eps_u + g·(eps_c − eps_u). `scaledLatents` is the scheduler-scaled input [1, h, w, C].
 */
export function guidedNoise(unet: UNet2DConditionModel, scaledLatents: tf.Tensor4D, timestep: number,
  uncond: tf.Tensor3D, cond: tf.Tensor3D, guidanceScale: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (uncond.shape[1] !== cond.shape[1]) {
      throw new Error(`uncond and cond must have the same length for the batched UNet call (got ${uncond.shape[1]} and ${cond.shape[1]})`);
    }
    const out = unet.forward(tf.concat([scaledLatents, scaledLatents], 0), timestep, tf.concat([uncond, cond], 0));
    const [epsU, epsC] = tf.split(out, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
    return tf.add(epsU, tf.mul(tf.sub(epsC, epsU), guidanceScale)) as tf.Tensor4D;
  });
}

/** tfjs takes a seed of 0 as "no seed" (a Math.random stream); shifted, every integer seed ≥ 0 is one fixed stream. */
const TFJS_SEED_OFFSET = 2 ** 32;

/** Standard-normal initial noise [1, h, w, C] (NHWC), the same for the same seed on every run and backend. */
export function seededNoise(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`a noise seed must be a whole number ≥ 0, got ${seed}`);
  return tf.randomNormal(shape, 0, 1, 'float32', seed + TFJS_SEED_OFFSET) as tf.Tensor4D;
}

export interface SampleOptions {
  cond: tf.Tensor3D;
  uncond: tf.Tensor3D;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName;
  /** Unit-normal noise [1, h, w, C] (NHWC); multiplied by the scheduler's init_noise_sigma. */
  initNoise: tf.Tensor4D;
  /** Called after every step with the new latents (valid only during the call). May be async (yield to UI). */
  onStep?: (info: { step: number; total: number; timestep: number; latents: tf.Tensor4D }) => void | Promise<void>;
  /** Checked between steps; when true the sampler stops with an error. */
  isCancelled?: () => boolean;
}

export function makeScheduler(sd: StableDiffusion, name: SchedulerName, steps: number): Scheduler {
  const s = createScheduler(name, sd.schedulerConfig);
  s.setTimesteps(steps);
  return s;
}

/** The denoising loop without gradients; returns the final latents (caller disposes). */
export async function sampleLatents(sd: StableDiffusion, o: SampleOptions): Promise<tf.Tensor4D> {
  validateSampleOptions(sd, o);
  const scheduler = makeScheduler(sd, o.scheduler, o.steps);
  let latents = tf.keep(tf.mul(o.initNoise, scheduler.initNoiseSigma)) as tf.Tensor4D;
  try {
    for (let i = 0; i < scheduler.timesteps.length; i++) {
      if (o.isCancelled?.()) throw new Error('sampling cancelled');
      const t = scheduler.timesteps[i]!;
      const next = tf.tidy(() => {
        const eps = guidedNoise(sd.unet, scheduler.scaleModelInput(latents, t) as tf.Tensor4D, t, o.uncond, o.cond, o.guidanceScale);
        return scheduler.step(eps, t, latents).prevSample as tf.Tensor4D;
      });
      latents.dispose();
      latents = tf.keep(next);
      await o.onStep?.({ step: i, total: scheduler.timesteps.length, timestep: t, latents });
    }
    return latents;
  } catch (e) {
    latents.dispose();
    throw e;
  } finally {
    scheduler.dispose();
  }
}

function validateSampleOptions(sd: StableDiffusion, o: SampleOptions): void {
  const [b, , , c] = o.initNoise.shape;
  if (b !== 1 || c !== sd.latentChannels) {
    throw new Error(`initial noise must be [1, h, w, ${sd.latentChannels}], got [${o.initNoise.shape}]`);
  }
  if (!Number.isInteger(o.steps) || o.steps < 1 || o.steps > 1000) throw new Error(`steps must be an integer in 1..1000, got ${o.steps}`);
  if (!Number.isFinite(o.guidanceScale)) throw new Error(`guidance scale must be a finite number, got ${o.guidanceScale}`);
  const d = sd.textEncoder.config.hidden_size;
  for (const [name, t] of [['cond', o.cond], ['uncond', o.uncond]] as const) {
    if (t.shape[0] !== 1 || t.shape[2] !== d) throw new Error(`${name} must be [1, L, ${d}], got [${t.shape}]`);
  }
}

/** clamp(vae.decode(latents / scaling) / 2 + 0.5, 0, 1), NHWC in [0, 1]. */
export function decodeLatents(sd: StableDiffusion, latents: tf.Tensor4D): tf.Tensor4D {
  return latentsToImage01(sd.vae, latents);
}

export interface Text2ImageOptions {
  prompt: string;
  /** 'unpadded': prompt at its true length L, "" padded to L (the IPGO notebook's baseline);
   *  'max_length': both padded to 77 (diffusers' default). */
  padding: 'unpadded' | 'max_length';
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName;
  height: number;
  width: number;
  seed?: number;
  initNoise?: tf.Tensor4D;
  onStep?: SampleOptions['onStep'];
  isCancelled?: () => boolean;
}

/** Prompt → image [1, H, W, 3] in [0, 1] plus the final latents. The caller disposes both. */
export async function textToImage(sd: StableDiffusion, o: Text2ImageOptions): Promise<{ image: tf.Tensor4D; latents: tf.Tensor4D }> {
  const f = sd.vaeScaleFactor;
  if (o.height % f !== 0 || o.width % f !== 0 || o.height < f || o.width < f) {
    throw new Error(`height and width must be positive multiples of ${f}, got ${o.height}×${o.width}`);
  }
  const max = sd.textEncoder.config.max_position_embeddings;
  const ids = o.padding === 'max_length' ? promptIds(sd, o.prompt, max) : promptIds(sd, o.prompt);
  const cond = encodeIds(sd, ids);
  const uncond = encodeIds(sd, promptIds(sd, '', ids.length));
  const noise = o.initNoise ?? seededNoise([1, o.height / f, o.width / f, sd.latentChannels], o.seed ?? 0);
  try {
    const latents = await sampleLatents(sd, { ...o, cond, uncond, initNoise: noise });
    return { latents, image: decodeLatents(sd, latents) };
  } finally {
    cond.dispose();
    uncond.dispose();
    if (!o.initNoise) noise.dispose();
  }
}
