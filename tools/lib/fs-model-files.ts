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
