/**
 * One IPGO optimizer update, in the notebook's order: clip the global gradient norm, Adam step, then (our
 * addition, see orthonormal.ts) retract W_prefix / W_suffix back to orthonormal columns. A gradient with NaN/Inf
 * skips the whole update (parameters, moments and step count untouched) and says so in the report.
 * The LR scheduler is not stepped here: prompt-wise training steps it per epoch, batch-wise per update.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam';
import { clipGradNorm } from './grad-clip';
import { orthonormalityError, retractToStiefel } from './orthonormal';
import { PARAM_NAMES, STIEFEL_PARAMS, type IpgoParams, type ParamName } from './params';

export interface UpdateReport {
  applied: boolean;
  /** Why the update was skipped (non-finite gradient), when it was. */
  skippedReason?: string;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Clip factor applied (1 = not clipped). */
  clipScale: number;
  lr: number;
  /** max |WᵀW − I| over both sides after the retraction (NaN when skipped). */
  orthonormalityError: number;
}

/** Applies one update; `grads` stay owned by the caller. */
export async function applyUpdate(
  params: IpgoParams,
  grads: Record<ParamName, tf.Tensor>,
  adam: Adam<ParamName>,
  maxGradNorm: number,
): Promise<UpdateReport> {
  for (const name of PARAM_NAMES) if (!grads[name]) throw new Error(`applyUpdate: missing gradient for ${name}`);
  const clip = await clipGradNorm(grads, maxGradNorm);
  const base = { gradNorm: clip.totalNorm, clipScale: clip.scale, lr: adam.lr };
  try {
    if (!clip.finite) {
      const bad = await nonFiniteNames(grads);
      return { ...base, applied: false, orthonormalityError: NaN, skippedReason: `non-finite gradient (norm ${clip.totalNorm}) in ${bad.join(', ')}; update skipped` };
    }
    adam.step(clip.grads);
  } finally {
    for (const name of PARAM_NAMES) clip.grads[name].dispose();
  }
  let err = 0;
  for (const name of STIEFEL_PARAMS) {
    const retracted = await retractToStiefel(params[name] as tf.Tensor2D);
    params[name].assign(retracted);
    retracted.dispose();
    const e = orthonormalityError(params[name] as tf.Tensor2D);
    err = Math.max(err, (await e.data())[0]!);
    e.dispose();
  }
  return { ...base, applied: true, orthonormalityError: err };
}

async function nonFiniteNames(grads: Record<ParamName, tf.Tensor>): Promise<ParamName[]> {
  const out: ParamName[] = [];
  for (const name of PARAM_NAMES) {
    const d = await grads[name].data();
    if (d.some((v) => !Number.isFinite(v))) out.push(name);
  }
  return out;
}
