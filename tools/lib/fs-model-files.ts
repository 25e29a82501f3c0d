import fs from 'node:fs';
import path from 'node:path';
import type { ModelFiles } from '../../src/model/load-pipeline';
import { storeFromHost } from '../../src/model/weights';
import { parseSafetensors } from '../../src/weights/safetensors';

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
      return storeFromHost(parseSafetensors(new Uint8Array(fs.readFileSync(full(p)))));
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
    return { store: await files.weights(weights), config: config ? JSON.parse(await files.text(config)) as unknown : undefined };
  };
}
