/**
 * tools/pin-tiny-manifests — pins the exact size and sha256 of every file of the built-in tiny models
 * (weights-manifest/tiny-*.json) to what tools/make-tiny-model writes. The generator is deterministic, so an
 * install of the built-in models is verified by sha256 like any real model. Run after changing the generator
 * (tools/tiny-manifests.test.ts fails until you do):
 *
 *   npx tsx tools/pin-tiny-manifests.ts
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTinyModel } from './make-tiny-model';
import type { ModelManifest } from '../src/weights/manifest';

export const TINY_MANIFEST_IDS = ['tiny-sd', 'tiny-clip', 'tiny-hps', 'tiny-aesthetic'] as const;
export const MANIFEST_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'weights-manifest');

/** Generates the tiny model into a temporary folder; returns "<folder>/<path>" → {size, sha256}. */
export function tinyModelDigests(): Map<string, { size: number; sha256: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-pin-'));
  try {
    const out = new Map<string, { size: number; sha256: string }>();
    for (const rel of makeTinyModel(dir)) {
      const bytes = fs.readFileSync(path.join(dir, rel));
      out.set(rel, { size: bytes.byteLength, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The folder below public/models/ that a tiny manifest's static baseUrl ("./models/<folder>/") names. */
export function tinyFolder(m: ModelManifest): string {
  if (m.source.type !== 'static') throw new Error(`${m.id}: not a static source`);
  const hit = /^\.\/models\/([^/]+)\/$/.exec(m.source.baseUrl);
  if (!hit) throw new Error(`${m.id}: baseUrl ${m.source.baseUrl} is not ./models/<folder>/`);
  return hit[1]!;
}

if (process.argv[1]?.endsWith('pin-tiny-manifests.ts')) {
  const digests = tinyModelDigests();
  for (const id of TINY_MANIFEST_IDS) {
    const file = path.join(MANIFEST_DIR, `${id}.json`);
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelManifest;
    const folder = tinyFolder(m);
    for (const f of m.files) {
      const d = digests.get(`${folder}/${f.path}`);
      if (!d) throw new Error(`${id}: make-tiny-model writes no ${folder}/${f.path}`);
      f.size = d.size;
      f.sha256 = d.sha256;
      delete f.sizeEstimate;
    }
    if (m.source.type === 'static') m.source.note = 'Written by tools/make-tiny-model into public/models/ (deterministic); sizes and sha256 pinned by tools/pin-tiny-manifests.';
    fs.writeFileSync(file, JSON.stringify(m, null, 2) + '\n');
    console.log(`pinned ${id}: ${m.files.length} files`);
  }
}
