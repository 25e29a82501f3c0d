import * as tf from '@tensorflow/tfjs';
import { silu, type LinearParams } from '../nn';
import type { ParamSource } from '../params';
import { linear } from '../input-grad-ops';

/**
 * diffusers `Timesteps` (get_timestep_embedding): half = dim/2, f_k = exp(−ln(10000)·k / (half − freq_shift)),
 * emb = [sin(t·f), cos(t·f)], swapped to [cos, sin] when flip_sin_to_cos. Computed in float32 from a float
 * timestep (fractional LMS timesteps are used as is), like torch. `t` is [B] (one timestep per batch row).
 */
export function timestepProjection(t: tf.Tensor1D, dim: number, flipSinToCos: boolean, freqShift: number): tf.Tensor2D {
  return tf.tidy(() => {
    const half = Math.floor(dim / 2);
    const exponent = tf.div(tf.mul(tf.range(0, half, 1, 'float32'), -Math.log(10000)), half - freqShift);
    const args = tf.mul(t.reshape([-1, 1]), tf.exp(exponent).reshape([1, half]));
    const [sin, cos] = [tf.sin(args), tf.cos(args)];
    let emb = flipSinToCos ? tf.concat([cos, sin], 1) : tf.concat([sin, cos], 1);
    if (dim % 2 === 1) emb = tf.pad(emb, [[0, 0], [0, 1]]);
    return emb as tf.Tensor2D;
  });
}

/** diffusers `TimestepEmbedding`: linear_1 → silu → linear_2. */
export class TimestepEmbedding {
  readonly linear1: LinearParams;
  readonly linear2: LinearParams;
  constructor(src: ParamSource, inDim: number, embedDim: number) {
    this.linear1 = src.linear('linear_1', inDim, embedDim, true);
    this.linear2 = src.linear('linear_2', embedDim, embedDim, true);
  }
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => linear(silu(linear(x, this.linear1)), this.linear2) as tf.Tensor2D);
  }
}

/** A timestep given as a number, a scalar, [1] or [B] → float32 [B] (diffusers broadcasts to the batch). */
export function timestepsForBatch(timestep: number | tf.Tensor, batch: number): tf.Tensor1D {
  return tf.tidy(() => {
    const t = (typeof timestep === 'number' ? tf.scalar(timestep) : timestep).cast('float32').reshape([-1]);
    if (t.shape[0] !== 1 && t.shape[0] !== batch) throw new Error(`timestep has ${t.shape[0]} values for a batch of ${batch}`);
    return tf.broadcastTo(t, [batch]) as tf.Tensor1D;
  });
}
