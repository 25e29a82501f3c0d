/**
 * Adam with torch.optim.Adam's semantics (defaults β = (0.9, 0.999), ε = 1e-8, no weight decay, no amsgrad),
 * following `_single_tensor_adam` operation by operation:
 *   t += 1;  m ← m + (1 − β1)(g − m)  (torch's lerp);  v ← β2·v + (1 − β2)·g²
 *   step_size = lr / (1 − β1^t);  denom = √v / √(1 − β2^t) + ε;  p ← p − step_size · m / denom
 * over a named set of tf.Variables. The moments are variables too; the state reads back to host arrays for
 * checkpoints and restores exactly.
 *
 * For IPGO's W (orthonormal columns) the update is Adam on the Euclidean gradient followed by a retraction
 * (orthonormal.ts): the moments stay in the ambient space, which is what the notebook's parametrized torch
 * optimizer amounts to as well (it runs Adam on the unconstrained parametrization's Euclidean gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_ADAM, type AdamConfig } from './config';

export interface AdamHostState<N extends string> {
  /** Optimizer steps taken (torch's per-parameter `step`, equal for all our parameters). */
  step: number;
  m: Record<N, Float32Array>;
  v: Record<N, Float32Array>;
}

export class Adam<N extends string> {
  lr: number;
  readonly cfg: AdamConfig;
  private t = 0;
  private readonly params: Record<N, tf.Variable>;
  private readonly m = {} as Record<N, tf.Variable>;
  private readonly v = {} as Record<N, tf.Variable>;

  constructor(params: Record<N, tf.Variable>, cfg: Partial<AdamConfig> = {}) {
    this.cfg = { ...DEFAULT_ADAM, ...cfg };
    const { lr, beta1, beta2, eps } = this.cfg;
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0)) {
      throw new Error(`Adam: invalid hyper-parameters ${JSON.stringify(this.cfg)}`);
    }
    this.lr = lr;
    this.params = params;
    for (const name of this.names()) {
      // tidy frees the zeros tensors; the variables keep their own reference to the data.
      this.m[name] = tf.tidy(() => tf.variable(tf.zerosLike(params[name]), false));
      this.v[name] = tf.tidy(() => tf.variable(tf.zerosLike(params[name]), false));
    }
  }

  names(): N[] {
    return Object.keys(this.params) as N[];
  }

  get stepCount(): number {
    return this.t;
  }

  /** One update with gradients by name (every parameter needs one; the caller keeps ownership of `grads`). */
  step(grads: Record<N, tf.Tensor>): void {
    for (const name of this.names()) {
      const g = grads[name];
      if (!g) throw new Error(`Adam.step: missing gradient for "${name}"`);
      if (g.shape.join() !== this.params[name].shape.join()) {
        throw new Error(`Adam.step: gradient for "${name}" is [${g.shape}], parameter is [${this.params[name].shape}]`);
      }
    }
    this.t += 1;
    const { beta1, beta2, eps } = this.cfg;
    const stepSize = this.lr / (1 - beta1 ** this.t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    for (const name of this.names()) {
      tf.tidy(() => {
        const g = grads[name];
        const m = this.m[name], v = this.v[name], p = this.params[name];
        const mNew = tf.add(m, tf.mul(tf.sub(g, m), 1 - beta1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), eps);
        m.assign(mNew);
        v.assign(vNew);
        p.assign(tf.sub(p, tf.mul(tf.div(mNew, denom), stepSize)));
      });
    }
  }

  async getState(): Promise<AdamHostState<N>> {
    const m = {} as Record<N, Float32Array>, v = {} as Record<N, Float32Array>;
    for (const name of this.names()) {
      m[name] = (await this.m[name].data()) as Float32Array;
      v[name] = (await this.v[name].data()) as Float32Array;
    }
    return { step: this.t, m, v };
  }

  /** Restores moments and step count; everything is validated before anything is assigned. */
  setState(state: AdamHostState<N>): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`Adam state: step must be a non-negative integer, got ${state.step}`);
    for (const name of this.names()) {
      const size = this.params[name].size;
      for (const [k, arr] of [['m', state.m[name]], ['v', state.v[name]]] as const) {
        if (!arr || arr.length !== size) throw new Error(`Adam state: ${k}["${name}"] must have ${size} values, got ${arr?.length}`);
      }
    }
    for (const name of this.names()) {
      const shape = this.params[name].shape;
      tf.tidy(() => {
        this.m[name].assign(tf.tensor(state.m[name], shape, 'float32'));
        this.v[name].assign(tf.tensor(state.v[name], shape, 'float32'));
      });
    }
    this.t = state.step;
  }

  dispose(): void {
    for (const name of this.names()) {
      this.m[name].dispose();
      this.v[name].dispose();
    }
  }
}
