import * as tf from '@tensorflow/tfjs';
import { tapeIsRecording } from './checkpoint-grad';
import type { PackedMatrix } from './kernels/packed-weight';

/**
 * Torch-semantics building blocks on plain tfjs ops (differentiable, backend-agnostic).
 * Layout: image activations are NHWC inside the models (tfjs convs are NHWC on every backend);
 * callers convert NCHW goldens at the boundary. Parameters come from a ParamSource (params.ts); the layers that
 * read weights (Linear, Conv2d) are in input-grad-ops.ts.
 */

/**
 * torch nn.Linear: w [out, in] in torch layout, float32 or packed fp16 / int8 (kernels/packed-weight.ts), b [out];
 * run by `linear` (input-grad-ops.ts).
 */
export interface LinearParams { w: tf.Tensor2D | PackedMatrix; b?: tf.Tensor1D }
/**
 * torch nn.Conv2d: w float32 in the conv kernels' layout [kh, kw, in, out], or packed [out, kh·kw·in] (its `shape`
 * still [kh, kw, in, out]); run by `conv2d` (input-grad-ops.ts).
 */
export interface ConvParams { w: tf.Tensor4D | PackedMatrix; b?: tf.Tensor1D; stride: number; pad: number }
export interface NormParams { gamma: tf.Tensor1D; beta: tf.Tensor1D; eps: number }
/**
 * A lookup table [rows, dim] held as row blocks, each under MAX_PARAM_TENSOR_BYTES (a CLIP token embedding is
 * 145 MiB in float32, the ViT-H one 193 MiB: over WebGPU's default 128 MiB binding limit).
 */
export interface EmbeddingTable { parts: tf.Tensor2D[]; rowsPerPart: number }

/** Largest single parameter tensor (WebGPU's default maxStorageBufferBindingSize). */
export const MAX_PARAM_TENSOR_BYTES = 128 * 1024 * 1024;

/** table[ids] for int32 ids of any shape → [...ids.shape, dim]. */
export function embeddingLookup(table: EmbeddingTable, ids: tf.Tensor): tf.Tensor {
  if (table.parts.length === 1) return tf.gather(table.parts[0]!, ids);
  return tf.tidy(() => table.parts.reduce<tf.Tensor | null>((acc, part, p) => {
    const int = (v: number) => tf.scalar(v, 'int32');
    const local = tf.sub(tf.cast(ids, 'int32'), int(p * table.rowsPerPart));
    const inside = tf.logicalAnd(tf.greaterEqual(local, int(0)), tf.less(local, int(part.shape[0])));
    const index = tf.minimum(tf.maximum(local, int(0)), int(part.shape[0] - 1));
    const rows = tf.mul(tf.gather(part, index), tf.expandDims(tf.cast(inside, 'float32'), -1));
    return acc ? tf.add(acc, rows) : rows;
  }, null)!);
}

/** torch's symmetric zero padding of an NHWC conv, in tfjs's terms. */
export function torchPadding(pad: number): 'valid' | tf.backend_util.ExplicitPadding {
  return pad === 0 ? 'valid' : [[0, 0], [pad, pad], [pad, pad], [0, 0]];
}

/**
 * x.reshape(shape) that saves nothing for its backward: tfjs's Reshape keeps a copy of its input (a real copy on
 * tfjs-wasm) only to read its shape when the gradient comes.
 */
export function reshapeLean(x: tf.Tensor, shape: number[]): tf.Tensor {
  if (!tapeIsRecording()) return x.reshape(shape);
  const inShape = x.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: (args[0] as tf.Tensor).reshape(shape),
    gradFunc: (dy: tf.Tensor) => dy.reshape(inShape),
  }));
  return op(x);
}

/** [B, L, H·d] → [B·H, L, d]: one row block per head, as the attention kernels take them. */
export function splitHeads(t: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [b, l, dim] = t.shape;
  return reshapeLean(reshapeLean(t, [b, l, heads, dim / heads]).transpose([0, 2, 1, 3]), [b * heads, l, dim / heads]) as tf.Tensor3D;
}

/** [B·H, L, d] → [B, L, H·d]: the inverse of splitHeads. */
export function mergeHeads(t: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [bh, l, d] = t.shape;
  return reshapeLean(reshapeLean(t, [bh / heads, heads, l, d]).transpose([0, 2, 1, 3]), [bh / heads, l, heads * d]) as tf.Tensor3D;
}

/** Every tensor reachable from a module object (fields, arrays, nested objects), like tinygrad's get_parameters. */
export function paramsOf(obj: unknown, seen = new Set<unknown>()): tf.Tensor[] {
  if (obj === null || typeof obj !== 'object' || seen.has(obj)) return [];
  seen.add(obj);
  if (obj instanceof tf.Tensor) return [obj];
  const values = Array.isArray(obj) ? obj : obj instanceof Map ? [...obj.values()] : Object.values(obj);
  return values.flatMap((v) => paramsOf(v, seen));
}

export function disposeParams(module: unknown): void {
  for (const t of paramsOf(module)) t.dispose();
}

/**
 * LayerNorm over the last axis (biased variance, like torch). Under a gradient tape one op that saves only x:
 * plain autodiff of the formula keeps x − μ, σ and more activation-sized tensors (each saved one a copy on
 * tfjs-wasm) and runs twice as many passes backward. With x̂ = (x − μ)/σ and g = dy·γ:
 * dx = (g − mean(g) − x̂·mean(g·x̂))/σ;  dγ = Σ dy·x̂,  dβ = Σ dy over the leading axes.
 */
export function layerNorm(x: tf.Tensor, p: NormParams): tf.Tensor {
  const standardize = (t: tf.Tensor) => tf.tidy(() => {
    const { mean, variance } = tf.moments(t, -1, true);
    const std = tf.sqrt(tf.add(variance, p.eps));
    return { xhat: tf.div(tf.sub(t, mean), std), std };
  });
  const forward = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.tidy(() => tf.add(tf.mul(standardize(t).xhat, gamma), beta));
  if (!tapeIsRecording()) return forward(x, p.gamma, p.beta);
  const leading = x.shape.slice(0, -1).map((_, i) => i);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, gamma, beta] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([t!, gamma!]);
    return {
      value: forward(t!, gamma!, beta!),
      gradFunc: (dy: tf.Tensor, [saved, g]: tf.Tensor[]) => tf.tidy(() => {
        const { xhat, std } = standardize(saved!);
        const scaled = tf.mul(dy, g!);
        const centred = tf.sub(scaled, tf.mean(scaled, -1, true));
        const dx = tf.div(tf.sub(centred, tf.mul(xhat, tf.mean(tf.mul(scaled, xhat), -1, true))), std);
        return [dx, tf.sum(tf.mul(dy, xhat), leading), tf.sum(dy, leading)];
      }),
    };
  });
  return op(x, p.gamma, p.beta);
}

/**
 * GroupNorm on NHWC (statistics over H, W and the group's channels), optionally followed by SiLU — the pair every
 * resnet runs — written so that few activation-sized tensors exist at once (at 512² one is 128 MiB in the VAE):
 * - sums over H·W are products with a ones vector (no transpose, unlike tfjs's reductions over inner axes);
 * - the normalisation and the affine map are one per-channel scale and shift, z = x·a + b;
 * - under a gradient tape it is one op that saves only x (plain autodiff would keep x − μ, x̂, σ(z), z·σ(z)), and
 *   its backward is again per-channel: with dz = dy·σ(z)(1 + z(1 − σ(z))) for SiLU, the group means
 *   m₁ = mean(γ·dz), m₂ = mean(γ·dz·x̂) come from channel sums of dz and dz·(x − μ), and
 *   dx = dz·(rstd·γ) + x·(−rstd²·m₂) + (rstd²·m₂·μ − rstd·m₁);  dγ = Σ dz·x̂,  dβ = Σ dz.
 */
export function groupNorm(x: tf.Tensor4D, groups: number, p: NormParams, act: 'none' | 'silu' = 'none'): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const cg = c / groups;
  const count = h * w * cg;
  const ones = () => tf.ones([1, 1, h * w]);
  /** Σ over H·W per channel: [n, h, w, c] → [n, 1, c]. */
  const channelSums = (t: tf.Tensor) => tf.tidy(() => tf.matMul(ones(), t.reshape([n, h * w, c])));
  /** Per-channel values → their group's mean, repeated over the group's channels: [n, 1, c] → [n, 1, c]. */
  const groupMean = (perChannel: tf.Tensor) => tf.tidy(() =>
    tf.tile(tf.sum(perChannel.reshape([n, groups, cg]), 2, true), [1, 1, cg]).reshape([n, 1, c]).div(count));
  /** μ and 1/σ per channel [n, 1, c] (two passes, as torch). */
  const stats = (t: tf.Tensor) => tf.tidy(() => {
    const mean = groupMean(channelSums(t));
    const variance = groupMean(tf.tidy(() => {
      const diff = tf.sub(t.reshape([n, h * w, c]), mean);
      return channelSums(tf.tidy(() => tf.square(diff)).reshape([n, h, w, c]));
    }));
    return { mean, rstd: tf.reciprocal(tf.sqrt(tf.add(variance, p.eps))) };
  });
  const perPixel = (v: tf.Tensor) => v.reshape([n, 1, 1, c]);
  /** z = x̂·γ + β as x·a + b. */
  const affine = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, rstd: tf.Tensor) => tf.tidy(() => {
    const a = tf.mul(rstd, gamma);
    const b = tf.sub(beta, tf.mul(mean, a));
    return tf.tidy(() => tf.add(tf.mul(t, perPixel(a)), perPixel(b)));
  });
  const forward = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.tidy(() => {
    const { mean, rstd } = stats(t);
    const z = affine(t, gamma, beta, mean, rstd);
    if (act === 'none') return z;
    const s = tf.sigmoid(z);
    const y = tf.mul(z, s);
    tf.dispose([z, s]);
    return y;
  }) as tf.Tensor4D;
  // the custom op only where a gradient is recorded: its saved tensors are freed by the backward
  if (!tapeIsRecording()) return forward(x, p.gamma, p.beta);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [t, gamma, beta] = args as tf.Tensor[];
    (args[3] as tf.GradSaveFunc)([t!, gamma!, beta!]);
    return {
      value: forward(t!, gamma!, beta!),
      gradFunc: (dy: tf.Tensor, [saved, g, b]: tf.Tensor[]) => tf.tidy(() => {
        const xs = saved!;
        const { mean, rstd } = stats(xs);
        let dz = dy;
        if (act === 'silu') {
          // d silu(z)/dz = σ(z)·(1 + z·(1 − σ(z))), z recomputed; each temporary freed once used
          const z = affine(xs, g!, b!, mean, rstd);
          const s = tf.sigmoid(z);
          const t = tf.tidy(() => tf.add(tf.mul(z, tf.sub(1, s)), 1));
          z.dispose();
          const slope = tf.mul(s, t);
          tf.dispose([s, t]);
          dz = tf.mul(dy, slope);
          slope.dispose();
        }
        const sumDz = channelSums(dz);
        // Σ dz·x̂ per channel, from x − μ (not Σ dz·x − μ·Σ dz, which cancels when |μ| ≫ σ)
        const sumDzXhat = tf.mul(rstd, channelSums(tf.tidy(() => tf.mul(dz, tf.sub(xs, perPixel(mean))))));
        const m1 = groupMean(tf.mul(g!, sumDz));
        const m2 = groupMean(tf.mul(g!, sumDzXhat));
        const coefDz = tf.mul(rstd, g!);
        const rstd2m2 = tf.mul(tf.square(rstd), m2);
        const coefX = tf.neg(rstd2m2);
        const shift = tf.sub(tf.mul(rstd2m2, mean), tf.mul(rstd, m1));
        const scaled = tf.mul(dz, perPixel(coefDz));
        if (dz !== dy) dz.dispose();
        const withX = tf.tidy(() => tf.add(scaled, tf.mul(xs, perPixel(coefX))));
        scaled.dispose();
        const dx = tf.add(withX, perPixel(shift));
        withX.dispose();
        return [dx, tf.sum(sumDzXhat, [0, 1]), tf.sum(sumDz, [0, 1])];
      }),
    };
  });
  return op(x, p.gamma, p.beta) as tf.Tensor4D;
}

/**
 * a + b (broadcasting) that saves nothing for its backward. tfjs's Add keeps both inputs until the backward
 * passes it, only to read their shapes: under a tape every residual sum and every bias would pin two activations.
 */
export function addLean(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (!tapeIsRecording()) return tf.add(a, b);
  const shapes = [a.shape, b.shape];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.add(args[0] as tf.Tensor, args[1] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => shapes.map((shape) => tf.tidy(() => {
      const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
      // a new handle on dy's data (not dy itself: each input's gradient is freed on its own; a clone would copy)
      return axes.length ? tf.sum(dy, axes).reshape(shape) : dy.reshape(shape);
    })),
  }));
  return op(a, b);
}

export const silu = (x: tf.Tensor): tf.Tensor => tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
/** CLIP's quick_gelu: x·σ(1.702x). */
export const quickGelu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
/** Exact (erf) GELU as torch's default nn.GELU / F.gelu. */
export const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));

/**
 * Multi-head scaled dot-product attention. q: [B, Lq, H·d], k/v: [B, Lk, H·d] → [B, Lq, H·d].
 * `mask` is additive, broadcastable to [B, H, Lq, Lk] (e.g. a causal mask of -inf above the diagonal).
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask?: tf.Tensor): tf.Tensor3D {
  const [b, lq, dim] = q.shape;
  const lk = k.shape[1];
  const d = dim / heads;
  const split = (t: tf.Tensor3D, l: number) => t.reshape([b, l, heads, d]).transpose([0, 2, 1, 3]);
  const qh = split(q, lq), kh = split(k, lk), vh = split(v, lk);
  let scores = tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(d));
  if (mask) scores = tf.add(scores, mask);
  const out = tf.matMul(tf.softmax(scores, -1), vh);
  return out.transpose([0, 2, 1, 3]).reshape([b, lq, dim]) as tf.Tensor3D;
}

/** Additive causal mask [1, 1, L, L]: 0 on and below the diagonal, a large negative above. */
export function causalMask(l: number): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.linalg.bandPart(tf.ones([l, l]), -1, 0), 1).mul(1e9).reshape([1, 1, l, l]) as tf.Tensor4D);
}

export const nchwToNhwc = (x: tf.Tensor4D): tf.Tensor4D => tf.transpose(x, [0, 2, 3, 1]);
export const nhwcToNchw = (x: tf.Tensor4D): tf.Tensor4D => tf.transpose(x, [0, 3, 1, 2]);
