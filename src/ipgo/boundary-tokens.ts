/**
 * IPGO boundary tokens of one side (prefix or suffix): token_i = R_i(θ_i) · (W · clamp(z_i, ±bound) + b).
 *
 * Raw parameter x ∈ R^{n×(m+2)}: row i holds the coefficients z_i = x[i, :m] and the angles θ_i = x[i, m:m+2];
 * W ∈ R^{D×m} (orthonormal columns, shared by the side's n tokens), b ∈ R^D. The clamps are forward-pass clamps as
 * in the notebook (gradient 0 outside the range). With rotation "off" the angles are unused (zero gradient), which
 * is what the released notebook ran.
 */
import * as tf from '@tensorflow/tfjs';
import { basisWidth, sideShapes, validateBoundaryShape, type BoundaryShape } from './config';
import { orthonormalizeHost } from './orthonormal';
import type { Rng } from './rng';
import { rotateTokens, rotateTokensHost } from './rotation';

/** One side's parameters as tensors (tf.Variables qualify). */
export interface SideParams {
  x: tf.Tensor2D;
  W: tf.Tensor2D;
  b: tf.Tensor1D;
}

/** One side's parameters on the host, row-major float32. */
export interface SideHost {
  x: Float32Array;
  W: Float32Array;
  b: Float32Array;
}

function checkSideShapes(p: SideParams, shape: BoundaryShape): void {
  const want = sideShapes(shape);
  const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
  for (const [name, t, w] of [['x', p.x, want.x], ['W', p.W, want.W], ['b', p.b, want.b]] as const) {
    if (!same(t.shape, w)) throw new Error(`boundary tokens: ${name} must be [${w}], got [${t.shape}]`);
  }
}

/** The side's n tokens [n, D]; differentiable with respect to x, W and b. */
export function boundaryTokens(p: SideParams, shape: BoundaryShape): tf.Tensor2D {
  checkSideShapes(p, shape);
  const n = shape.numTokens, m = basisWidth(shape);
  return tf.tidy(() => {
    const coeff = tf.clipByValue(tf.slice(p.x, [0, 0], [n, m]), -shape.bound, shape.bound);
    // nn.Linear with weight W: W·c + b for every token row at once.
    const projected = tf.add(tf.matMul(coeff, p.W, false, true), p.b) as tf.Tensor2D;
    if (shape.rotation === 'off') return projected;
    const angles = tf.clipByValue(tf.slice(p.x, [0, m], [n, 2]), -Math.PI, Math.PI) as tf.Tensor2D;
    return rotateTokens(projected, angles);
  });
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const PI_F32 = Math.fround(Math.PI);

/** The same map on the host in float64 (validation of imported files, independent check in tests). */
export function boundaryTokensHost(p: SideHost, shape: BoundaryShape): Float64Array {
  const n = shape.numTokens, m = basisWidth(shape), d = shape.textDim;
  const out = new Float64Array(n * d);
  const angles = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    const xi = p.x.subarray(i * (m + 2), (i + 1) * (m + 2));
    for (let r = 0; r < d; r++) {
      let acc = p.b[r]!;
      const wr = p.W.subarray(r * m, (r + 1) * m);
      for (let j = 0; j < m; j++) acc += wr[j]! * clamp(xi[j]!, -shape.bound, shape.bound);
      out[i * d + r] = acc;
    }
    angles[i * 2] = clamp(xi[m]!, -PI_F32, PI_F32);
    angles[i * 2 + 1] = clamp(xi[m + 1]!, -PI_F32, PI_F32);
  }
  return shape.rotation === 'off' ? out : rotateTokensHost(out, angles, n, d);
}

/**
 * The notebook's initialisation: coefficients U(−1, 1)·bound, angles U(−π, π), W orthonormal (QR of a Gaussian with
 * R's diagonal made positive, like torch.nn.init.orthogonal_), b U(±1/√m) (nn.Linear's bias init, fan_in = m).
 * Draw order (fixed, so a seed reproduces a run): x row by row (m coefficients then 2 angles), then W's Gaussian
 * row-major, then b.
 */
export function initSideHost(shape: BoundaryShape, rng: Rng): SideHost {
  validateBoundaryShape(shape);
  const n = shape.numTokens, m = basisWidth(shape), d = shape.textDim;
  const x = new Float32Array(n * (m + 2));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) x[i * (m + 2) + j] = (2 * rng.uniform() - 1) * shape.bound;
    x[i * (m + 2) + m] = (2 * rng.uniform() - 1) * Math.PI;
    x[i * (m + 2) + m + 1] = (2 * rng.uniform() - 1) * Math.PI;
  }
  const W = Float32Array.from(orthonormalizeHost(rng.normalArray(d * m), d, m));
  const bb = 1 / Math.sqrt(m);
  const b = Float32Array.from(rng.uniformArray(d, -bb, bb));
  return { x, W, b };
}
