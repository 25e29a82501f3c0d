import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from './params';

/**
 * A named set of weight tensors as a checkpoint stores them (torch layouts, HF/diffusers key names).
 * Modules `take` what they need while they build; afterwards `unusedKeys()` lists what no module claimed,
 * so a loader can report missing and unexpected keys exactly as torch's `load_state_dict(strict=True)` would.
 */
export class WeightStore {
  private readonly taken = new Set<string>();

  constructor(private readonly tensors: Map<string, tf.Tensor>, private readonly aliases: Record<string, string> = {}) {}

  has(key: string): boolean {
    return this.tensors.has(key) || (key in this.aliases && this.tensors.has(this.aliases[key]));
  }

  /** Returns the tensor for `key` (or its alias, e.g. a legacy VAE name); throws a clear error if absent. */
  take(key: string, expectShape?: number[]): tf.Tensor {
    const stored = this.tensors.has(key) ? key : this.aliases[key];
    const t = stored === undefined ? undefined : this.tensors.get(stored);
    if (!t || stored === undefined) throw new Error(`missing weight "${key}"`);
    if (expectShape && !shapesEqual(t.shape, expectShape)) {
      throw new Error(`weight "${key}" has shape [${t.shape}], expected [${expectShape}]`);
    }
    this.taken.add(stored);
    return t;
  }

  /** The stored shape of `key` (not an alias), without marking it taken. */
  shapeOf(key: string): number[] {
    // a lazily materialising map (random-weight benchmarks) answers from its index without drawing the tensor
    const index = this.tensors as Partial<{ shapeOf(key: string): number[] | undefined }>;
    const shape = index.shapeOf ? index.shapeOf(key) : this.tensors.get(key)?.shape;
    if (!shape) throw new Error(`missing weight "${key}"`);
    return shape;
  }

  /** Keys present in the checkpoint that no module took. */
  unusedKeys(): string[] {
    return [...this.tensors.keys()].filter((k) => !this.taken.has(k));
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  /** Scoped view: `sub('text_model.')` takes keys relative to that prefix, sharing the usage record. */
  sub(prefix: string): WeightScope {
    return new WeightScope(this, prefix);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

export class WeightScope {
  constructor(readonly store: WeightStore, readonly prefix: string) {}
  take(key: string, expectShape?: number[]): tf.Tensor {
    return this.store.take(this.prefix + key, expectShape);
  }
  has(key: string): boolean {
    return this.store.has(this.prefix + key);
  }
  sub(prefix: string): WeightScope {
    return new WeightScope(this.store, this.prefix + prefix);
  }
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Uploads decoded host tensors (e.g. from `parseSafetensors`) into a WeightStore. */
export function storeFromHost(
  host: Map<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>,
  aliases: Record<string, string> = {},
): WeightStore {
  const m = new Map<string, tf.Tensor>();
  for (const [k, t] of host) {
    const data = t.data instanceof Uint8Array ? Int32Array.from(t.data) : t.data;
    m.set(k, tf.tensor(data, t.shape, data instanceof Float32Array ? 'float32' : 'int32'));
  }
  return new WeightStore(m, aliases);
}

/** A WeightSource over decoded host tensors already in memory (small models, tests, goldens). */
export function sourceFromHost(host: Map<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array }>): WeightSource {
  return {
    listing: [...host].map(([key, t]) => ({ key, shape: t.shape })),
    read: async (key) => {
      const t = host.get(key);
      if (!t) throw new Error(`missing weight "${key}"`);
      return { shape: t.shape, data: t.data instanceof Uint8Array ? Int32Array.from(t.data) : t.data };
    },
  };
}

/** A WeightStore as a WeightSource; the store is disposed when the load is over (tests with random stores). */
export function storeSource(store: WeightStore): WeightSource {
  return {
    listing: store.keys().map((key) => ({ key, shape: store.shapeOf(key) })),
    read: async (key) => {
      const t = store.take(key);
      return { shape: t.shape, data: t.dataSync() as Float32Array | Int32Array };
    },
    close: () => store.dispose(),
  };
}
