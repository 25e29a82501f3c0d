import * as tf from '@tensorflow/tfjs';
import { backpropagateRecorded, leanValueAndGrads, recordTape, savedTensors, type TapeNode } from './lean-grad';

/**
 * Gradient checkpointing for tfjs autodiff (torch.utils.checkpoint semantics).
 *
 * Why: while tf.grads runs, tfjs keeps every tensor each op saved for its backward, plus every intermediate
 * gradient, until the whole backward ends (and on tfjs-wasm each saved tensor is a copy). At SD1.5 size one UNet
 * forward+backward then holds every block's activations at once, far beyond any GPU's memory at 64×64 latents.
 * `checkpoint(f, inputs)` runs `f` as one op that saves only its tensor inputs; its gradient recomputes `f` under
 * its own nested tape and backpropagates through it, so the backward holds one checkpointed unit's activations at
 * a time plus the stored unit inputs, for the cost of one extra forward.
 *
 * Only active while a gradient tape records (inside tf.grad/tf.grads, not inside another op's forward): plain
 * forward passes call `f` directly, so inference paths are unaffected. Numerics are unchanged: the recomputation
 * runs the same ops on the same inputs (only the summation order of gradients shared by several units differs).
 *
 * `f` must depend on tensors only through `inputs` (or through weights it closes over, which are constants to
 * autodiff): a tensor captured from the caller's tidy scope would be disposed before the backward runs.
 */
export function checkpoint<T extends tf.Tensor>(f: (...xs: tf.Tensor[]) => T, inputs: tf.Tensor[]): T {
  if (!tapeIsRecording()) return f(...inputs);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    (args[inputs.length] as tf.GradSaveFunc)(xs);
    return {
      value: f(...xs),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => recomputeGrads(f, saved, dy),
    };
  });
  return op(...inputs) as T;
}

/**
 * The opposite trade to `checkpoint`: `f` runs once and keeps what its ops save (no recomputation), but as one op
 * whose backward frees those tensors and its intermediate gradients as it goes (lean-grad.ts). Plain autodiff
 * under tfjs's tf.grads would keep both until the whole backward ends, several times what the unit saves.
 * Same contract on `f` as `checkpoint`; numerics are those of plain autodiff.
 */
export function retain<T extends tf.Tensor>(f: (...xs: tf.Tensor[]) => T, inputs: tf.Tensor[]): T {
  if (!tapeIsRecording()) return f(...inputs);
  let kept: tf.Tensor[] = [];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    const recorded = recordTape(() => [f(...xs)]);
    kept = savedTensors(recorded);
    return {
      value: recorded.ys[0]!,
      gradFunc: (dy: tf.Tensor) => backpropagateRecorded(recorded, xs, [dy]),
    };
  });
  const y = op(...inputs) as T;
  // the outer tape frees what this op's node saved when its backward ends, also where it never reaches this op
  const node = tf.engine().state.activeTape?.at(-1) as TapeNode | undefined;
  if (node) node.saved = [...(node.saved ?? []), ...kept];
  return y;
}

/** Whether ops run now are recorded for a gradient (tfjs' Engine.isTapeOn, which is not public API). */
export function tapeIsRecording(): boolean {
  const state = tf.engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** vjp of f at xs with cotangent dy, by re-running f on a nested tape; inputs f does not use get zeros. */
function recomputeGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  return nestedTape(() => {
    const { value, grads } = leanValueAndGrads(() => f(...xs), xs, dy);
    value.dispose();
    return grads;
  });
}

/**
 * Runs a gradient computation inside another gradient's backward pass. tfjs 4.22's engine starts a fresh tape
 * for it (the outer backward runs at gradient depth 0) and sets `activeTape = null` when it ends, which would make
 * the outer gradient crash when it frees its own saved tensors; so the outer tape is put back afterwards.
 */
export function nestedTape<T>(f: () => T): T {
  const state = tf.engine().state;
  const outer = state.activeTape;
  try {
    return f();
  } finally {
    state.activeTape = outer;
  }
}
