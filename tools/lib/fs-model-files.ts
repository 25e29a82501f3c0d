import fs from 'node:fs';
import path from 'node:path';
import type { ModelFiles } from '../../src/model/load-pipeline';
import type { WeightSource } from '../../src/model/params';
import { decodeTensorBytes, parseHeader, readHeaderLength } from '../../src/weights/safetensors';

/** ModelFiles over a folder on disk (Node tools, tests, benchmarks). */
export function fsModelFiles(root: string): ModelFiles {
  const full = (p: string) => path.join(root, p);
  return {
    async text(p) {
      if (!fs.existsSync(full(p))) throw new Error(`${full(p)} not found`);
      return fs.readFileSync(full(p), 'utf8');
    },
    async has(p) {
      return fs.existsSync(full(p));
    },
    async weights(p) {
      return safetensorsFileSource(full(p));
    },
  };
}

/** Folders of the built-in reward towers under the models root (tools/make-tiny-model writes them). */
export const BUILTIN_REWARD_DIRS = {
  'clip-vit-l14': { dir: 'tiny-clip', weights: 'model.safetensors', config: 'config.json' },
  'laion-aesthetic': { dir: 'tiny-aesthetic', weights: 'model.safetensors', config: undefined },
  'hpsv2-vit-h14': { dir: 'tiny-hps', weights: 'open_clip_model.safetensors', config: 'open_clip_config.json' },
} as const;

/** A `loadRewardModels` source over the built-in reward folders on disk. */
export function fsRewardSource(root: string) {
  return async (m: keyof typeof BUILTIN_REWARD_DIRS) => {
    const { dir, weights, config } = BUILTIN_REWARD_DIRS[m];
    const files = fsModelFiles(path.join(root, dir));
    return { source: await files.weights(weights), config: config ? JSON.parse(await files.text(config)) as unknown : undefined };
  };
}

/** A safetensors file on disk read one tensor at a time (its header once, then each tensor's byte range). */
export function safetensorsFileSource(file: string): WeightSource {
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  const readAt = (offset: number, length: number): Uint8Array => {
    const fd = fs.openSync(file, 'r');
    try {
      const out = new Uint8Array(length);
      fs.readSync(fd, out, 0, length, offset);
      return out;
    } finally {
      fs.closeSync(fd);
    }
  };
  const headerLength = readHeaderLength(readAt(0, 8));
  const header = parseHeader(readAt(8, headerLength), fs.statSync(file).size);
  const entries = new Map(header.entries.map((e) => [e.name, e]));
  return {
    listing: header.entries.map((e) => ({ key: e.name, shape: e.shape })),
    read: async (key) => {
      const e = entries.get(key);
      if (!e) throw new Error(`${file}: no tensor "${key}"`);
      const data = decodeTensorBytes(e.dtype, readAt(header.dataStart + e.begin, e.end - e.begin));
      return { shape: e.shape, data: data instanceof Uint8Array ? Int32Array.from(data) : data };
    },
  };
}
