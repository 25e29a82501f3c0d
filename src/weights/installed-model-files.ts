/**
 * The pipeline loader's file reader (`ModelFiles`, src/model/load-pipeline.ts) over a model installed in
 * IndexedDB. Tensors are decoded (fp16 widened, int8 dequantized) and uploaded one at a time, so the host never
 * holds more than one decoded tensor of a file.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelFiles } from '../model/load-pipeline';
import { WeightStore } from '../model/weights';
import type { ModelReader } from './storage';

export function installedModelFiles(reader: ModelReader): ModelFiles {
  const paths = new Set(reader.files().map((f) => f.path));
  return {
    has: async (path) => paths.has(path),
    text: async (path) => {
      if (!paths.has(path)) throw new Error(`model "${reader.id}" has no file "${path}"`);
      return reader.readText(path);
    },
    weights: async (path) => {
      if (!paths.has(path)) throw new Error(`model "${reader.id}" has no file "${path}"`);
      const tensors = new Map<string, tf.Tensor>();
      try {
        for (const rec of await reader.listTensors(path)) {
          const host = await reader.readHostTensor(path, rec.name);
          const data = host.data instanceof Uint8Array ? Int32Array.from(host.data) : host.data;
          tensors.set(rec.name, tf.tensor(data, host.shape, data instanceof Float32Array ? 'float32' : 'int32'));
        }
      } catch (e) {
        for (const t of tensors.values()) t.dispose();
        throw e;
      }
      return new WeightStore(tensors);
    },
  };
}
