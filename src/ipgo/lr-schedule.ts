/**
 * torch.optim.lr_scheduler.StepLR in its chainable form: construction counts as epoch 0 (lr = base);
 * each `step()` advances the epoch and multiplies the lr by γ when the epoch is a multiple of stepSize.
 * lr(epoch) = base · γ^⌊epoch / stepSize⌋. Prompt-wise IPGO steps it per epoch (10, 0.9), batch-wise per optimizer
 * step (15, 0.95).
 */
import type { StepLRConfig } from './config';

export interface StepLRState {
  lastEpoch: number;
  lr: number;
}

export class StepLR {
  readonly stepSize: number;
  readonly gamma: number;
  lastEpoch = 0;
  lr: number;

  constructor(baseLr: number, cfg: StepLRConfig) {
    if (!Number.isInteger(cfg.stepSize) || cfg.stepSize < 1) throw new Error(`StepLR: stepSize must be a positive integer, got ${cfg.stepSize}`);
    if (!(cfg.gamma > 0) || !Number.isFinite(cfg.gamma)) throw new Error(`StepLR: gamma must be positive, got ${cfg.gamma}`);
    this.stepSize = cfg.stepSize;
    this.gamma = cfg.gamma;
    this.lr = baseLr;
  }

  /** Advances one epoch (or optimizer step) and returns the new lr. */
  step(): number {
    this.lastEpoch += 1;
    if (this.lastEpoch % this.stepSize === 0) this.lr *= this.gamma;
    return this.lr;
  }

  getState(): StepLRState {
    return { lastEpoch: this.lastEpoch, lr: this.lr };
  }

  setState(s: StepLRState): void {
    if (!Number.isInteger(s.lastEpoch) || s.lastEpoch < 0) throw new Error(`StepLR state: lastEpoch must be a non-negative integer, got ${s.lastEpoch}`);
    if (!(s.lr >= 0) || !Number.isFinite(s.lr)) throw new Error(`StepLR state: lr must be finite and ≥ 0, got ${s.lr}`);
    this.lastEpoch = s.lastEpoch;
    this.lr = s.lr;
  }
}
