/**
 * verifyInstalledModel over a real install (test/weights-server.ts on 127.0.0.1, fake-indexeddb), and the
 * downloader's stall timeout: a connection that stops sending is dropped and resumed with Range.
 */
import 'fake-indexeddb/auto';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promisifyRequest } from 'idb-keyval';
import { WeightsInstaller, type InstallEvent, type InstallOptions } from '../src/weights/install/installer';
import type { ModelManifest } from '../src/weights/catalog/manifest';
import { serializeSafetensors } from '../src/weights/formats/safetensors';
import { WeightsStorage } from '../src/weights/store/storage';
import { verifyInstalledModel } from '../src/weights/store/verify';
import { TestFileServer } from './weights-server';

const server = new TestFileServer('/nonexistent');
let base = '';
beforeAll(async () => { base = await server.start(); });
afterAll(async () => { await server.stop(); });

const weights = serializeSafetensors(new Map([
  ['a.weight', { shape: [64, 300], data: Float32Array.from({ length: 64 * 300 }, (_, i) => Math.sin(i)) }],
  ['b.bias', { shape: [64], data: Float32Array.from({ length: 64 }, (_, i) => i / 64) }],
  ['c.weight', { shape: [64, 300], data: Float32Array.from({ length: 64 * 300 }, (_, i) => Math.cos(i)) }],
]));
const config = new TextEncoder().encode('{"hidden_size": 64, "name": "größe"}\n');
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
server.overrides.set('/m/model.safetensors', weights);
server.overrides.set('/m/config.json', config);

const manifest: ModelManifest = {
  schemaVersion: 1, id: 'verify-me', name: 'verify', kind: 'clip', source: { type: 'static', baseUrl: 'http://unused.invalid/' },
  files: [
    { path: 'config.json', format: 'json', role: 'config', size: config.byteLength, sha256: sha(config) },
    { path: 'model.safetensors', format: 'safetensors', role: 'model', size: weights.byteLength, sha256: sha(weights), precision: 'int8', sourceDtype: 'F32' },
  ],
};
const OPTS: InstallOptions = { retry: { retries: 3, baseDelayMs: 5, maxDelayMs: 20 }, estimate: async () => ({ quota: 1e12, usage: 0 }), persist: async () => true };
let db = 0;

describe('verifyInstalledModel', () => {
  it('passes on a fresh install and names the file whose stored bytes changed', async () => {
    const storage = WeightsStorage.open(`verify-${++db}`, { chunkBytes: 4096 });
    await new WeightsInstaller(storage, OPTS).install(manifest, { baseUrl: `${base}/m/` }).done;
    const ok = await verifyInstalledModel(storage, manifest.id);
    expect(ok.ok).toBe(true);
    expect(ok.files.map((f) => [f.path, f.ok, f.checkedBy])).toEqual([['config.json', true, 'sha256'], ['model.safetensors', true, 'tensors']]);
    expect(ok.files[1]!.checkedBytes).toBe(2 * 64 * 300 + 64 * 2); // int8 weights (scales live in their records) + fp16 bias

    // flip one byte of one stored chunk, and change the stored config text
    await storage.store('readwrite', (s) => {
      s.put(new Uint8Array(4096).fill(7), ['chunk', manifest.id, 'model.safetensors', 'a.weight', 1]);
      s.put('{"hidden_size": 65}', ['text', manifest.id, 'config.json']);
      return promisifyRequest(s.transaction);
    });
    const bad = await verifyInstalledModel(storage, manifest.id);
    expect(bad.ok).toBe(false);
    expect(bad.files[0]).toMatchObject({ path: 'config.json', ok: false });
    expect(bad.files[1]).toMatchObject({ path: 'model.safetensors', ok: false });
    expect(bad.files[1]!.problem).toMatch(/a\.weight: checksum of the stored bytes changed/);
  });

  it('a stalled connection is dropped after stallTimeoutMs and the download resumes with Range', async () => {
    const storage = WeightsStorage.open(`verify-${++db}`, { chunkBytes: 4096 });
    server.fault('/m/model.safetensors', { kind: 'slow', bytes: 30_000, delayMs: 3_000 }); // 30 kB, then silence
    const events: InstallEvent[] = [];
    const t0 = Date.now();
    await new WeightsInstaller(storage, OPTS).install(manifest, { baseUrl: `${base}/m/`, stallTimeoutMs: 300, onEvent: (e) => events.push(e) }).done;
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ error: expect.stringMatching(/stalled/) });
    const req = server.requestsFor('/m/model.safetensors').at(-1)!;
    expect(req.status).toBe(206);
    expect(req.start).toBeGreaterThan(0);
    expect((await verifyInstalledModel(storage, manifest.id)).ok).toBe(true);
  });

  it('a model resumed by a new installer after a cancel verifies (its records count every committed tensor)', async () => {
    const name = `verify-${++db}`;
    server.fault('/m/model.safetensors', { kind: 'slow', bytes: 8000, delayMs: 20 });
    const job = new WeightsInstaller(WeightsStorage.open(name), { ...OPTS, progressIntervalMs: 0 }).install(manifest, {
      baseUrl: `${base}/m/`,
      onEvent: (e) => { if (e.type === 'progress' && e.path === 'model.safetensors' && e.fileBytes > 100_000) job.cancel(); },
    });
    await expect(job.done).rejects.toThrow(/cancelled/);
    const storage = WeightsStorage.open(name);
    const events: InstallEvent[] = [];
    const rec = await new WeightsInstaller(storage, OPTS).install(manifest, { baseUrl: `${base}/m/`, onEvent: (e) => events.push(e) }).done;
    expect(events.find((e) => e.type === 'file-start' && e.path === 'model.safetensors')).toMatchObject({ resumeFrom: expect.any(Number) });
    expect((events.find((e) => e.type === 'file-start' && e.path === 'model.safetensors') as { resumeFrom: number }).resumeFrom).toBeGreaterThan(77_000);
    expect(rec.files[1]!.storedBytes).toBe(2 * 64 * 300 + 64 * 2);
    expect((await verifyInstalledModel(storage, manifest.id)).ok).toBe(true);
  });

  it('pause during a stalled body read takes effect at once; resume continues with Range', async () => {
    const storage = WeightsStorage.open(`verify-${++db}`);
    server.fault('/m/model.safetensors', { kind: 'slow', bytes: 30_000, delayMs: 5_000 });
    let paused = false;
    const t0 = Date.now();
    const job = new WeightsInstaller(storage, OPTS).install(manifest, {
      baseUrl: `${base}/m/`, stallTimeoutMs: 20_000, progressIntervalMs: 0,
      onEvent: (e) => {
        if (!paused && e.type === 'progress' && e.path === 'model.safetensors' && e.fileBytes >= 30_000) {
          paused = true;
          // later, while the body read waits for bytes that do not come
          setTimeout(() => job.pause(), 200);
          setTimeout(() => job.resume(), 300);
        }
      },
    });
    await job.done;
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(server.requestsFor('/m/model.safetensors').at(-1)).toMatchObject({ status: 206, start: 30_000 });
  });
});

