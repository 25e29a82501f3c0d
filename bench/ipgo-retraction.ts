/**
 * Measures the candidate retractions for IPGO's W ∈ R^{768×300} (WᵀW = I) after an Adam-like step:
 * Newton–Schulz polar iterations with tf ops (float32), tf.linalg.qr (Householder), and float64 modified
 * Gram–Schmidt (twice) in JS. Prints time per call and the resulting max|WᵀW − I| (computed in float64).
 * Also times the full-size token map (n = 10, r = 30, D = 768) forward + backward and the seeded initialisation.
 * Usage: npx tsx bench/ipgo-retraction.ts   (TF_BACKEND=cpu|wasm)
 */
import * as tf from '@tensorflow/tfjs';
import { initNodeBackend } from '../tools/lib/tf-node';
import { Rng } from '../src/ipgo/rng';
import { boundaryTokens, initSideHost } from '../src/ipgo/boundary-tokens';
import type { BoundaryShape } from '../src/ipgo/config';
import { orthonormalizeHost, orthonormalityErrorHost, polarNewtonSchulz } from '../src/ipgo/orthonormal';

const D = 768, M = 300, REPS = 5;

async function time<T>(label: string, f: () => T | Promise<T>, check: (r: T) => number): Promise<void> {
  await f(); // warm-up
  const t0 = performance.now();
  let r!: T;
  for (let i = 0; i < REPS; i++) r = await f();
  const ms = (performance.now() - t0) / REPS;
  console.log(`${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms   max|WᵀW−I| = ${check(r).toExponential(2)}`);
}

const backend = await initNodeBackend();
const rng = new Rng(1);
const w0 = orthonormalizeHost(rng.normalArray(D * M), D, M);
// An Adam-like step: every entry moves by ±lr.
const stepped = Float32Array.from(w0, (v) => v + (rng.uniform() < 0.5 ? -1e-3 : 1e-3));
console.log(`backend ${backend}; W ${D}×${M}; deviation before retraction ${orthonormalityErrorHost(stepped, D, M).toExponential(2)}`);

const wT = tf.tensor2d(stepped, [D, M]);
for (const it of [2, 3]) {
  await time(`tf Newton–Schulz float32, ${it} iterations`, async () => {
    const r = polarNewtonSchulz(wT, it);
    const d = await r.data();
    r.dispose();
    return d;
  }, (d) => orthonormalityErrorHost(d as Float32Array, D, M));
}
await time('tf.linalg.qr (Householder)', async () => {
  const [q, r] = tf.linalg.qr(wT);
  const d = await q.data();
  q.dispose();
  r.dispose();
  return d;
}, (d) => orthonormalityErrorHost(d as Float32Array, D, M));
await time('JS float64 MGS×2 (incl. float32 rounding)', () => Float32Array.from(orthonormalizeHost(stepped, D, M)),
  (d) => orthonormalityErrorHost(d, D, M));
wT.dispose();

const shape: BoundaryShape = { numTokens: 10, rank: 30, textDim: D, bound: 1, rotation: 'intended' };
let side = initSideHost(shape, rng);
await time('initSideHost (float64 QR of a 768×300 Gaussian)', () => (side = initSideHost(shape, rng)), (s) => orthonormalityErrorHost(s.W, D, M));
const x = tf.tensor2d(side.x, [10, M + 2]), W = tf.tensor2d(side.W, [D, M]), b = tf.tensor1d(side.b);
const dy = tf.randomNormal([10, D]);
await time('token map forward + backward (n 10, r 30, D 768)', async () => {
  const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
    boundaryTokens({ x: xx as tf.Tensor2D, W: ww as tf.Tensor2D, b: bb as tf.Tensor1D }, shape))([x, W, b], dy);
  await g[1]!.data();
  tf.dispose(g);
  return 0;
}, () => 0);
tf.dispose([x, W, b, dy]);
