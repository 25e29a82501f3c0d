import type { SchedulerConfig } from './config';
import { f32, torchLinspaceF32 } from './float32';

/**
 * The training noise schedule, rounded exactly as diffusers computes it with torch on CPU:
 * betas float32; ᾱ = cumprod(1 − β) accumulated in double (torch's CPU cumprod uses a double accumulator for
 * float32) and stored as float32; σ = sqrt((1 − ᾱ)/ᾱ) with float32 ops.
 */
export interface TrainSchedule {
  betas: Float32Array;
  alphasCumprod: Float32Array;
  /** σ_t for t = 0..N−1 (ascending in t). */
  sigmas: Float32Array;
}

export function trainBetas(cfg: SchedulerConfig): Float32Array {
  const n = cfg.numTrainTimesteps;
  if (cfg.trainedBetas) return Float32Array.from(cfg.trainedBetas);
  switch (cfg.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(cfg.betaStart, cfg.betaEnd, n);
    case 'scaled_linear':
      // torch.linspace(β0**0.5, β1**0.5, N, float32) ** 2 (pow 2 is x·x in float32)
      return torchLinspaceF32(Math.sqrt(cfg.betaStart), Math.sqrt(cfg.betaEnd), n).map((x) => f32(x * x));
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
    default:
      throw new Error(`beta_schedule "${String(cfg.betaSchedule)}" is not implemented`);
  }
}

/** Glide's cosine schedule (betas_for_alpha_bar), computed in double then stored as float32. */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return out;
}

export function trainSchedule(cfg: SchedulerConfig): TrainSchedule {
  const betas = trainBetas(cfg);
  const alphasCumprod = new Float32Array(betas.length);
  let acc = 1; // double accumulator
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]!);
    alphasCumprod[i] = acc;
  }
  const sigmas = alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
  return { betas, alphasCumprod, sigmas };
}

/** ᾱ at training timestep t; past the last step (t < 0) 1 with set_alpha_to_one, else ᾱ_0 (DDIM, PNDM). */
export function alphaCumprodAt(train: TrainSchedule, cfg: SchedulerConfig, t: number): number {
  if (t >= train.alphasCumprod.length) throw new Error(`timestep ${t} is past the training schedule (${train.alphasCumprod.length} steps)`);
  if (t >= 0) return train.alphasCumprod[t]!;
  return cfg.setAlphaToOne ? 1 : train.alphasCumprod[0]!;
}
