import * as tf from '@tensorflow/tfjs';
import { addLean, groupNorm, type ConvParams, type NormParams } from '../nn';
import { conv2d } from '../input-grad-ops';
import { packedConvFilter } from '../kernels/packed-ops';
import { isPacked } from '../kernels/packed-weight';
import { runStageList } from '../staged-vjp';

/**
 * Activations split along channels, so that no single tensor exceeds a byte budget (WebGPU's default
 * maxStorageBufferBindingSize is 128 MiB). At 512² the SD1.5 decoder's last level holds [1, 512, 512, 256] =
 * 256 MiB (the upsampled output of up_blocks.2 and the input of up_blocks.3.resnets.0).
 *
 * Splitting channels keeps every op exact: GroupNorm statistics are per group, so chunks aligned to groups are
 * normalized independently; SiLU and upsampling are per channel; a convolution over chunked input channels is the
 * sum of per-chunk convolutions with the matching weight slices (only the float summation order changes), and its
 * output channels are produced chunk by chunk. With a single chunk every function is the plain op, bit for bit.
 */
export type Chunks = tf.Tensor4D[];

/** Default per-tensor budget: WebGPU's default maxStorageBufferBindingSize. */
export const DEFAULT_MAX_TENSOR_BYTES = 128 * 1024 * 1024;

/**
 * Number of channel chunks for a float32 [b, h, w, channels] activation: the smallest divisor k of `groups` (so
 * chunks hold whole GroupNorm groups) with one chunk ≤ maxBytes; `groups` when even that is too large.
 */
export function chunkCount(shape: readonly number[], groups: number, maxBytes: number): number {
  const [b, h, w, c] = shape as [number, number, number, number];
  for (let k = 1; k <= groups; k++) {
    if (groups % k === 0 && c % k === 0 && b * h * w * (c / k) * 4 <= maxBytes) return k;
  }
  return groups;
}

export function splitChannels(x: tf.Tensor4D, k: number): Chunks {
  return k === 1 ? [x] : (tf.split(x, k, 3) as Chunks);
}

/** The whole activation (tests and taps only: at full size it may exceed the budget). */
export function joinChannels(xs: Chunks): tf.Tensor4D {
  return xs.length === 1 ? xs[0]! : (tf.concat(xs, 3) as tf.Tensor4D);
}

const sliceVec = (v: tf.Tensor1D, start: number, n: number) => tf.slice(v, [start], [n]) as tf.Tensor1D;

/** GroupNorm (then SiLU, when asked) over chunks aligned to groups; `totalChannels / groups` channels per group. */
export function groupNormChunks(xs: Chunks, groups: number, p: NormParams, act: 'none' | 'silu' = 'none'): Chunks {
  if (xs.length === 1) return [groupNorm(xs[0]!, groups, p, act)];
  const total = xs.reduce((s, x) => s + x.shape[3], 0);
  const perGroup = total / groups;
  let offset = 0;
  return xs.map((x) => {
    const c = x.shape[3];
    const part = { gamma: sliceVec(p.gamma, offset, c), beta: sliceVec(p.beta, offset, c), eps: p.eps };
    offset += c;
    return groupNorm(x, c / perGroup, part, act);
  });
}

export type Stage = (x: Chunks) => Chunks;

/** Runs stages on channel chunks, each stage's output freed once the next has used it (staged-vjp.ts). */
export function runStages(input: Chunks, stages: Stage[]): Chunks {
  return runStageList(stages as ((xs: tf.Tensor[]) => tf.Tensor[])[], input) as Chunks;
}

/**
 * A convolution over channel chunks, producing `outChunks` output chunks. One chunk in and out is the plain
 * input-gradient conv. Otherwise out_o = Σ_i conv(x_i, W[:, :, i, o]) + b_o on weight slices: the slices are
 * temporaries, so the tape saves them rather than the op closing over them.
 */
export function convChunks(xs: Chunks, p: ConvParams, outChunks: number): Chunks {
  if (xs.length === 1 && outChunks === 1) return [conv2d(xs[0]!, p)];
  const outC = p.w.shape[3]! / outChunks;
  // a packed weight is widened once for this call (one layer in float32 at a time), then sliced like a float one
  const filter = isPacked(p.w) ? packedConvFilter(p.w, { kh: p.w.shape[0]!, kw: p.w.shape[1]! }) : p.w;
  // partial sums are freed as soon as they are added (safe under a tape too: an add saves nothing)
  const accumulate = (acc: tf.Tensor4D | null, part: tf.Tensor4D): tf.Tensor4D => {
    if (!acc) return part;
    const sum = addLean(acc, part) as tf.Tensor4D;
    tf.dispose([acc, part]);
    return sum;
  };
  const chunks = Array.from({ length: outChunks }, (_, o) => tf.tidy(() => {
    let inOffset = 0;
    let acc: tf.Tensor4D | null = null;
    for (const x of xs) {
      const c = x.shape[3];
      const w = tf.slice(filter, [0, 0, inOffset, o * outC], [-1, -1, c, outC]) as tf.Tensor4D;
      inOffset += c;
      acc = accumulate(acc, conv2d(x, { w, stride: p.stride, pad: p.pad }, true));
    }
    if (!p.b) return acc!;
    const biased = addLean(acc!, sliceVec(p.b, o * outC, outC)) as tf.Tensor4D;
    acc!.dispose();
    return biased;
  }));
  if (filter !== p.w) filter.dispose();
  return chunks;
}

export const addChunks = (a: Chunks, b: Chunks): Chunks => a.map((x, i) => addLean(x, b[i]!) as tf.Tensor4D);
