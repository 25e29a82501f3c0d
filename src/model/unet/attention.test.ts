import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attention } from '../nn';
import { chunkedAttention, queryRowsPerChunk } from './attention';

const relErr = (a: tf.Tensor, b: tf.Tensor): number =>
  tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);

// wasm: per (batch, head) 2-D products, chunks of one head's rows; cpu: batched products, chunks over all heads.
describe.each(['wasm', 'cpu'])('chunkedAttention on %s', (backend) => {
  // B=2, 3 heads of dim 4, 37 queries (an uneven last chunk), 11 keys.
  const [b, lq, lk, heads, d] = [2, 37, 11, 3, 4];
  const q = () => tf.randomNormal([b, lq, heads * d], 0, 1, 'float32', 1) as tf.Tensor3D;
  const kv = (seed: number) => tf.randomNormal([b, lk, heads * d], 0, 1, 'float32', seed) as tf.Tensor3D;
  const rowBytes = (backend === 'wasm' ? 1 : b * heads) * lk * 4;
  const initial = tf.getBackend();
  beforeAll(async () => { await tf.setBackend(backend); });
  afterAll(async () => { await tf.setBackend(initial); });

  it('sizes chunks from the byte budget (SD1.5 64×64: 256 query rows per 64 MiB block at batch 2, 16 chunks)', () => {
    expect(queryRowsPerChunk(2 * 8, 4096, 64 * 2 ** 20)).toBe(256);
    expect(queryRowsPerChunk(16, 4096, 1)).toBe(1);
  });

  it('equals unchunked attention (forward) for several chunk sizes', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const [qq, k, v] = [q(), kv(2), kv(3)];
      const ref = attention(qq, k, v, heads);
      for (const rows of [1, 5, 36, 37, 1000]) {
        const got = chunkedAttention(qq, k, v, heads, rows * rowBytes);
        expect(relErr(got, ref)).toBeLessThan(1e-6);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('has the same gradients as autodiff through unchunked attention (recomputing backward)', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const [qq, k, v] = [q(), kv(2), kv(3)];
      const w = tf.randomNormal([b, lq, heads * d], 0, 1, 'float32', 4);
      const loss = (f: (a: tf.Tensor3D, b: tf.Tensor3D, c: tf.Tensor3D) => tf.Tensor) =>
        tf.grads((a: tf.Tensor, bb: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor3D, bb as tf.Tensor3D, c as tf.Tensor3D), w)))([qq, k, v]);
      const ref = loss((a, bb, c) => attention(a, bb, c, heads));
      const got = loss((a, bb, c) => chunkedAttention(a, bb, c, heads, 5 * rowBytes));
      ref.forEach((r, i) => expect(relErr(got[i]!, r), `grad ${'qkv'[i]}`).toBeLessThan(1e-5));
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
