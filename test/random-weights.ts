import * as tf from '@tensorflow/tfjs';
import type { KeyShape } from '../src/model/params';
import { WeightStore } from '../src/model/weights';

/**
 * Random weights for a key/shape list, drawn like the tiny fixtures: matrices N(0,1)/√fan_in, norm weights
 * 1 + 0.1·N, other vectors 0.05·N, scalars 0. Deterministic per key (seeded by the key's index).
 */
export function randomTensor(key: string, shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    if (shape.length === 0) return tf.scalar(0);
    if (shape.length === 1) {
      const isNormWeight = /(norm\w*|ln_\w+|ln_final|layer_norm\d)\.weight$/.test(key);
      const n = tf.randomNormal(shape, 0, 1, 'float32', seed);
      return isNormWeight ? tf.add(1, tf.mul(n, 0.1)) : tf.mul(n, 0.05);
    }
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    return tf.randomNormal(shape, 0, 1 / Math.sqrt(fanIn), 'float32', seed);
  });
}

/** All tensors allocated now (for tiny configs). */
export function randomStore(keys: KeyShape[], seed = 1): WeightStore {
  return new WeightStore(new Map(keys.map((k, i) => [k.key, randomTensor(k.key, k.shape, seed * 100_003 + i)])));
}

/**
 * A store whose tensors are drawn when a builder takes them and freed a few takes later (builders copy or
 * transpose what they take right away), so a model of several GB can be built with only the model itself in
 * memory. Only for random-weight benchmarks: a taken tensor is valid until `ring` further takes.
 */
class LazyRandomTensors extends Map<string, tf.Tensor> {
  private readonly recent: tf.Tensor[] = [];
  private readonly index: Map<string, { shape: number[]; i: number }>;

  constructor(keys: KeyShape[], private readonly seed: number, private readonly ring: number) {
    super();
    this.index = new Map(keys.map((k, i) => [k.key, { shape: k.shape, i }]));
  }

  override has(key: string): boolean {
    return this.index.has(key);
  }

  shapeOf(key: string): number[] | undefined {
    return this.index.get(key)?.shape;
  }

  override get(key: string): tf.Tensor | undefined {
    const e = this.index.get(key);
    if (!e) return undefined;
    const t = randomTensor(key, e.shape, this.seed * 100_003 + e.i);
    this.recent.push(t);
    if (this.recent.length > this.ring) this.recent.shift()!.dispose();
    return t;
  }

  override keys(): MapIterator<string> {
    return this.index.keys();
  }

  override values(): MapIterator<tf.Tensor> {
    return this.recent.values();
  }

  override clear(): void {
    for (const t of this.recent.splice(0)) t.dispose();
  }
}

export function lazyRandomStore(keys: KeyShape[], seed = 1, ring = 8): WeightStore {
  return new WeightStore(new LazyRandomTensors(keys, seed, ring));
}
