import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { orthonormalityError, orthonormalityErrorHost, orthonormalizeHost, polarNewtonSchulz, retractToStiefel } from './orthonormal';
import { Rng } from './rng';

describe('orthonormal columns', () => {
  it('float64 Gram–Schmidt QR: orthonormal to 1e-13, R with positive diagonal (sign fix), same span', () => {
    const [rows, cols] = [40, 12];
    const a = new Rng(1).normalArray(rows * cols);
    const q = orthonormalizeHost(a, rows, cols);
    expect(orthonormalityErrorHost(q, rows, cols)).toBeLessThan(1e-13);
    // R = QᵀA must be upper triangular with a positive diagonal.
    for (let i = 0; i < cols; i++) {
      for (let j = 0; j <= i; j++) {
        let r = 0;
        for (let k = 0; k < rows; k++) r += q[k * cols + i]! * a[k * cols + j]!;
        if (j < i) expect(Math.abs(r)).toBeLessThan(1e-12);
        else expect(r).toBeGreaterThan(0);
      }
    }
    expect(() => orthonormalizeHost(new Float64Array(rows * cols), rows, cols)).toThrow(/linearly dependent/);
  });

  it('Newton–Schulz retraction keeps max|WᵀW − I| < 1e-5 (float32) through 100 Adam-like updates, without leaks', async () => {
    const [rows, cols] = [96, 40];
    const rng = new Rng(4);
    const before = tf.memory().numTensors;
    let w = tf.tensor2d(Float32Array.from(orthonormalizeHost(rng.normalArray(rows * cols), rows, cols)), [rows, cols]);
    let worst = 0;
    for (let step = 0; step < 100; step++) {
      // Adam's early steps move every entry by ≈ ±lr; later ones by less.
      const delta = tf.tensor2d(Float32Array.from(rng.uniformArray(rows * cols, -1e-3, 1e-3)).map((v) => v + Math.sign(v) * 5e-4), [rows, cols]);
      const moved = tf.add(w, delta) as tf.Tensor2D;
      const next = await retractToStiefel(moved);
      tf.dispose([w, delta, moved]);
      w = next;
      const e = orthonormalityError(w);
      worst = Math.max(worst, e.dataSync()[0]!);
      e.dispose();
    }
    expect(worst).toBeLessThan(1e-5);
    expect(orthonormalityErrorHost(w.dataSync(), rows, cols)).toBeLessThan(1e-5);
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the polar retraction is the nearest orthonormal matrix: it leaves an orthonormal W (almost) unchanged', () => {
    const [rows, cols] = [30, 10];
    const q = Float32Array.from(orthonormalizeHost(new Rng(8).normalArray(rows * cols), rows, cols));
    const w = tf.tensor2d(q, [rows, cols]);
    const r = polarNewtonSchulz(w, 3);
    const diff = Array.from(r.dataSync()).reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]!)), 0);
    expect(diff).toBeLessThan(1e-6);
    tf.dispose([w, r]);
  });

  it('refuses to retract a matrix too far from orthonormal or non-finite', async () => {
    const far = tf.mul(tf.eye(6, 3), 3) as tf.Tensor2D;
    await expect(retractToStiefel(far)).rejects.toThrow(/too far from orthonormal/);
    const nan = tf.fill([6, 3], NaN) as tf.Tensor2D;
    await expect(retractToStiefel(nan)).rejects.toThrow(/not finite/);
    tf.dispose([far, nan]);
  });
});
