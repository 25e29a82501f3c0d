/**
 * The preflight: one IPGO update's peak GPU memory predicted before a run, compared with the user's GPU budget.
 *
 * The update runs in three phases (objective.ts, with the memory plan of model/gpu-memory.ts): sampling (guided
 * UNet calls, batch 2, no tape), reward (the rewards' vjp, then the VAE decoder's vjp one stage at a time) and
 * backward (batch-1 UNet vjps). Each phase's activations grow with the model's widths and the size:
 *   sampling  S · (2 · latent pixels · UNet width · 4 B)       the batch-2 activation at the UNet's first level
 *   backward  B · (latent pixels · UNet width · 4 B)           the same at batch 1
 *   reward    R · (image pixels · VAE width · 4 B)             the decoder's last-level activation
 *           + Q · (image pixels · 3 · 4 B)                     the image and its gradient (which dominate small VAEs)
 *           + D · (VAE decoder parameters · 4 B)               what does not grow with the size (widened weights of
 *                                                              the channel-chunked convolutions, the pool)
 * peak = resident weights + the largest phase. The reward towers' activations (224² inputs, checkpointed per
 * layer) did not show in the measurements (aesthetic and HPSv2 peaks agree within 1 %), so they have no term.
 * The coefficients are fitted to the peaks measured by `npm run bench:gpu` (its `ipgo` part: SD1.5 shapes at
 * 256² and 512² on a counting device) and by test/preflight.webgpu.test.ts (the tiny model at 64² and 128² on a
 * software WebGPU device); both check the fit (within 10 %). The real curve is not linear in the pixels — at 512²
 * the decoder's largest activations split into channel chunks, which hold less per pixel — so between and beyond
 * the fitted sizes the prediction is an estimate (bench/results/gpu.json has the SD1.5 errors at 128²…512²).
 */
import { formatBytes } from '../lib/format-bytes';
import { paramsOf } from '../model/nn';
import { declaredParams } from '../model/params';
import { vaeBinding } from '../model/vae/autoencoder-kl';
import type { VaeConfig, VaeConfigJson } from '../model/vae/config';
import { type IpgoModels, textTowers } from './prompt-context';

export const PREFLIGHT_COEFFICIENTS = { sampling: 128, backward: 260, rewardImage: 9.32, rewardRgb: 45.5, rewardDecoder: 2.71 };

export interface UpdateMemoryShape {
  /** Bytes of the weights on the device during the update. */
  residentBytes: number;
  latentHeight: number;
  latentWidth: number;
  /** VAE spatial factor (8 for SD1.5). */
  vaeScale: number;
  /** UNet block_out_channels[0]. */
  unetWidth: number;
  /** VAE block_out_channels[0] (the decoder's last level). */
  vaeWidth: number;
  /** Parameters of the VAE decoder (post_quant_conv included), whatever their precision. */
  decoderParams: number;
}

export interface PeakPrediction {
  /** Predicted peak of allocated GPU bytes (weights included). */
  peak: number;
  /** Activation bytes per phase (weights excluded). */
  phases: { sampling: number; reward: number; backward: number };
}

export function predictUpdatePeak(s: UpdateMemoryShape, k = PREFLIGHT_COEFFICIENTS): PeakPrediction {
  const latent = s.latentHeight * s.latentWidth;
  const image = latent * s.vaeScale * s.vaeScale;
  const phases = {
    sampling: k.sampling * 2 * latent * s.unetWidth * 4,
    reward: k.rewardImage * image * s.vaeWidth * 4 + k.rewardRgb * image * 3 * 4 + k.rewardDecoder * s.decoderParams * 4,
    backward: k.backward * latent * s.unetWidth * 4,
  };
  return { peak: s.residentBytes + Math.max(phases.sampling, phases.reward, phases.backward), phases };
}

export interface PreflightVerdict {
  ok: boolean;
  prediction: PeakPrediction;
  budgetBytes: number;
  /** One sentence: the prediction against the budget. */
  message: string;
  /** Concrete changes that bring the peak under the budget, when it is over. */
  advice: string[];
}

export interface PreflightOptions {
  budgetBytes: number;
  /** Image side in pixels (the run's resolution). */
  size: number;
  /** Whether the UNet / reward towers are already int8 (advice to switch is then left out). */
  int8Everywhere: boolean;
}


/** The prediction against the budget, with advice: a smaller resolution that fits, int8 weights, one reward. */
export function preflight(s: UpdateMemoryShape, o: PreflightOptions): PreflightVerdict {
  const prediction = predictUpdatePeak(s);
  const ok = prediction.peak <= o.budgetBytes;
  const message = `one update is predicted to need ${formatBytes(prediction.peak)} of GPU memory (${formatBytes(s.residentBytes)} of weights), `
    + `${ok ? 'within' : 'over'} the ${formatBytes(o.budgetBytes)} budget`;
  const advice: string[] = [];
  if (!ok) {
    const unit = 8 * s.vaeScale;
    for (let size = o.size - unit; size >= unit; size -= unit) {
      const lat = size / s.vaeScale;
      if (predictUpdatePeak({ ...s, latentHeight: lat, latentWidth: lat }).peak <= o.budgetBytes) {
        advice.push(`lower the resolution to ${size}×${size} or less`);
        break;
      }
    }
    if (!o.int8Everywhere) advice.push('set the UNet, VAE decoder and reward towers to int8 in the Models view (halves their weights again)');
    if (s.residentBytes >= o.budgetBytes) advice.push('the weights alone exceed the budget: a GPU with more memory is needed');
    advice.push('or raise the GPU memory budget if this GPU has more memory than assumed');
  }
  return { ok, prediction, budgetBytes: o.budgetBytes, message, advice };
}

/** The update's memory shape from the loaded models: every loaded weight but the text towers, which leave the GPU. */
export function updateMemoryShape(models: IpgoModels, height: number, width: number): UpdateMemoryShape {
  const { sd } = models;
  const away = new Set(paramsOf(textTowers(models)));
  const residentBytes = paramsOf(models).filter((t) => !away.has(t)).reduce((sum, t) => sum + t.size * 4, 0);
  return {
    residentBytes, latentHeight: Math.ceil(height / sd.vaeScaleFactor), latentWidth: Math.ceil(width / sd.vaeScaleFactor), vaeScale: sd.vaeScaleFactor,
    unetWidth: sd.unet.config.blockOutChannels[0]!, vaeWidth: sd.vae.config.blockOutChannels[0]!, decoderParams: decoderParameterCount(sd.vae.config),
  };
}

/** Parameters of the VAE decoder (post_quant_conv included), whatever their precision: a dry bind of its config. */
export function decoderParameterCount(config: VaeConfigJson | VaeConfig): number {
  return declaredParams(vaeBinding(config, { decoderOnly: true }).build)
    .filter((spec) => !spec.optional)
    .reduce((n, spec) => n + spec.shape.reduce((a, c) => a * c, 1), 0);
}
