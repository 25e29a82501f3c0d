/**
 * tools/pin-tiny-manifests — pins the exact size and sha256 of every file of the built-in tiny models
 * (weights-manifest/tiny-*.json) to what tools/make-tiny-model writes. The generator is deterministic, so an
 * install of the built-in models is verified by sha256 like any real model. tiny-sd's weight files also get
 * 1 MiB block digests (blockSha256, as a tools/convert bundle has), so the built-in set exercises both checks:
 * block digests for tiny-sd, the whole-file sha256 for the others. Run after changing the generator
 * (tools/tiny-manifests.test.ts fails until you do):
 *
 *   npx tsx tools/pin-tiny-manifests.ts
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTinyModel } from './make-tiny-model';
import { blockDigestsOf } from '../src/weights/ingest/block-verifier';
import { isTensorFormat, type BlockDigests, type ManifestFile, type ModelManifest } from '../src/weights/catalog/manifest';

/** Whether the pinned manifest `id` gives `f` block digests. */
export function pinsBlocks(id: string, f: ManifestFile): boolean {
  return BLOCK_DIGEST_IDS.includes(id) && isTensorFormat(f.format);
}

export const TINY_MANIFEST_IDS = ['tiny-sd', 'tiny-clip', 'tiny-hps', 'tiny-aesthetic'] as const;
export const MANIFEST_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'weights-manifest');
/** Manifests whose tensor files carry block digests, and their block size (the 13 MB tiny UNet: 13 blocks). */
export const BLOCK_DIGEST_IDS: readonly string[] = ['tiny-sd'];
export const TINY_DIGEST_BLOCK_BYTES = 1024 * 1024;

type TinyDigests = { size: number; sha256: string; blockSha256: BlockDigests };

const sha256Of = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** Generates the tiny model into a temporary folder; returns "<folder>/<path>" → size and digests. */
export async function tinyModelDigests(): Promise<Map<string, TinyDigests>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiny-pin-'));
  try {
    const out = new Map<string, TinyDigests>();
    for (const rel of makeTinyModel(dir)) {
      const bytes = fs.readFileSync(path.join(dir, rel));
      out.set(rel, { size: bytes.byteLength, sha256: sha256Of(bytes), blockSha256: await blockDigestsOf(bytes, TINY_DIGEST_BLOCK_BYTES) });
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
  const digests = await tinyModelDigests();
  for (const id of TINY_MANIFEST_IDS) {
    const file = path.join(MANIFEST_DIR, `${id}.json`);
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelManifest;
    const folder = tinyFolder(m);
    for (const f of m.files) {
      const d = digests.get(`${folder}/${f.path}`);
      if (!d) throw new Error(`${id}: make-tiny-model writes no ${folder}/${f.path}`);
      f.size = d.size;
      f.sha256 = d.sha256;
      if (pinsBlocks(id, f)) f.blockSha256 = d.blockSha256;
      else delete f.blockSha256;
      delete f.sizeEstimate;
    }
    if (m.source.type === 'static') m.source.note = 'Written by tools/make-tiny-model into public/models/ (deterministic); sizes and sha256 pinned by tools/pin-tiny-manifests.';
    fs.writeFileSync(file, JSON.stringify(m, null, 2) + '\n');
    console.log(`pinned ${id}: ${m.files.length} files`);
  }
}
