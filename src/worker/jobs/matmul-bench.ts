import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { BackendName, MatmulBenchParams, MatmulBenchProgress, MatmulBenchResult } from '../protocol';
import { JobError } from '../protocol';

/**
 * Times an n×n float32 matmul on the active backend. Inputs are deterministic (A[i,j] = ((i+2j) mod 7 − 3)/4,
 * B[i,j] = A[j,i]) so the checksum of the product is known in closed form and proves the kernel computed the
 * right thing, not just that it ran (compare with a relative tolerance: the device sums in float32).
 */
export async function runMatmulBench(
  params: MatmulBenchParams,
  onProgress: (p: MatmulBenchProgress) => void,
  isCancelled: () => boolean,
): Promise<MatmulBenchResult> {
  const { size, repeats } = params;
  if (!Number.isInteger(size) || size < 1 || size > 8192) {
    throw new JobError('invalid-input', `matrix size must be an integer in 1..8192, got ${size}`);
  }
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 1000) {
    throw new JobError('invalid-input', `repeats must be an integer in 1..1000, got ${repeats}`);
  }
  const [a, b] = tf.tidy(() => {
    const i = tf.range(0, size, 1, 'int32').reshape([size, 1]);
    const j = tf.range(0, size, 1, 'int32').reshape([1, size]);
    const pattern = (x: tf.Tensor, y: tf.Tensor) => tf.mod(tf.add(x, tf.mul(y, 2)), 7).sub(3).toFloat().div(4);
    return [pattern(i, j), pattern(j, i)];
  });
  const times: number[] = [];
  let checksum = 0;
  try {
    for (let r = 0; r <= repeats; r++) {
      if (isCancelled()) throw new JobError('cancelled', 'matmul benchmark cancelled');
      const t0 = performance.now();
      const c = tf.matMul(a!, b!);
      const sum = tf.sum(c);
      checksum = (await sum.data())[0]!;
      const ms = performance.now() - t0;
      c.dispose();
      sum.dispose();
      if (r > 0) times.push(ms); // r = 0 is the warm-up (shader compilation, wasm init)
      onProgress({ done: r, total: repeats, lastMs: ms });
    }
  } finally {
    a!.dispose();
    b!.dispose();
  }
  const medianMs = median(times);
  return {
    backend: tf.getBackend() as BackendName,
    wasmThreads: tf.getBackend() === 'wasm' ? getThreadsCount() : undefined,
    size,
    repeats,
    medianMs,
    gflops: (2 * size ** 3) / (medianMs * 1e6),
    checksum,
    expectedChecksum: matmulChecksum(size),
  };
}

/** Σ_ij (A·B)_ij = Σ_k (Σ_i A[i,k]) (Σ_j B[k,j]), computed exactly in float64 on the host. */
export function matmulChecksum(n: number): number {
  const v = (x: number, y: number) => ((x + 2 * y) % 7 - 3) / 4;
  let total = 0;
  for (let k = 0; k < n; k++) {
    let colA = 0;
    let rowB = 0;
    for (let i = 0; i < n; i++) colA += v(i, k);
    for (let j = 0; j < n; j++) rowB += v(j, k); // B[k,j] = A[j,k]
    total += colA * rowB;
  }
  return total;
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
