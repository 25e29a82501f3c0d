import * as tf from '@tensorflow/tfjs';

/**
 * Reverse-mode gradients like tfjs's `engine.gradients` (same tape, same gradient functions, same accumulation
 * order, so the same values), but freeing memory as the backward goes. tfjs keeps every intermediate gradient and
 * every tensor an op saved until the whole backward ends; here a node's output gradients and saved tensors are
 * freed as soon as its input gradients exist — each output's gradient is complete by then, since nodes are
 * visited in reverse order. A backward then holds the forward's saved tensors still ahead of it plus the
 * gradients in flight, not all of both.
 */

export interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number; kernelDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/** The nodes on a path from `xs` to `ys`, each with only the inputs that lie on such a path (tfjs's rule). */
function nodesFromXsToY(tape: TapeNode[], xs: tf.Tensor[], ys: tf.Tensor[]): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const onPath: boolean[] = tape.map((node) => {
    if (!Object.values(node.inputs).some((t) => fromX.has(t.id))) return false;
    for (const o of node.outputs) fromX.add(o.id);
    return true;
  });
  const toY = new Set(ys.map((y) => y.id));
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (!node.outputs.some((o) => toY.has(o.id))) {
      onPath[i] = false;
      continue;
    }
    for (const t of Object.values(node.inputs)) toY.add(t.id);
  }
  const out: TapeNode[] = [];
  tape.forEach((node, i) => {
    if (!onPath[i]) return;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id) && toY.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  });
  return out;
}

/** value f(xs) and d⟨f, dy⟩/d xs (dy = ones when omitted); xs without a path to f get zeros. The caller disposes all. */
export function leanValueAndGrads(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): { value: tf.Tensor; grads: tf.Tensor[] } {
  const { values, grads } = leanVjp(() => [f()], xs, dy ? [dy] : undefined);
  return { value: values[0]!, grads };
}

/**
 * The vjp of a function with several outputs: d Σ_j ⟨f_j, dys_j⟩ / d xs, seeded with the cotangents directly (no
 * Σ⟨f, dy⟩ graph, whose backward would add three output-sized tensors). dys default to ones; they stay the caller's.
 */
export function leanVjp(f: () => tf.Tensor[], xs: tf.Tensor[], dys?: tf.Tensor[]): { values: tf.Tensor[]; grads: tf.Tensor[] } {
  const engine = tf.engine() as unknown as EngineInternals;
  const ys = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy('forward', f));
  const tape = engine.state.activeTape ?? [];
  return engine.tidy('backward', () => {
    const grads = backpropagate(tape, xs, ys, dys);
    if (engine.state.gradientDepth === 0) engine.state.activeTape = null;
    return { values: ys, grads };
  });
}

/** A forward recorded on its own tape inside another op's forward (see recordTape). */
export interface RecordedTape { ys: tf.Tensor[]; tape: TapeNode[] }

/**
 * Runs f while recording its ops on a fresh tape, although the caller is itself the forward of a custom op (where
 * tfjs records nothing): the tape and f's outputs are returned for a later `backpropagateRecorded`. Each recorded
 * op's saved tensors are kept (tfjs keeps them out of tidy scopes) until that backward frees them.
 */
export function recordTape(f: () => tf.Tensor[]): RecordedTape {
  const engine = tf.engine() as unknown as EngineInternals;
  const state = engine.state;
  const outer = { tape: state.activeTape, kernelDepth: state.kernelDepth };
  state.activeTape = [];
  state.kernelDepth = 0;
  try {
    const ys = engine.tidy('forward', f);
    return { ys, tape: state.activeTape };
  } finally {
    state.activeTape = outer.tape;
    state.kernelDepth = outer.kernelDepth;
  }
}

/** The tensors a recorded tape keeps for its backward. */
export function savedTensors(recorded: RecordedTape): tf.Tensor[] {
  return recorded.tape.flatMap((node) => node.saved ?? []);
}

/** d Σ_j ⟨ys_j, dys_j⟩ / d xs over a recorded tape, freeing its saved tensors as it goes. */
export function backpropagateRecorded(recorded: RecordedTape, xs: tf.Tensor[], dys: tf.Tensor[]): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineInternals;
  return engine.tidy('backward', () => backpropagate(recorded.tape, xs, recorded.ys, dys));
}

/** The reverse pass of leanVjp over `tape` (inside a tidy); dys default to ones and stay the caller's. */
function backpropagate(tape: TapeNode[], xs: tf.Tensor[], ys: tf.Tensor[], dys?: tf.Tensor[]): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineInternals;
  const nodes = nodesFromXsToY(tape, xs, ys);
  const grad = new Map<number, tf.Tensor>(ys.map((y, j) => [y.id, dys?.[j] ?? tf.onesLike(y)]));
  const seeds = new Set(dys ?? []);
  const keep = new Set<number>([...xs.map((x) => x.id)]);
  // saved tensors are freed early only where tfjs frees them at the end (not under a higher-order gradient)
  const freeSaved = engine.state.gradientDepth === 0;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.gradient) throw new Error(`no gradient registered for ${node.kernelName}`);
    const nodeDys = node.outputs.map((o) => grad.get(o.id) ?? null);
    const thunks = node.gradient(nodeDys);
    for (const [name, x] of Object.entries(node.inputs)) {
      const dx = tf.tidy(() => thunks[name]!());
      const acc = grad.get(x.id);
      if (acc) {
        grad.set(x.id, tf.add(acc, dx));
        tf.dispose([acc, dx]);
      } else {
        grad.set(x.id, dx);
      }
    }
    // this node was the last reader of its outputs' gradients and of what it saved
    for (const o of node.outputs) {
      const g = grad.get(o.id);
      if (g && !keep.has(o.id) && !seeds.has(g)) g.dispose();
      grad.delete(o.id);
    }
    if (freeSaved) for (const t of node.saved ?? []) t.dispose();
  }
  if (freeSaved) for (const node of tape) for (const t of node.saved ?? []) t.dispose();
  return xs.map((x) => grad.get(x.id) ?? tf.zerosLike(x));
}

/** d⟨f(...xs), dy⟩ / d xs, freeing as it goes (see above); the value is disposed. */
export function leanGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor): tf.Tensor[] {
  const { value, grads } = leanValueAndGrads(() => f(...xs), xs, dy);
  value.dispose();
  return grads;
}
