import * as tf from '@tensorflow/tfjs';
import { flashAttention, fusedAttentionApplies } from '../kernels/flash-attention';
import { addLean, groupNorm, type LinearParams, type NormParams } from '../nn';
import { linear } from '../input-grad-ops';
import type { ParamSource } from '../params';

/**
 * The VAE mid-block attention (diffusers `Attention` built from the deprecated AttentionBlock): single head over
 * all H·W positions, GroupNorm first, q/k/v/out projections with biases, residual, rescale_output_factor 1.
 * Real SD1.5 files store the projections under the legacy names query/key/value/proj_attn; both are accepted
 * (see `vaeLegacyKeyMap`).
 */
export interface VaeAttention {
  norm: NormParams;
  q: LinearParams;
  k: LinearParams;
  v: LinearParams;
  out: LinearParams;
  groups: number;
}

export const ATTENTION_NAMES = { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0' } as const;
export const LEGACY_ATTENTION_NAMES = { q: 'query', k: 'key', v: 'value', out: 'proj_attn' } as const;

/**
 * diffusers name → legacy name of the mid-block attention weights (what `sd15.vae.legacy_key_map` lists): the
 * aliases through which a checkpoint with legacy names binds.
 */
export function vaeLegacyKeyMap(c: { midBlockAddAttention: boolean }): Record<string, string> {
  const map: Record<string, string> = {};
  if (!c.midBlockAddAttention) return map;
  for (const part of ['encoder', 'decoder']) {
    for (const k of ['q', 'k', 'v', 'out'] as const) {
      for (const suffix of ['weight', 'bias']) {
        const p = `${part}.mid_block.attentions.0.`;
        map[`${p}${ATTENTION_NAMES[k]}.${suffix}`] = `${p}${LEGACY_ATTENTION_NAMES[k]}.${suffix}`;
      }
    }
  }
  return map;
}

/** Declares the diffusers names; a checkpoint with the legacy names binds through `vaeLegacyKeyMap` aliases. */
export function loadVaeAttention(src: ParamSource, channels: number, groups: number, eps: number): VaeAttention {
  return {
    norm: src.norm('group_norm', channels, eps),
    q: src.linear(ATTENTION_NAMES.q, channels, channels, true),
    k: src.linear(ATTENTION_NAMES.k, channels, channels, true),
    v: src.linear(ATTENTION_NAMES.v, channels, channels, true),
    out: src.linear(ATTENTION_NAMES.out, channels, channels, true),
    groups,
  };
}

/**
 * Default budget for one block of attention scores. At 512² the decoder attends over 64×64 = 4096 tokens:
 * [4096, 4096] float32 = 64 MiB, within budget; larger images are processed in query chunks.
 */
export const DEFAULT_SCORE_BUDGET_BYTES = 128 * 1024 * 1024;

export function vaeAttention(x: tf.Tensor4D, p: VaeAttention, scoreBudgetBytes = DEFAULT_SCORE_BUDGET_BYTES): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const tokens = groupNorm(x, p.groups, p.norm).reshape([b, h * w, c]);
    // Input-gradient-only projections: the weights are never saved (copied, on wasm) for the backward.
    const q = linear(tokens, p.q) as tf.Tensor3D;
    const k = linear(tokens, p.k) as tf.Tensor3D;
    const v = linear(tokens, p.v) as tf.Tensor3D;
    const attended = singleHeadAttention(q, k, v, 1 / Math.sqrt(c), scoreBudgetBytes);
    const out = linear(attended, p.out).reshape([b, h, w, c]);
    return addLean(out, x) as tf.Tensor4D;
  });
}

/**
 * softmax(q·kᵀ·scale)·v: on WebGPU the fused kernel (no score tensor at all, forward or backward); elsewhere split
 * into query blocks so that one block of scores stays under the byte budget.
 */
export function singleHeadAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, scale: number, scoreBudgetBytes: number): tf.Tensor3D {
  if (fusedAttentionApplies(q.shape[2])) return flashAttention(q, k, v, scale);
  const [b, lq] = q.shape;
  const lk = k.shape[1];
  const rows = Math.max(1, Math.floor(scoreBudgetBytes / (4 * b * lk)));
  const block = (qi: tf.Tensor3D) => tf.matMul(tf.softmax(tf.mul(tf.matMul(qi, k, false, true), scale)), v) as tf.Tensor3D;
  if (rows >= lq) return tf.tidy(() => block(q));
  return tf.tidy(() => {
    const parts: tf.Tensor3D[] = [];
    for (let start = 0; start < lq; start += rows) {
      parts.push(block(tf.slice(q, [0, start, 0], [b, Math.min(rows, lq - start), q.shape[2]])));
    }
    return tf.concat(parts, 1);
  });
}
