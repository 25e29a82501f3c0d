import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../weights/safetensors';
import { packedConv2d, packedConv2dInputGrad, packedMatMul, packedMatMulInputGrad } from './packed-ops';
import { type HostPacked, type PackedFormat, type PackedMatrix, dequantizeHost, disposePacked, hostPackedFromTorch, uploadPacked } from './packed-weight';

/**
 * The packed-weight kernels against the reference (the same packed values dequantized, then tfjs's own float32
 * op on the same backend): max |Δ| / max |ref| ≤ 1e-5, forward and input gradient, over odd sizes that cross the
 * 64×64 output tiles and the 16-deep K slices.
 */
async function maxRel(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = await Promise.all([a.data(), b.data()]);
  let d = 0, m = 0;
  for (let i = 0; i < y.length; i++) { d = Math.max(d, Math.abs(x[i]! - y[i]!)); m = Math.max(m, Math.abs(y[i]!)); }
  return d / Math.max(m, 1e-30);
}

/** Runs `f` and checks each [got, ref] pair, freeing everything `f` made. */
async function expectClose(f: () => [tf.Tensor, tf.Tensor][]): Promise<void> {
  const pairs = tf.tidy(() => f().map(([a, b]) => [tf.keep(a), tf.keep(b)] as const));
  for (const [a, b] of pairs) {
    expect(a.shape).toEqual(b.shape);
    expect(await maxRel(a, b)).toBeLessThan(TOL);
  }
  tf.dispose(pairs.flat());
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  };
}

/** A random weight of torch shape, packed as `format` (int8: per-row scale max|w|/127). */
function randomPacked(format: PackedFormat, torchShape: number[], seed: number, logicalShape: number[]): { w: PackedMatrix; dense: () => tf.Tensor2D } {
  const rows = torchShape[0]!, cols = torchShape.slice(1).reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const w = Float32Array.from({ length: rows * cols }, () => r());
  const done = (h: HostPacked) => ({ w: uploadPacked(h, logicalShape), dense: () => tf.tensor2d(dequantizeHost(h), [rows, cols]) });
  if (format === 'fp16') return done(hostPackedFromTorch(torchShape, { packed: 'fp16', halves: Uint16Array.from(w, f32ToF16) }));
  const scales = new Float32Array(rows), codes = new Int8Array(rows * cols);
  for (let o = 0; o < rows; o++) {
    let m = 0;
    for (let i = 0; i < cols; i++) m = Math.max(m, Math.abs(w[o * cols + i]!));
    scales[o] = m / 127;
    for (let i = 0; i < cols; i++) codes[o * cols + i] = Math.round(w[o * cols + i]! / scales[o]!);
  }
  return done(hostPackedFromTorch(torchShape, { packed: 'int8', codes, scales }));
}

const TOL = 1e-5;

describe.each(['int8', 'fp16'] as const)('packed %s kernels on WebGPU', (format) => {
  it('runs on the webgpu backend', () => expect(tf.getBackend()).toBe('webgpu'));

  it.each([[1, 3, 2], [5, 7, 9], [70, 33, 65], [130, 64, 129]])('linear M=%i in=%i out=%i: forward and input gradient', async (m, k, n) => {
    const before = tf.memory().numTensors;
    const { w, dense } = randomPacked(format, [n, k], m * 31 + k, [n, k]);
    await expectClose(() => {
      const x = tf.randomNormal([m, k], 0, 1, 'float32', 1) as tf.Tensor2D;
      const bias = tf.randomNormal([n], 0, 1, 'float32', 2) as tf.Tensor1D;
      const dy = tf.randomNormal([m, n], 0, 1, 'float32', 3) as tf.Tensor2D;
      const d = dense();
      return [
        [packedMatMul(x, w, bias), tf.add(tf.matMul(x, d, false, true), bias)],
        [packedMatMul(x, w), tf.matMul(x, d, false, true)],
        [packedMatMulInputGrad(dy, w), tf.matMul(dy, d)],
      ];
    });
    disposePacked(w);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    // k, stride, pad, [B, H, W, C], out channels
    [3, 1, 1, [2, 7, 6, 5], 7], [3, 2, 1, [1, 9, 8, 4], 66], [3, 2, 0, [1, 9, 9, 3], 5], [1, 1, 0, [2, 5, 4, 33], 17],
    [3, 1, 1, [1, 12, 11, 20], 70],
  ] as const)('conv k=%i stride=%i pad=%i x=%j out=%i: forward and input gradient', async (k, stride, pad, xShape, outC) => {
    const before = tf.memory().numTensors;
    const g = { kh: k, kw: k, stride, pad };
    const { w, dense } = randomPacked(format, [outC, xShape[3], k, k], outC * 7 + k, [k, k, xShape[3], outC]);
    await expectClose(() => {
      const x = tf.randomNormal([...xShape], 0, 1, 'float32', 4) as tf.Tensor4D;
      const bias = tf.randomNormal([outC], 0, 1, 'float32', 5) as tf.Tensor1D;
      const filter = tf.transpose(dense().reshape([outC, k, k, xShape[3]]), [1, 2, 3, 0]) as tf.Tensor4D;
      const padding = pad === 0 ? 'valid' : ([[0, 0], [pad, pad], [pad, pad], [0, 0]] as tf.backend_util.ExplicitPadding);
      const ref = tf.add(tf.conv2d(x, filter, stride, padding), bias) as tf.Tensor4D;
      const dy = tf.randomNormal(ref.shape, 0, 1, 'float32', 6) as tf.Tensor4D;
      return [
        [packedConv2d(x, w, g, bias), ref],
        [packedConv2dInputGrad(dy, w, g, [...xShape]), tf.conv2dTranspose(dy, filter, [...xShape], stride, padding)],
      ];
    });
    disposePacked(w);
    expect(tf.memory().numTensors).toBe(before);
  });
});
