/**
 * The pairwise 2-D rotations of the IPGO reference `design_embedding_2d(embed, angles_i, D, start_dim=i)`,
 * vectorized over tokens with differentiable tf ops.
 *
 * For token i and angle index k = 0, 1 in order (the second rotation acts on the first's output), with
 * θ = angles[i, k] and s = i + k, the D/2 disjoint pairs (a_j, b_j) = ((s + 2j) mod D, (s + 2j + 1) mod D) turn by θ:
 * (v_a, v_b) ← (v_a cosθ − v_b sinθ, v_a sinθ + v_b cosθ), both from the old values.
 *
 * Since D is even, the pairing depends only on the parity of s: even s pairs (0,1), (2,3), …; odd s pairs
 * (1,2), …, (D−1, 0), which is the even pairing of v rolled left by one. So every row is rotated with the even
 * pairing (a reshape to [n, D/2, 2]), rows with odd s being rolled left before and right after; the two branches
 * are blended with a 0/1 row mask (constant), which costs two extra cheap elementwise passes instead of a gather.
 */
import * as tf from '@tensorflow/tfjs';

/** Rotates the pairs (0,1), (2,3), … of every row of v [n, D] by that row's angle θ [n]. */
function rotateEvenPairs(v: tf.Tensor2D, theta: tf.Tensor1D): tf.Tensor2D {
  const [n, d] = v.shape;
  const pairs = tf.reshape(v, [n, d / 2, 2]);
  const x = tf.slice(pairs, [0, 0, 0], [n, d / 2, 1]);
  const y = tf.slice(pairs, [0, 0, 1], [n, d / 2, 1]);
  const c = tf.reshape(tf.cos(theta), [n, 1, 1]);
  const s = tf.reshape(tf.sin(theta), [n, 1, 1]);
  const xr = tf.sub(tf.mul(x, c), tf.mul(y, s));
  const yr = tf.add(tf.mul(x, s), tf.mul(y, c));
  return tf.reshape(tf.concat([xr, yr], 2), [n, d]);
}

/** v[:, (p + shift) mod D] for shift ∈ {1, −1}: a roll along the last axis. */
function roll(v: tf.Tensor2D, shift: 1 | -1): tf.Tensor2D {
  const [n, d] = v.shape;
  const cut = shift === 1 ? 1 : d - 1;
  return tf.concat([tf.slice(v, [0, cut], [n, d - cut]), tf.slice(v, [0, 0], [n, cut])], 1);
}

/** Rotates each row's pairs by θ [n], starting at an even dimension where oddStart [n, 1] is 0, an odd one where 1. */
function rotatePairsFrom(v: tf.Tensor2D, theta: tf.Tensor1D, oddStart: tf.Tensor2D): tf.Tensor2D {
  const even = rotateEvenPairs(v, theta);
  const odd = roll(rotateEvenPairs(roll(v, 1), theta), -1);
  return tf.add(tf.mul(odd, oddStart), tf.mul(even, tf.sub(1, oddStart)));
}

/** [n, 1] mask, 1 where (i + k) is odd. */
function oddStartMask(n: number, k: number): tf.Tensor2D {
  return tf.tensor2d(Array.from({ length: n }, (_, i) => (i + k) % 2), [n, 1]);
}

/**
 * Applies design_embedding_2d to every token: v [n, D] (token i in row i, start_dim i), angles [n, 2].
 * D must be even (the pairs are disjoint).
 */
export function rotateTokens(v: tf.Tensor2D, angles: tf.Tensor2D): tf.Tensor2D {
  const [n, d] = v.shape;
  if (d % 2 !== 0) throw new Error(`rotateTokens: D must be even, got ${d}`);
  if (angles.shape[0] !== n || angles.shape[1] !== 2) {
    throw new Error(`rotateTokens: angles must be [${n}, 2], got [${angles.shape}]`);
  }
  return tf.tidy(() => {
    let out = v;
    for (let k = 0; k < 2; k++) {
      const theta = tf.reshape(tf.slice(angles, [0, k], [n, 1]), [n]) as tf.Tensor1D;
      out = rotatePairsFrom(out, theta, oddStartMask(n, k));
    }
    return out;
  });
}

/**
 * The same rotation on the host in float64, written pair by pair exactly as the reference states it
 * (used to validate imported token files and as an independent check in tests). v is row-major [n, D].
 */
export function rotateTokensHost(v: ArrayLike<number>, angles: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = Float64Array.from(v);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * d, (i + 1) * d);
    for (let k = 0; k < 2; k++) {
      const th = angles[i * 2 + k]!;
      const c = Math.cos(th), s = Math.sin(th);
      for (let j = 0; j < d / 2; j++) {
        const a = (i + 2 * j + k) % d, b = (i + 2 * j + 1 + k) % d;
        const va = row[a]!, vb = row[b]!;
        row[a] = va * c - vb * s;
        row[b] = va * s + vb * c;
      }
    }
  }
  return out;
}
