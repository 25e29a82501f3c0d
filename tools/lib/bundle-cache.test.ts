import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStableDiffusion } from '../../src/model/load-pipeline';
import { disposeStableDiffusion } from '../../src/model/pipeline';
import { TestFileServer } from '../../test/weights-server';
import { convertDiffusersFolder } from '../convert';
import { fetchBundle } from './bundle-cache';
import { fsModelFiles } from './fs-model-files';
import { builtinModelsRoot } from './ipgo-models';

/** The runner's bundles by URL: a tools/convert bundle on a local server, fetched into a cache and loaded. */
describe('bundles by URL for the runner', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-cache-'));
  const server = new TestFileServer(root);
  let manifestUrl = '';
  /** URL paths of the bundle's weight files (fp16 bundles name them *.fp16.safetensors). */
  let unet = '', vae = '';
  beforeAll(async () => {
    const manifest = await convertDiffusersFolder(path.join(builtinModelsRoot(), 'tiny-sd'), path.join(root, 'b'), { id: 'tiny-bundle', precision: 'fp16' });
    [unet, vae] = ['unet', 'vae'].map((role) => `/b/${manifest.files.find((f) => f.role === role)!.path}`) as [string, string];
    manifestUrl = `${await server.start()}/b/manifest.json`;
  });
  afterAll(async () => {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('downloads, resumes an interrupted file from its .part in a later run, verifies, caches, and the folder loads', async () => {
    const cacheRoot = path.join(root, 'cache');
    server.fault(unet, { kind: 'drop', bytes: 100_003 });
    server.fault(unet, { kind: 'status', status: 404 });
    await expect(fetchBundle(manifestUrl, { cacheRoot })).rejects.toThrow(/HTTP 404/);
    const dir = await fetchBundle(manifestUrl, { cacheRoot });
    expect(server.requestsFor(unet).map((r) => [r.status, r.range ?? null])).toEqual([[200, null], [404, 'bytes=100003-'], [206, 'bytes=100003-']]);
    const sd = await loadStableDiffusion(fsModelFiles(dir));
    expect(sd.unet.config.blockOutChannels.length).toBeGreaterThan(0);
    disposeStableDiffusion(sd);

    const before = server.log.length;
    expect(await fetchBundle(manifestUrl, { cacheRoot })).toBe(dir);
    expect(server.log.slice(before).map((r) => r.path)).toEqual(['/b/manifest.json']); // all cached and verified
  });

  it('a file whose bytes differ from the manifest fails, naming it, and keeps nothing of it', async () => {
    const cacheRoot = path.join(root, 'cache-bad');
    const bytes = new Uint8Array(fs.readFileSync(path.join(root, vae)));
    bytes[bytes.length - 1]! ^= 1;
    server.overrides.set(vae, bytes);
    try {
      await expect(fetchBundle(manifestUrl, { cacheRoot })).rejects.toThrow(/vae\/diffusion_pytorch_model\.fp16\.safetensors: sha256 mismatch/);
    } finally {
      server.overrides.delete(vae);
    }
    const left = fs.readdirSync(cacheRoot, { recursive: true }).map(String).filter((f) => f.includes('vae/diffusion'));
    expect(left).toEqual([]);
  });
});
