/**
 * Manifests for the install tests: the repo's own `weights-manifest/*.json`, pointed at the local test server and
 * pinned to the sizes and sha256 that /work/shared/fixtures/MANIFEST.txt lists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fixturePath } from './golden';
import { validateManifest, type ModelManifest } from '../src/weights/catalog/manifest';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export function repoManifest(id: string): ModelManifest {
  const file = path.join(repoRoot, 'weights-manifest', `${id}.json`);
  return validateManifest(JSON.parse(fs.readFileSync(file, 'utf8')), file);
}

/** path (relative to the fixtures folder) → { size, sha256 }, from MANIFEST.txt. */
export function fixtureDigests(): Map<string, { size: number; sha256: string }> {
  const out = new Map<string, { size: number; sha256: string }>();
  for (const line of fs.readFileSync(fixturePath('MANIFEST.txt'), 'utf8').split('\n')) {
    const m = /^(\S+)\s+(\d+) bytes\s+sha256 ([0-9a-f]{64})$/.exec(line.trim());
    if (m) out.set(m[1]!, { size: Number(m[2]), sha256: m[3]! });
  }
  return out;
}

/** The repo's manifest `id` (a static tiny model) served from `${serverUrl}/${folder}/`, pinned to the fixture digests. */
export function pinnedFixtureManifest(id: string, folder: string, serverUrl: string): ModelManifest {
  const m = structuredClone(repoManifest(id));
  const digests = fixtureDigests();
  m.source = { type: 'static', baseUrl: `${serverUrl}/${folder}/` };
  for (const f of m.files) {
    const d = digests.get(`${folder}/${f.path}`);
    if (!d) throw new Error(`fixture ${folder}/${f.path} not in MANIFEST.txt`);
    f.size = d.size;
    f.sha256 = d.sha256;
    // the repo pins block digests of the generated tiny model, not of these fixtures: the whole-file sha256 checks them
    delete f.blockSha256;
  }
  return m;
}

export const readFixture = (p: string): Uint8Array<ArrayBuffer> => new Uint8Array(fs.readFileSync(fixturePath(p)));
