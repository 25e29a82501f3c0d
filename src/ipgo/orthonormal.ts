/**
 * Keeping W ∈ R^{D×m} on the Stiefel manifold (WᵀW = I_m).
 *
 * Scheme: Adam on the Euclidean gradient, then a retraction after every optimizer step (the notebook instead
 * parametrizes W through torch's Householder `orthogonal` parametrization; any exact map or retraction keeps the
 * constraint, the method page allows either).
 *
 * Retraction = the polar factor W(WᵀW)^{-1/2}, i.e. the orthonormal matrix nearest to W in Frobenius norm, so the
 * step the optimizer chose is disturbed as little as possible and no column is privileged (a QR retraction depends
 * on the column order and needs a sign fix to be continuous). It is computed by Newton–Schulz iterations
 * X ← X(3I − XᵀX)/2, which converge quadratically when the singular values are in (0, √3): after one Adam step
 * (every entry moves by ≈ lr = 1e-3) ‖WᵀW − I‖ is ~1e-3, so 2–3 iterations reach float32 round-off. They are two
 * matmuls each, run with tf ops on the training backend (WebGPU in the browser), so W never leaves the device —
 * see bench/ipgo-retraction.ts for the measured alternatives (tf.linalg.qr, float64 Gram–Schmidt in JS).
 *
 * A float64 Gram–Schmidt QR on the host (`orthonormalizeHost`) is used where W comes from outside the training
 * loop: the random initialisation (QR of a Gaussian, like torch.nn.init.orthogonal_) and imported matrices whose
 * deviation is too large for Newton–Schulz to be safe.
 */
import * as tf from '@tensorflow/tfjs';

/** max |WᵀW − I| of a row-major [rows, cols] host matrix, accumulated in float64. */
export function orthonormalityErrorHost(w: ArrayLike<number>, rows: number, cols: number): number {
  const colsMajor = toColumns(w, rows, cols);
  let err = 0;
  for (let i = 0; i < cols; i++) {
    const ci = colsMajor[i]!;
    for (let j = i; j < cols; j++) {
      const cj = colsMajor[j]!;
      let dot = 0;
      for (let k = 0; k < rows; k++) dot += ci[k]! * cj[k]!;
      err = Math.max(err, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return err;
}

function toColumns(w: ArrayLike<number>, rows: number, cols: number): Float64Array[] {
  if (w.length !== rows * cols) throw new Error(`matrix has ${w.length} values, expected ${rows}×${cols}`);
  const out: Float64Array[] = [];
  for (let j = 0; j < cols; j++) {
    const c = new Float64Array(rows);
    for (let k = 0; k < rows; k++) c[k] = w[k * cols + j]!;
    out.push(c);
  }
  return out;
}

/**
 * Q of the thin QR decomposition with R's diagonal positive (the sign fix of torch.nn.init.orthogonal_), by
 * modified Gram–Schmidt applied twice per column ("twice is enough", Giraud et al. 2005) in float64.
 * Input and output are row-major [rows, cols]; throws when the columns are (numerically) dependent.
 */
export function orthonormalizeHost(w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (cols > rows) throw new Error(`cannot orthonormalize ${cols} columns in dimension ${rows}`);
  const q = toColumns(w, rows, cols);
  for (let j = 0; j < cols; j++) {
    const v = q[j]!;
    let norm0 = 0;
    for (let k = 0; k < rows; k++) norm0 += v[k]! * v[k]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        const u = q[i]!;
        let dot = 0;
        for (let k = 0; k < rows; k++) dot += u[k]! * v[k]!;
        for (let k = 0; k < rows; k++) v[k] = v[k]! - dot * u[k]!;
      }
    }
    let norm = 0;
    for (let k = 0; k < rows; k++) norm += v[k]! * v[k]!;
    norm = Math.sqrt(norm);
    if (!(norm > 1e-10 * Math.sqrt(norm0)) || !Number.isFinite(norm)) {
      throw new Error(`column ${j} is linearly dependent on the previous ones (or not finite): cannot orthonormalize`);
    }
    for (let k = 0; k < rows; k++) v[k] = v[k]! / norm;
  }
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) for (let k = 0; k < rows; k++) out[k * cols + j] = q[j]![k]!;
  return out;
}

/** max |WᵀW − I| as a scalar tensor (float32 on the backend). */
export function orthonormalityError(w: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const g = tf.matMul(w, w, true, false);
    return tf.max(tf.abs(tf.sub(g, tf.eye(w.shape[1])))) as tf.Scalar;
  });
}

/**
 * One Newton–Schulz polar iteration X(3I − XᵀX)/2 = 1.5·X − 0.5·X(XᵀX). Converges to the polar factor for
 * singular values in (0, √3); callers check the deviation first (`retractToStiefel`).
 */
export function newtonSchulzStep(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const g = tf.matMul(x, x, true, false);
    return tf.sub(tf.mul(x, 1.5), tf.mul(tf.matMul(x, g), 0.5)) as tf.Tensor2D;
  });
}

/** Deviation above which Newton–Schulz is not trusted (‖WᵀW − I‖ must stay well below 2 for singular values < √3). */
export const NEWTON_SCHULZ_MAX_DEVIATION = 0.5;

/**
 * Polar retraction by Newton–Schulz: returns a new tensor (the caller disposes the input). `iterations` 3 is
 * enough for a deviation up to ~1e-2 in float32 (quadratic convergence: 1e-2 → 1e-4 → 1e-8 → round-off).
 * Throws if the input is too far from orthonormal (use `orthonormalizeHost` then) or not finite.
 */
export async function retractToStiefel(w: tf.Tensor2D, iterations = 3): Promise<tf.Tensor2D> {
  const devT = orthonormalityError(w);
  const dev = (await devT.data())[0]!;
  devT.dispose();
  if (!Number.isFinite(dev)) throw new Error('W is not finite: cannot retract to orthonormal columns');
  if (dev > NEWTON_SCHULZ_MAX_DEVIATION) {
    throw new Error(`W is too far from orthonormal for the polar retraction (max|WᵀW − I| = ${dev.toPrecision(3)})`);
  }
  return polarNewtonSchulz(w, iterations);
}

/** `iterations` Newton–Schulz steps without the deviation check (synchronous; no data read back). */
export function polarNewtonSchulz(w: tf.Tensor2D, iterations = 3): tf.Tensor2D {
  return tf.tidy(() => {
    let x = w;
    for (let i = 0; i < iterations; i++) x = newtonSchulzStep(x);
    return x === w ? w.clone() : x;
  });
}
