import * as tf from '@tensorflow/tfjs';
import { releaseBufferPool } from './gpu-memory';

/**
 * Weights that leave the GPU for a while and come back in place: the text towers, which IPGO runs once per prompt,
 * are read back to host memory for the length of an update (SD1.5's text encoder and HPSv2's text tower are
 * hundreds of MB) and re-uploaded afterwards into the same module objects, so every holder of the model sees them
 * again (uploaded at their first use). While away, the module's tensors are disposed: a use throws instead of reading stale memory.
 */
export interface Offloaded {
  /** Bytes moved off the GPU. */
  bytes: number;
  /** Puts every tensor back (idempotent). */
  restore(): void;
}

interface Slot { holder: Record<string | number, unknown>; key: string | number }
interface Away { shape: number[]; dtype: tf.DataType; data: tf.TypedArray; slots: Slot[] }

/** Every tensor field of `module` (nested objects, arrays), each tensor once with all the places that hold it. */
function tensorSlots(module: unknown): Map<tf.Tensor, Slot[]> {
  const found = new Map<tf.Tensor, Slot[]>();
  const seen = new Set<unknown>();
  const walk = (obj: unknown): void => {
    if (obj === null || typeof obj !== 'object' || seen.has(obj) || obj instanceof tf.Tensor) return;
    seen.add(obj);
    const holder = obj as Record<string | number, unknown>;
    for (const key of Object.keys(holder)) {
      const v = holder[key];
      if (v instanceof tf.Tensor) {
        if (!found.has(v)) found.set(v, []);
        found.get(v)!.push({ holder, key });
      } else walk(v);
    }
  };
  walk(module);
  return found;
}

/** Moves the modules' tensors to host memory (on WebGPU; elsewhere host memory is where they already are). */
export async function offloadToHost(modules: unknown[]): Promise<Offloaded> {
  if (tf.getBackend() !== 'webgpu') return { bytes: 0, restore: () => {} };
  const away: Away[] = [];
  let bytes = 0;
  for (const [t, slots] of tensorSlots(modules)) {
    if (t.isDisposed) continue;
    away.push({ shape: t.shape, dtype: t.dtype, data: (await t.data()) as tf.TypedArray, slots });
    bytes += t.size * 4;
  }
  for (const a of away) (a.slots[0]!.holder[a.slots[0]!.key] as tf.Tensor).dispose();
  releaseBufferPool(); // tfjs-webgpu would keep the freed buffers for reuse
  let restored = false;
  return {
    bytes,
    restore() {
      if (restored) return;
      restored = true;
      for (const a of away) {
        const t = tf.keep(tf.tensor(a.data, a.shape, a.dtype));
        for (const s of a.slots) s.holder[s.key] = t;
      }
    },
  };
}
