import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateManifest } from '../src/weights/catalog/manifest';
import { MANIFEST_DIR, pinsBlocks, TINY_MANIFEST_IDS, tinyFolder, tinyModelDigests } from './pin-tiny-manifests';

describe('built-in tiny manifests', () => {
  it('pin exactly what make-tiny-model writes (size, sha256 and tiny-sd\'s block digests of every file, no file left out)', async () => {
    const digests = await tinyModelDigests();
    const listed = new Set<string>();
    for (const id of TINY_MANIFEST_IDS) {
      const m = validateManifest(JSON.parse(fs.readFileSync(path.join(MANIFEST_DIR, `${id}.json`), 'utf8')), id);
      expect(m.set, id).toBe('tiny');
      const folder = tinyFolder(m);
      for (const f of m.files) {
        const key = `${folder}/${f.path}`;
        listed.add(key);
        const d = digests.get(key);
        expect({ key, size: f.size, sha256: f.sha256, blockSha256: f.blockSha256 }, 'stale pin: run npx tsx tools/pin-tiny-manifests.ts')
          .toEqual({ key, size: d?.size, sha256: d?.sha256, blockSha256: pinsBlocks(id, f) ? d?.blockSha256 : undefined });
      }
    }
    expect([...digests.keys()].filter((k) => !listed.has(k) && k !== 'VERSION')).toEqual([]);
  }, 60_000);
});
