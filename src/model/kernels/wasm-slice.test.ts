import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { copyBlock, registerWasmSliceKernels } from './wasm-slice';

/** The block by index arithmetic on the host, element by element (the reference). */
function sliceOnHost(x: Float32Array, shape: number[], begin: number[], size: number[]): Float32Array {
  const out = new Float32Array(size.reduce((a, b) => a * b, 1));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let n = 0; n < out.length; n++) {
    let rest = n, from = 0;
    for (let i = size.length - 1; i >= 0; i--) {
      from += (begin[i]! + (rest % size[i]!)) * strides[i]!;
      rest = Math.floor(rest / size[i]!);
    }
    out[n] = x[from]!;
  }
  return out;
}

const cases: Array<[number[], number[], number[]]> = [
  [[7], [2], [4]],
  [[5, 6], [1, 2], [3, 4]],
  [[4, 9, 3], [1, 0, 0], [2, 9, 3]], // a contiguous run over whole inner axes
  [[4, 9, 3], [1, 2, 1], [3, 5, 2]],
  [[3, 2, 6, 6], [0, 0, 1, 2], [3, 2, 4, 3]], // runs shorter than 32 values
  [[2, 3, 2, 40, 5], [1, 1, 0, 3, 0], [1, 2, 2, 33, 5]], // rank 5, runs of 165 values
];

describe('in-place Slice / SplitV for tfjs-wasm', () => {
  it.each(cases)('copyBlock of shape %j at %j, size %j equals the element-by-element slice', (shape, begin, size) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3);
    const out = new Float32Array(size.reduce((a, b) => a * b, 1));
    copyBlock(x, shape, begin, size, out);
    expect(Array.from(out)).toEqual(Array.from(sliceOnHost(x, shape, begin, size)));
  });

  it('tf.slice and tf.split through the registered kernels equal the host slices; int32 too; no leaks', () => {
    registerWasmSliceKernels();
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      for (const [shape, begin, size] of cases) {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
        expect(Array.from(tf.slice(x, begin, size).dataSync())).toEqual(Array.from(sliceOnHost(x.dataSync() as Float32Array, shape, begin, size)));
      }
      const x = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 4);
      const parts = tf.split(x, [1, 3, 2], 2);
      const host = x.dataSync() as Float32Array;
      parts.forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(Array.from(sliceOnHost(host, [2, 5, 6], [0, 0, [0, 1, 4][i]!], p.shape))));
      const ints = tf.range(0, 24, 1, 'int32').reshape([4, 6]);
      expect(tf.slice(ints, [1, 2], [2, 3]).arraySync()).toEqual([[8, 9, 10], [14, 15, 16]]);
      expect(tf.slice(x, [0, 4, 0], [-1, -1, -1]).shape).toEqual([2, 1, 6]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
