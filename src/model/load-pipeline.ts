/**
 * Builds a StableDiffusion from a diffusers folder layout through an abstract file reader, so the same code
 * loads from the filesystem (Node tools and tests), a static URL (the built-in model) or IndexedDB (installed
 * models). Weight file names follow diffusers: the first of `*.safetensors` / `*.fp16.safetensors` present.
 */
import { loadFromSource, type ModelBinding, type WeightSource } from './params';
import { ClipTokenizer } from './tokenizer/clip-tokenizer';
import { clipTextBinding, type ClipTextConfig, type ClipTextModel } from './clip/text-model';
import { type UNet2DConditionModel, unetBinding } from './unet/unet';
import type { UNetConfigJson } from './unet/config';
import { type AutoencoderKL, vaeBinding } from './vae/autoencoder-kl';
import type { SchedulerConfigJson } from './schedulers/config';
import { disposeParams } from './nn';
import type { VaeConfigJson } from './vae/config';
import type { StableDiffusion } from './pipeline';
import type { PrecisionPolicy } from './precision';

export interface ModelFiles {
  /** A text file's contents; rejects with a message naming the path when absent. */
  text(path: string): Promise<string>;
  /** Whether a file exists. */
  has(path: string): Promise<boolean>;
  /** A weight file, read one tensor at a time by the loader. */
  weights(path: string): Promise<WeightSource>;
}

export const WEIGHT_FILE_CANDIDATES: Record<'text_encoder' | 'unet' | 'vae', string[]> = {
  text_encoder: ['text_encoder/model.safetensors', 'text_encoder/model.fp16.safetensors'],
  unet: ['unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors'],
  vae: ['vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors'],
};

async function firstPresent(files: ModelFiles, candidates: string[]): Promise<string> {
  for (const c of candidates) if (await files.has(c)) return c;
  throw new Error(`none of ${candidates.join(', ')} is present in the model folder`);
}

const json = async <T>(files: ModelFiles, path: string): Promise<T> => {
  const text = await files.text(path);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
};

/** One component as the loader binds it: the weight file it reads and its config's binding. */
export interface ComponentPlan<T> {
  path: string;
  binding: ModelBinding<T>;
}

/** Everything loadStableDiffusion binds, read from the folder's configs before any weight is touched. */
export interface StableDiffusionPlan {
  schedulerConfig: SchedulerConfigJson;
  textEncoder: ComponentPlan<ClipTextModel>;
  unet: ComponentPlan<UNet2DConditionModel>;
  vae: ComponentPlan<AutoencoderKL>;
  latentChannels: number;
  vaeScaleFactor: number;
}

/** The configs and weight files of a diffusers SD folder, bound at `precision` (also what check:real-models dry-binds). */
export async function stableDiffusionPlan(files: ModelFiles, precision: Partial<PrecisionPolicy> = {}): Promise<StableDiffusionPlan> {
  const schedulerConfig = await json<SchedulerConfigJson>(files, 'scheduler/scheduler_config.json');
  const teConfig = await json<ClipTextConfig>(files, 'text_encoder/config.json');
  const unetConfig = await json<UNetConfigJson>(files, 'unet/config.json');
  const vaeConfig = await json<VaeConfigJson>(files, 'vae/config.json');
  const plan = async <T>(component: keyof typeof WEIGHT_FILE_CANDIDATES, binding: ModelBinding<T>): Promise<ComponentPlan<T>> =>
    ({ path: await firstPresent(files, WEIGHT_FILE_CANDIDATES[component]), binding });
  return {
    schedulerConfig,
    textEncoder: await plan('text_encoder', clipTextBinding(teConfig, precision.textEncoder)),
    unet: await plan('unet', unetBinding(unetConfig, { precision: precision.unet })),
    vae: await plan('vae', vaeBinding(vaeConfig, { decoderOnly: true, precision: precision.vaeDecoder })),
    latentChannels: (unetConfig as { in_channels?: number }).in_channels ?? 4,
    vaeScaleFactor: 2 ** (((vaeConfig as { block_out_channels?: number[] }).block_out_channels?.length ?? 4) - 1),
  };
}

/** Builds one module from its weight file, streamed tensor by tensor onto the device. */
async function withWeights<T>(files: ModelFiles, { path, binding }: ComponentPlan<T>): Promise<T> {
  try {
    return await loadFromSource(await files.weights(path), binding.build, binding.opts);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/**
 * `precision`: what the device holds for each component's Linear / Conv2d weights (precision.ts); float32 where
 * not given.
 */
export async function loadStableDiffusion(files: ModelFiles, onProgress: (stage: string) => void = () => {}, precision: Partial<PrecisionPolicy> = {}): Promise<StableDiffusion> {
  onProgress('tokenizer');
  const tokenizer = ClipTokenizer.fromFiles(await files.text('tokenizer/vocab.json'), await files.text('tokenizer/merges.txt'));
  const plan = await stableDiffusionPlan(files, precision);
  onProgress('text encoder');
  const textEncoder = await withWeights(files, plan.textEncoder);
  try {
    onProgress('unet');
    const unet = await withWeights(files, plan.unet);
    try {
      onProgress('vae');
      const vae = await withWeights(files, plan.vae);
      return { tokenizer, textEncoder, unet, vae, schedulerConfig: plan.schedulerConfig, latentChannels: plan.latentChannels, vaeScaleFactor: plan.vaeScaleFactor };
    } catch (e) {
      unet.dispose();
      throw e;
    }
  } catch (e) {
    disposeParams(textEncoder);
    throw e;
  }
}
