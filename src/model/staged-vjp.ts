import * as tf from '@tensorflow/tfjs';
import { tapeIsRecording } from './checkpoint-grad';

/** One step of a sequential network: tensors in, tensors out (e.g. a VAE resnet on channel chunks). */
export type Stage = (xs: tf.Tensor[]) => tf.Tensor[];

export interface StagedResult {
  /** head(stages(input)), kept. */
  value: tf.Scalar;
  /** d value / d input, one per input tensor. */
  grads: tf.Tensor[];
}

/**
 * value and input gradient of `head(stages(input))`, holding one stage's graph at a time. Forward runs the stages
 * without a tape and stores only each stage's input; the head (e.g. the rewards) is differentiated on its own
 * tape; then each stage, from the last, is re-run on its stored input under a tape and its vjp taken with the
 * cotangent of its outputs, after which its input is freed. Peak: the stored stage inputs still needed, plus one
 * stage's forward + backward — instead of every stage's saved activations at once, as one tape would hold.
 * `betweenStages` runs after each stage's vjp (the memory plan returns the GPU's buffer pool there).
 */
export function stagedValueAndGrad(stages: Stage[], input: tf.Tensor[], head: (out: tf.Tensor[]) => tf.Scalar, betweenStages: () => void = () => {}): StagedResult {
  const stored: tf.Tensor[][] = [input];
  try {
    for (const stage of stages) {
      const ys = tf.tidy(() => stage(stored[stored.length - 1]!));
      stored.push(ys.map((y) => tf.keep(y)));
    }
    const out = stored.pop()!;
    let lambda: tf.Tensor[];
    let value: tf.Scalar;
    try {
      const r = tf.valueAndGrads((...xs: tf.Tensor[]) => head(xs))(out);
      value = r.value;
      lambda = r.grads;
    } finally {
      tf.dispose(out);
    }
    betweenStages();
    for (let s = stages.length - 1; s >= 0; s--) {
      const xs = stored[s]!;
      const cotangent = lambda;
      try {
        lambda = tf.grads((...ins: tf.Tensor[]) => {
          const ys = stages[s]!(ins);
          return ys.map((y, j) => tf.sum(tf.mul(y, cotangent[j]!))).reduce((acc, t) => tf.add(acc, t)) as tf.Scalar;
        })(xs);
      } finally {
        tf.dispose(cotangent);
      }
      if (s > 0) tf.dispose(stored.pop());
      betweenStages();
    }
    return { value: value!, grads: lambda };
  } finally {
    for (const xs of stored.slice(1)) tf.dispose(xs);
  }
}

/** The stages' forward pass: each stage's output is freed once the next has used it (unless a tape records). */
export function runStageList(stages: Stage[], input: tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    let xs = input;
    for (const stage of stages) {
      const ys = stage(xs);
      if (xs !== input && !tapeIsRecording()) for (const t of xs) if (!ys.includes(t)) t.dispose();
      xs = ys;
    }
    return xs;
  });
}
