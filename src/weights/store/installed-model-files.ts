/**
 * The pipeline loader's file reader (`ModelFiles`, src/model/load-pipeline.ts) over a model installed in
 * IndexedDB. A weight file is a WeightSource: the loader reads one tensor at a time (int8 tensors as their stored
 * codes), so the host never holds more than one tensor of a file.
 */
import type { ModelFiles } from '../../model/load-pipeline';
import type { WeightSource } from '../../model/params';
import type { ModelReader } from './storage';
import { storedToHostWeight } from './tensor-codec';

export function installedModelFiles(reader: ModelReader): ModelFiles {
  const paths = new Set(reader.files().map((f) => f.path));
  const check = (path: string) => {
    if (!paths.has(path)) throw new Error(`model "${reader.id}" has no file "${path}"`);
  };
  return {
    has: async (path) => paths.has(path),
    text: async (path) => {
      check(path);
      return reader.readText(path);
    },
    weights: async (path): Promise<WeightSource> => {
      check(path);
      const records = await reader.listTensors(path);
      return {
        listing: records.map((r) => ({ key: r.name, shape: r.shape })),
        read: async (key) => {
          const { record, bytes } = await reader.readTensor(path, key);
          return storedToHostWeight(record, bytes);
        },
      };
    },
  };
}
