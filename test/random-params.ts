import * as tf from '@tensorflow/tfjs';
import type { ConvParams, EmbeddingTable, LinearParams, NormParams } from '../src/model/nn';
import type { ParamSource } from '../src/model/params';

/**
 * Seeded random parameters, drawn like the fixtures' tiny models (weights N(0,1)/√fan_in, biases 0.05·N(0,1),
 * norm γ = 1 + 0.1·N, β = 0.1·N, other tensors 0.02·N), in the layouts a checkpoint bind produces. For tests without checkpoint data and for
 * benchmarks: with `share`, every parameter of the same kind and shape is the same tensor, so a full-size SD1.5
 * UNet (3.4 GB of fp32 weights) runs with the exact same ops and shapes in a fraction of the memory.
 */
export class RandomParams implements ParamSource {
  private readonly state: { seed: number; cache: Map<string, unknown>; count: number };

  constructor(seed = 0, readonly share = false, state?: { seed: number; cache: Map<string, unknown>; count: number }) {
    this.state = state ?? { seed, cache: new Map(), count: 0 };
  }

  /** Number of parameter values declared (what a non-shared model would hold). */
  get declaredParameters(): number {
    return this.state.count;
  }

  private memo<T>(id: string, make: () => T): T {
    if (!this.share) return make();
    let v = this.state.cache.get(id) as T | undefined;
    if (v === undefined) this.state.cache.set(id, (v = make()));
    return v;
  }

  private normal(shape: number[], mean: number, std: number): tf.Tensor {
    return tf.keep(tf.randomNormal(shape, mean, std, 'float32', this.state.seed++));
  }

  private transposed(t: tf.Tensor): tf.Tensor {
    const out = tf.keep(tf.transpose(t));
    t.dispose();
    return out;
  }

  linear(_key: string, inF: number, outF: number, bias: boolean): LinearParams {
    this.state.count += inF * outF + (bias ? outF : 0);
    return this.memo(`linear ${inF} ${outF} ${bias}`, () => ({
      // drawn [in, out] and stored in torch layout, so a seed gives the same model as the earlier [in, out] layout
      w: this.transposed(this.normal([inF, outF], 0, 1 / Math.sqrt(inF))) as tf.Tensor2D,
      b: bias ? (this.normal([outF], 0, 0.05) as tf.Tensor1D) : undefined,
    }));
  }

  conv(_key: string, inC: number, outC: number, k: number, stride: number, pad: number, bias = true): ConvParams {
    this.state.count += inC * outC * k * k + (bias ? outC : 0);
    const p = this.memo(`conv ${inC} ${outC} ${k} ${bias}`, () => ({
      w: this.normal([k, k, inC, outC], 0, 1 / Math.sqrt(inC * k * k)) as tf.Tensor4D,
      b: bias ? (this.normal([outC], 0, 0.05) as tf.Tensor1D) : undefined,
    }));
    return { ...p, stride, pad };
  }

  patchLinear(key: string, inC: number, outC: number, k: number): LinearParams {
    return this.linear(key, k * k * inC, outC, false);
  }

  norm(_key: string, channels: number, eps: number): NormParams {
    this.state.count += 2 * channels;
    const p = this.memo(`norm ${channels}`, () => ({
      gamma: this.normal([channels], 1, 0.1) as tf.Tensor1D,
      beta: this.normal([channels], 0, 0.1) as tf.Tensor1D,
    }));
    return { ...p, eps };
  }

  tensor(_key: string, shape: number[]): tf.Tensor {
    this.state.count += shape.reduce((a, b) => a * b, 1);
    return this.memo(`tensor ${shape}`, () => this.normal(shape, 0, 0.02));
  }

  embedding(key: string, rows: number, dim: number): EmbeddingTable {
    return { parts: [this.tensor(key, [rows, dim]) as tf.Tensor2D], rowsPerPart: rows };
  }

  ignore(): void {}

  sub(_prefix: string): ParamSource {
    return new RandomParams(0, this.share, this.state);
  }
}
