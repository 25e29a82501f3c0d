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
import { samplerSteps, type SamplerSteps, type SchedulerConfigJson, type SchedulerName } from './schedulers';
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

export class SamplingCancelled extends Error {
  override name = 'Cancelled';
  constructor() {
    super('sampling cancelled');
  }
}

export interface DenoiseOptions {
  steps: SamplerSteps;
  /** Unit-normal noise [1, h, w, C]; multiplied by the scheduler's init_noise_sigma. */
  initNoise: tf.Tensor4D;
  /** The noise prediction for step i's scaled latents (e.g. the guided UNet). */
  predictNoise: (scaledLatents: tf.Tensor4D, timestep: number) => tf.Tensor4D;
  /** Keep step i's input latents and noise prediction for the caller (IPGO's backward pass replays those steps). */
  keepInputs?: (i: number) => boolean;
  onStep?: (step: number, total: number, timestep: number, latents: tf.Tensor4D) => void | Promise<void>;
  /** Checked before each step; when true the loop stops with SamplingCancelled. */
  isCancelled?: () => boolean;
}

/** What the loop leaves to the caller, who disposes every tensor in it. */
export interface DenoiseRecord {
  latents: tf.Tensor4D;
  /** z_i and ε_i of the steps `keepInputs` selected (sparse arrays). */
  inputs: tf.Tensor4D[];
  noises: tf.Tensor4D[];
  /** Each step's history item (null where the step adds none). */
  items: (tf.Tensor | null)[];
}

/**
 * The sampling loop shared by every sampler in the app (raw baseline, previews, IPGO's forward pass): for each step,
 * ε_i = predictNoise(scale(z_i)), then z_{i+1}, item_i = step_i(z_i, ε_i, items so far). Every step's item is kept
 * (the backward pass replays steps with theirs); z_i and ε_i only where `keepInputs` asks.
 */
export async function denoise(o: DenoiseOptions): Promise<DenoiseRecord> {
  const { steps } = o;
  const n = steps.timesteps.length;
  const record: DenoiseRecord = { latents: tf.keep(tf.mul(o.initNoise, steps.initNoiseSigma)) as tf.Tensor4D, inputs: [], noises: [], items: [] };
  const history: tf.Tensor[] = [];
  try {
    for (let i = 0; i < n; i++) {
      if (o.isCancelled?.()) throw new SamplingCancelled();
      const t = steps.timesteps[i]!;
      const z = record.latents;
      const eps = tf.keep(tf.tidy(() => o.predictNoise(steps.scale(i, z) as tf.Tensor4D, t)));
      let result;
      try {
        result = steps.step(i, z, eps, history);
      } catch (e) {
        eps.dispose();
        throw e;
      }
      record.items.push(result.item ? tf.keep(result.item) : null);
      if (result.item) history.push(result.item);
      if (o.keepInputs?.(i)) {
        record.inputs[i] = z;
        record.noises[i] = eps;
      } else {
        z.dispose();
        eps.dispose();
      }
      record.latents = tf.keep(result.next as tf.Tensor4D);
      await o.onStep?.(i, n, t, record.latents);
    }
    return record;
  } catch (e) {
    disposeRecord(record);
    throw e;
  }
}

export function disposeRecord(r: DenoiseRecord): void {
  tf.dispose([r.latents, ...r.inputs.filter(Boolean), ...r.noises.filter(Boolean), ...r.items.filter((x): x is tf.Tensor => x !== null)]);
}

/** The denoising loop with classifier-free guidance; returns the final latents (caller disposes). */
export async function sampleLatents(sd: StableDiffusion, o: SampleOptions): Promise<tf.Tensor4D> {
  validateSampleOptions(sd, o);
  const record = await denoise({
    steps: samplerSteps(o.scheduler, sd.schedulerConfig, o.steps),
    initNoise: o.initNoise,
    predictNoise: (scaled, t) => guidedNoise(sd.unet, scaled, t, o.uncond, o.cond, o.guidanceScale),
    isCancelled: o.isCancelled,
    onStep: (step, total, timestep, latents) => o.onStep?.({ step, total, timestep, latents }),
  });
  tf.dispose(record.items.filter((x): x is tf.Tensor => x !== null));
  return record.latents;
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
