import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { gegluGrad, gegluGradReference, gegluGradRows } from './wasm-geglu';

const relErr = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);
const maxAbs = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe('GEGLU backward kernel (one pass on tfjs-wasm)', () => {
  // gates spread over the erf's whole range, both signs, and far tails
  for (const [rows, inner, gateStd] of [[6, 5, 1], [64, 40, 3], [3, 7, 8]] as const) {
    it(`rows ${rows}, inner ${inner}, gate ~ N(0, ${gateStd}²): equals the reference ops within float32 rounding; no leaks`, () => {
      const h = tf.randomNormal([2, rows, inner], 0, 1, 'float32', 1);
      const gate = tf.randomNormal([2, rows, inner], 0, gateStd, 'float32', 2);
      const p = tf.concat([h, gate], -1);
      const dy = tf.randomNormal([2, rows, inner], 0, 1, 'float32', 3);
      expect(tf.getBackend()).toBe('wasm'); // the kernel's backend (elsewhere gegluGrad is the reference itself)
      const before = tf.memory().numTensors;
      const got = gegluGrad(p, dy);
      const ref = gegluGradReference(p, dy);
      expect(got.shape).toEqual(p.shape);
      expect(relErr(got, ref)).toBeLessThan(1e-6);
      expect(maxAbs(got, ref)).toBeLessThan(1e-5);
      tf.dispose([got, ref]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([h, gate, p, dy]);
    });
  }

  it('on the host: Φ(0) = 1/2 and φ(0)·0 = 0, so dp = [0, dy·h/2] at gate 0; dp = [dy·gate, dy·h] far in the upper tail', () => {
    const dp = new Float32Array(4);
    gegluGradRows(Float32Array.of(3, 0), Float32Array.of(2), dp.subarray(0, 2), 1);
    gegluGradRows(Float32Array.of(3, 20), Float32Array.of(2), dp.subarray(2, 4), 1);
    expect(Array.from(dp)).toEqual([0, 3, 40, 6]);
  });
});
