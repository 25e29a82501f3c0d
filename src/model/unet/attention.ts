import * as tf from '@tensorflow/tfjs';
import { flashAttention, fusedAttentionApplies } from '../kernels/flash-attention';
import { mergeHeads, splitHeads } from '../nn';
import { tapeIsRecording } from '../checkpoint-grad';
import { transposeLarge } from '../input-grad-ops';

/**
 * Multi-head scaled dot-product attention. On WebGPU: the fused kernel (kernels/flash-attention.ts), which never
 * holds a score tensor. Elsewhere: query chunking, for 64×64 latents where full scores
 * ([B·heads, 4096, 4096] f32 = 512 MiB per batch row) exceed WebGPU's maxStorageBufferBindingSize.
 *
 * Queries are processed in chunks so that one block of scores stays under `chunkBytes`. Each query row's
 * softmax sees all keys, so chunking is exact (same ops per row as the unchunked path). When chunking, the
 * backward pass is a custom gradient that recomputes each chunk's probabilities instead of letting autodiff
 * keep every chunk's [B·heads, n, Lk] block alive until backprop (flash-attention style recomputation): the
 * memory held for the backward pass is q, k, v only.
 *
 * On tfjs-wasm, attention runs one (batch, head) at a time as plain 2-D matmuls (attendPerHead): its BatchMatMul
 * takes XNNPACK only for a batch of 1 without transpose flags, and runs any batched or transposed product as a
 * scalar loop, an order of magnitude slower.
 */

export const DEFAULT_ATTENTION_CHUNK_BYTES = 64 * 1024 * 1024;

/** q: [B, Lq, H·d], k/v: [B, Lk, H·d] → [B, Lq, H·d]. */
export function chunkedAttention(
  q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, chunkBytes = DEFAULT_ATTENTION_CHUNK_BYTES, allowFused = true,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, lq, dim] = q.shape;
    const lk = k.shape[1];
    const d = dim / heads;
    if (allowFused && fusedAttentionApplies(d)) {
      return mergeHeads(flashAttention(splitHeads(q, heads), splitHeads(k, heads), splitHeads(v, heads), 1 / Math.sqrt(d)), heads);
    }
    // Scaling q (Lq·d multiplies) instead of the scores (Lq·Lk) — same value up to float rounding.
    const qh = splitHeads(tf.mul(q, 1 / Math.sqrt(d)) as tf.Tensor3D, heads);
    const kh = splitHeads(k, heads);
    const vh = splitHeads(v, heads);
    if (tf.getBackend() === 'wasm') return mergeHeads(attendPerHead(qh, kh, vh, queryRowsPerChunk(1, lk, chunkBytes)), heads);
    const rows = queryRowsPerChunk(b * heads, lk, chunkBytes);
    return mergeHeads(rows >= lq ? attendFull(qh, kh, vh) : attendChunked(qh, kh, vh, rows), heads);
  });
}

/** How many query rows fit in one scores block of `chunkBytes` (float32), at least 1. */
export function queryRowsPerChunk(batchHeads: number, lk: number, chunkBytes: number): number {
  return Math.max(1, Math.floor(chunkBytes / (batchHeads * lk * 4)));
}

/** softmax(q·kᵀ)·v on pre-scaled, head-split [BH, L, d] tensors (plain autodiff). */
function attendFull(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
  return tf.matMul(tf.softmax(tf.matMul(q, k, false, true), -1), v);
}

function chunkRanges(l: number, rows: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < l; s += rows) out.push([s, Math.min(rows, l - s)]);
  return out;
}

const sliceRows = (t: tf.Tensor3D, start: number, n: number) => tf.slice(t, [0, start, 0], [-1, n, -1]) as tf.Tensor3D;

function attendChunked(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, rows: number): tf.Tensor3D {
  const ranges = chunkRanges(q.shape[1], rows);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [q3, k3, v3] = args.slice(0, 3) as tf.Tensor3D[];
    (args[3] as tf.GradSaveFunc)([q3!, k3!, v3!]);
    const parts = ranges.map(([s, n]) => tf.tidy(() => attendFull(sliceRows(q3!, s, n), k3!, v3!)));
    const value = tf.concat(parts, 1) as tf.Tensor3D;
    tf.dispose(parts);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => chunkedBackward(dy as tf.Tensor3D, saved as tf.Tensor3D[], ranges) };
  });
  return f(q, k, v) as tf.Tensor3D;
}

/**
 * Backward of o = softmax(q·kᵀ)·v per query chunk, recomputing p = softmax(q_c·kᵀ):
 * dv += pᵀ·do, dp = do·vᵀ, ds = p ⊙ (dp − Σ_j dp⊙p), dq_c = ds·k, dk += dsᵀ·q_c.
 */
function chunkedBackward(dy: tf.Tensor3D, saved: tf.Tensor3D[], ranges: Array<[number, number]>): tf.Tensor[] {
  const [q, k, v] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  let dk: tf.Tensor = tf.zerosLike(k);
  let dv: tf.Tensor = tf.zerosLike(v);
  const dqParts: tf.Tensor[] = [];
  for (const [s, n] of ranges) {
    const [dq, dkNew, dvNew] = tf.tidy(() => {
      const qc = sliceRows(q, s, n);
      const dyc = sliceRows(dy, s, n);
      const p = tf.softmax(tf.matMul(qc, k, false, true), -1);
      const dp = tf.matMul(dyc, v, false, true);
      const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)));
      return [tf.matMul(ds, k), tf.add(dk, tf.matMul(ds, qc, true, false)), tf.add(dv, tf.matMul(p, dyc, true, false))];
    });
    dk.dispose();
    dv.dispose();
    dk = dkNew!;
    dv = dvNew!;
    dqParts.push(dq!);
  }
  const dq = tf.concat(dqParts, 1);
  tf.dispose(dqParts);
  return [dq, dk, dv];
}

/** Head `h` of a [BH, L, d] tensor as [L, d] (rows [s, s + n) when given). */
const head = (t: tf.Tensor3D, h: number, s = 0, n = t.shape[1]) => tf.slice(t, [h, s, 0], [1, n, -1]).reshape([n, t.shape[2]]) as tf.Tensor2D;

/**
 * softmax(q·kᵀ)·v on pre-scaled [BH, L, d] tensors, per head and per query chunk of `rows` rows, every product a
 * 2-D matmul without transpose flags (kᵀ and vᵀ are transposed once for all heads). Under a tape, a custom op
 * that saves q, k, v and recomputes each chunk's probabilities in its backward (the algebra of chunkedBackward).
 */
function attendPerHead(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, rows: number): tf.Tensor3D {
  const ranges = chunkRanges(q.shape[1], rows);
  const forward = (q3: tf.Tensor3D, k3: tf.Tensor3D, v3: tf.Tensor3D) => tf.tidy(() => {
    const kT = tf.transpose(k3, [0, 2, 1]) as tf.Tensor3D;
    const heads = Array.from({ length: q3.shape[0] }, (_, h) => tf.tidy(() => {
      const kTh = head(kT, h), vh = head(v3, h);
      const parts = ranges.map(([s, n]) => tf.tidy(() => tf.matMul(tf.softmax(tf.matMul(head(q3, h, s, n), kTh), -1), vh)));
      return (parts.length === 1 ? parts[0]! : tf.concat(parts, 0)).expandDims(0);
    }));
    return tf.concat(heads, 0) as tf.Tensor3D;
  });
  if (!tapeIsRecording()) return forward(q, k, v);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [q3, k3, v3] = args.slice(0, 3) as tf.Tensor3D[];
    (args[3] as tf.GradSaveFunc)([q3!, k3!, v3!]);
    return { value: forward(q3!, k3!, v3!), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => perHeadBackward(dy as tf.Tensor3D, saved as tf.Tensor3D[], ranges) };
  });
  return f(q, k, v) as tf.Tensor3D;
}

/**
 * Backward of attendPerHead, per head and chunk, with p = softmax(q_c·kᵀ) recomputed:
 * dp = do·vᵀ, ds = p ⊙ (dp − Σ_j dp⊙p), dq_c = ds·k, dk += dsᵀ·q_c, dv += pᵀ·do_c.
 * dsᵀ and pᵀ are explicit (two-pass) transposes: as left operands they leave XNNPACK the small q_c and do_c to
 * pack, where q_cᵀ·ds would pack the whole [n, Lk] block and stream it once per few rows of the d-row left side.
 */
function perHeadBackward(dy: tf.Tensor3D, saved: tf.Tensor3D[], ranges: Array<[number, number]>): tf.Tensor[] {
  return tf.tidy(() => {
    const [q, k, v] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const kT = tf.transpose(k, [0, 2, 1]) as tf.Tensor3D;
    const vT = tf.transpose(v, [0, 2, 1]) as tf.Tensor3D;
    const dq: tf.Tensor[] = [], dk: tf.Tensor[] = [], dv: tf.Tensor[] = [];
    for (let h = 0; h < q.shape[0]; h++) {
      const [dqh, dkh, dvh] = tf.tidy(() => {
        const kh = head(k, h), kTh = head(kT, h), vTh = head(vT, h);
        let dkAcc: tf.Tensor | null = null, dvAcc: tf.Tensor | null = null;
        const dqParts: tf.Tensor[] = [];
        for (const [s, n] of ranges) {
          const [dqc, dkNew, dvNew] = tf.tidy(() => {
            const qc = head(q, h, s, n), dyc = head(dy, h, s, n);
            const p = tf.softmax(tf.matMul(qc, kTh), -1);
            const dp = tf.matMul(dyc, vTh);
            const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))) as tf.Tensor2D;
            const dkC = tf.matMul(transposeLarge(ds), qc), dvC = tf.matMul(transposeLarge(p as tf.Tensor2D), dyc);
            return [tf.matMul(ds, kh), dkAcc ? tf.add(dkAcc, dkC) : dkC, dvAcc ? tf.add(dvAcc, dvC) : dvC];
          });
          tf.dispose([dkAcc!, dvAcc!].filter(Boolean));
          dqParts.push(dqc!);
          dkAcc = dkNew!;
          dvAcc = dvNew!;
        }
        return [(dqParts.length === 1 ? dqParts[0]! : tf.concat(dqParts, 0)).expandDims(0), dkAcc!.expandDims(0), dvAcc!.expandDims(0)];
      });
      dq.push(dqh!);
      dk.push(dkh!);
      dv.push(dvh!);
    }
    return [tf.concat(dq, 0), tf.concat(dk, 0), tf.concat(dv, 0)];
  });
}
