import * as tf from '@tensorflow/tfjs';
import { leanValueAndGrads, leanVjp } from './lean-grad';

/** One step of a sequential network: tensors in, tensors out (e.g. a VAE resnet on channel chunks). */
export type Stage = (xs: tf.Tensor[]) => tf.Tensor[];

export interface StagedResult {
  /** head(stages(input)), kept. */
  value: tf.Scalar;
  /** d value / d input, one per input tensor. */
  grads: tf.Tensor[];
}

/**
 * value and input gradient of `head(stages(input))`, holding one stage's graph at a time. The stages come in
 * groups (e.g. a decoder's blocks). Forward runs them without a tape and stores only each group's input; the head
 * (e.g. the rewards) is differentiated on its own tape; then, from the last group, the group is run forward again
 * storing each of its stages' inputs, and each stage, from the last, is re-run under a tape and its vjp taken with
 * the cotangent of its outputs, after which its input is freed. Peak: the group inputs, one group's stage inputs,
 * one stage's forward + backward — not every stage's saved activations at once, as one tape would hold — for one
 * extra forward of the stages. `betweenStages` runs after each vjp (the memory plan returns the GPU's pool there).
 */
export function stagedValueAndGrad(groups: Stage[][], input: tf.Tensor[], head: (out: tf.Tensor[]) => tf.Scalar, betweenStages: () => void = () => {}): StagedResult {
  const groupInputs: tf.Tensor[][] = [input];
  try {
    for (const group of groups) groupInputs.push(runStageList(group, groupInputs[groupInputs.length - 1]!).map((y) => tf.keep(y)));
    const out = groupInputs.pop()!;
    let lambda: tf.Tensor[];
    let value: tf.Scalar;
    try {
      const r = leanValueAndGrads(() => head(out), out);
      value = r.value as tf.Scalar;
      lambda = r.grads;
    } finally {
      tf.dispose(out);
    }
    betweenStages();
    for (let g = groups.length - 1; g >= 0; g--) {
      lambda = groupVjp(groups[g]!, groupInputs[g]!, lambda, betweenStages);
      if (g > 0) tf.dispose(groupInputs.pop());
    }
    return { value: value!, grads: lambda };
  } finally {
    for (const xs of groupInputs.slice(1)) tf.dispose(xs);
  }
}

/** The vjp of one group at `input` with the cotangent of its output (consumed): stage by stage, from the last. */
function groupVjp(stages: Stage[], input: tf.Tensor[], cotangent: tf.Tensor[], betweenStages: () => void): tf.Tensor[] {
  const stored: tf.Tensor[][] = [input];
  let lambda = cotangent;
  try {
    for (const stage of stages.slice(0, -1)) stored.push(tf.tidy(() => stage(stored[stored.length - 1]!)).map((y) => tf.keep(y)));
    for (let s = stages.length - 1; s >= 0; s--) {
      const dy = lambda;
      try {
        const { values, grads } = leanVjp(() => stages[s]!(stored[s]!), stored[s]!, dy);
        tf.dispose(values);
        lambda = grads;
      } finally {
        tf.dispose(dy);
      }
      if (s > 0) tf.dispose(stored.pop());
      betweenStages();
    }
    return lambda;
  } finally {
    for (const xs of stored.slice(1)) tf.dispose(xs);
  }
}

/**
 * The stages' forward pass: each stage's output is freed once the next has used it (never the caller's `input`),
 * so about two stages' activations are alive at a time instead of every intermediate until the scope ends. This
 * holds under a gradient tape too: what an op saves for its backward is a clone the tape keeps (tfjs shares the
 * data), so freeing the stage's own handle returns only what no backward needs.
 */
export function runStageList(stages: Stage[], input: tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    let xs = input;
    for (const stage of stages) {
      const ys = stage(xs);
      if (xs !== input) for (const t of xs) if (!ys.includes(t)) t.dispose();
      xs = ys;
    }
    return xs;
  });
}
