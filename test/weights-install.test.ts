/**
 * The installer against a real HTTP server on 127.0.0.1 (test/weights-server.ts) and IndexedDB from
 * fake-indexeddb: full tiny-SD install, faults (dropped connection, Range ignored, wrong Content-Range, 503),
 * sha256 mismatch, quota, cancel, pause, re-open in a new installer, local import, torch-zip staging.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, QuotaError, WeightsInstaller, type InstallEvent, type InstallOptions } from '../src/weights/install/installer';
import { IntegrityError } from '../src/weights/install/download';
import { fetchHubRevision } from '../src/weights/install/hub-digests';
import type { ModelManifest } from '../src/weights/catalog/manifest';
import { parseHeader, parseSafetensors, readHeaderLength, f32ToF16 } from '../src/weights/formats/safetensors';
import { MAX_CHUNK_BYTES, WeightsStorage } from '../src/weights/store/storage';
import { contiguousTensor, OrderedDictValue, writeTorchCheckpoint } from './torch-zip-writer';
import * as tf from '@tensorflow/tfjs';
import { installedModelFiles } from '../src/weights/store/installed-model-files';
import { fixturePath, missingReason } from './golden';
import { pinnedFixtureManifest, readFixture } from './weights-fixtures';
import { TestFileServer } from './weights-server';

const server = new TestFileServer(fixturePath());
/** The tests serve /work/shared/fixtures; without them (a fresh clone) they are skipped, saying why. */
const noFixtures = missingReason([fixturePath('MANIFEST.txt'), fixturePath('tiny-sd'), fixturePath('aesthetic')]);
if (noFixtures) console.warn(`weights-install tests skipped: ${noFixtures}`);
let base = '';
let dbCount = 0;
const CHUNK = 1 << 20; // 1 MiB chunks so the 6 MiB token embedding spans several

beforeAll(async () => { base = await server.start(); });
afterAll(async () => { await server.stop(); });

/** A fresh database per test; `reopen` gives a second storage over the same database. */
function freshStorage(): { storage: WeightsStorage; name: string } {
  const name = `weights-test-${++dbCount}`;
  return { storage: WeightsStorage.open(name, { chunkBytes: CHUNK }), name };
}

const FAST: InstallOptions = { retry: { retries: 3, baseDelayMs: 5, maxDelayMs: 20 }, estimate: async () => ({ quota: 1e12, usage: 0 }), persist: async () => true };

/** A one-file manifest: the tiny VAE or text encoder, pinned to its fixture digest. */
function singleFile(role: 'vae' | 'text_encoder' | 'unet', id = `one-${role}`): ModelManifest {
  const m = pinnedFixtureManifest('tiny-sd', 'tiny-sd', base);
  return { ...m, id, files: m.files.filter((f) => f.role === role) };
}

function collect(): { events: InstallEvent[]; onEvent: (e: InstallEvent) => void } {
  const events: InstallEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

/** Checks every stored tensor of a file against the fixture, byte for byte (fp32 storage keeps bytes). */
async function expectFileMatchesFixture(storage: WeightsStorage, modelId: string, path: string, fixture: string): Promise<number> {
  const bytes = readFixture(fixture);
  const header = parseHeader(bytes.subarray(8, 8 + readHeaderLength(bytes.subarray(0, 8))));
  const reader = await storage.openModel(modelId);
  const listed = await reader.listTensors(path);
  expect(listed.map((t) => t.name)).toEqual(header.entries.map((e) => e.name).sort());
  for (const e of header.entries) {
    const { record, bytes: got } = await reader.readTensor(path, e.name);
    expect(record).toMatchObject({ shape: e.shape, sourceDtype: e.dtype, storage: 'fp32', chunks: Math.max(1, Math.ceil((e.end - e.begin) / CHUNK)) });
    expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end))), e.name).toBe(true);
  }
  return header.entries.length;
}

describe.skipIf(noFixtures !== null)('WeightsInstaller over HTTP', () => {
  it('installs the tiny SD pipeline: every file verified by sha256, tensors and configs readable', async () => {
    const { storage } = freshStorage();
    const manifest = pinnedFixtureManifest('tiny-sd', 'tiny-sd', base);
    const { events, onEvent } = collect();
    const rec = await new WeightsInstaller(storage, FAST).install(manifest, { onEvent }).done;
    expect(rec.files.map((f) => f.verifiedBy)).toEqual(manifest.files.map(() => 'sha256'));
    expect(rec.files.map((f) => f.sha256)).toEqual(manifest.files.map((f) => f.sha256));
    const plan = events.find((e) => e.type === 'plan')!;
    expect(plan).toMatchObject({ files: 12, filesDone: 0, availableBytes: 1e12, persisted: true });
    const last = events.filter((e) => e.type === 'progress').at(-1)!;
    const total = manifest.files.reduce((a, f) => a + f.size!, 0);
    expect(last).toMatchObject({ totalBytes: total, totalSize: total });
    expect(events.some((e) => e.type === 'progress' && e.bytesPerSecond > 0 && e.etaSeconds! >= 0 && e.fileEtaSeconds! >= 0)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'installed', modelId: 'tiny-sd' });

    expect(await expectFileMatchesFixture(storage, 'tiny-sd', 'unet/diffusion_pytorch_model.safetensors', 'tiny-sd/unet/diffusion_pytorch_model.safetensors')).toBe(684);
    expect(await expectFileMatchesFixture(storage, 'tiny-sd', 'vae/diffusion_pytorch_model.safetensors', 'tiny-sd/vae/diffusion_pytorch_model.safetensors')).toBe(244);
    expect(await expectFileMatchesFixture(storage, 'tiny-sd', 'text_encoder/model.safetensors', 'tiny-sd/text_encoder/model.safetensors')).toBe(36);
    const reader = await storage.openModel('tiny-sd');
    expect(reader.fileByRole('unet').tensorCount).toBe(684);
    expect((await reader.readJson<{ sample_size: number }>(reader.fileByRole('unet-config').path)).sample_size).toBe(8);
    expect(await reader.readText('tokenizer/merges.txt')).toBe(new TextDecoder().decode(readFixture('tiny-sd/tokenizer/merges.txt')));

    // the pipeline loader's ModelFiles view of the installed model
    const files = installedModelFiles(reader);
    expect(await files.has('vae/config.json')).toBe(true);
    expect(await files.has('safety_checker/config.json')).toBe(false);
    const numTensors = tf.memory().numTensors;
    const vae = await files.weights('vae/diffusion_pytorch_model.safetensors');
    expect(vae.listing).toHaveLength(244);
    const fixtureVae = parseSafetensors(readFixture('tiny-sd/vae/diffusion_pytorch_model.safetensors'));
    expect((await vae.read('decoder.conv_in.weight')).data).toEqual(fixtureVae.get('decoder.conv_in.weight')!.data);
    expect(tf.memory().numTensors).toBe(numTensors);

    // a second install of the same manifest is a no-op (no requests)
    const before = server.log.length;
    await new WeightsInstaller(storage, FAST).install(manifest).done;
    expect(server.log.length).toBe(before);
  });

  it('resumes a dropped connection with Range from the exact byte received (no byte fetched twice)', async () => {
    const { storage } = freshStorage();
    const m = singleFile('text_encoder');
    const url = '/tiny-sd/text_encoder/model.safetensors';
    server.fault(url, { kind: 'drop', bytes: 2_000_003 });
    const { events, onEvent } = collect();
    await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    const reqs = server.requestsFor(url).slice(-2);
    expect(reqs[0]).toMatchObject({ status: 200, fault: 'drop', sent: 2_000_003 });
    expect(reqs[1]).toMatchObject({ status: 206, range: 'bytes=2000003-', start: 2_000_003 });
    expect(reqs[1]!.ifRange).toMatch(/^"/);
    expect(reqs[0]!.sent + reqs[1]!.sent).toBe(m.files[0]!.size);
    expect(events.some((e) => e.type === 'retry')).toBe(true);
    expect(events.some((e) => e.type === 'restart')).toBe(false);
    await expectFileMatchesFixture(storage, m.id, m.files[0]!.path, 'tiny-sd/text_encoder/model.safetensors');
  });

  it('the Hub: follows the signed redirect, asks later ranges of the signed URL, re-resolves it once expired (no byte twice)', async () => {
    const { storage } = freshStorage();
    const m = singleFile('text_encoder', 'hub-signed');
    const path = '/tiny-sd/text_encoder/model.safetensors';
    server.fault(path, { kind: 'drop', bytes: 1_500_001 });
    const from = server.log.length;
    const { events, onEvent } = collect();
    server.signing = true;
    try {
      // the signature expires while the client waits to retry the dropped connection
      await new WeightsInstaller(storage, FAST).install(m, { onEvent: (e) => { if (e.type === 'retry') server.expireSignedUrls(); onEvent(e); } }).done;
    } finally {
      server.signing = false;
    }
    const log = server.log.slice(from).filter((r) => r.path.endsWith('/model.safetensors'));
    expect(log.map((r) => [r.status, Boolean(r.signed), r.range ?? null])).toEqual([
      [302, false, null], [200, true, null], // resolve, then the signed URL (dropped)
      [403, true, 'bytes=1500001-'], // the resume asked the signed URL directly: expired
      [302, false, 'bytes=1500001-'], [206, true, 'bytes=1500001-'], // resolved again, resumed
    ]);
    expect(log.filter((r) => r.status === 200 || r.status === 206).reduce((n, r) => n + r.sent, 0)).toBe(m.files[0]!.size);
    expect(events.filter((e) => e.type === 'redirected')).toHaveLength(2);
    expect(events.filter((e) => e.type === 're-resolve')).toMatchObject([{ status: 403 }]);
    await expectFileMatchesFixture(storage, m.id, m.files[0]!.path, 'tiny-sd/text_encoder/model.safetensors');
  });

  /** The VAE as the Hub serves it: a huggingface source on the test server, no sha256 or size in the manifest. */
  function unhashedHubVae(id: string): ModelManifest {
    const m = singleFile('vae', id);
    return { ...m, source: { type: 'huggingface', repo: 'fixtures/tiny-sd', revision: 'main', urlPattern: `${base}/tiny-sd/{path}?revision={revision}` },
      files: m.files.map((f) => ({ ...f, sha256: null, size: null })) };
  }

  it('a file without a sha256 in its manifest is verified against the Hub\'s digest; the commit is remembered', async () => {
    const { storage } = freshStorage();
    const m = unhashedHubVae('hub-digest');
    const { events, onEvent } = collect();
    const rec = await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    expect(events.find((e) => e.type === 'hub-digests')).toMatchObject({ commit: server.commit, files: 1 });
    expect(rec.hubCommit).toBe(server.commit);
    expect(rec.files[0]).toMatchObject({ verifiedBy: 'sha256', sha256: pinnedFixtureManifest('tiny-sd', 'tiny-sd', base).files.find((f) => f.role === 'vae')!.sha256 });
    expect((await storage.getModelRecord(m.id))!.hubCommit).toBe(server.commit);
    expect(server.log.some((r) => r.path === '/api/models/fixtures/tiny-sd/revision/main')).toBe(true);

    // another revision chosen at install (the Models view's revision field): its record and its files
    const from = server.log.length;
    const pinned = await new WeightsInstaller(freshStorage().storage, FAST).install(unhashedHubVae('hub-digest-v1'), { revision: 'v1.0' }).done;
    expect(pinned.revision).toBe('v1.0');
    expect(server.log.slice(from).map((r) => r.path)).toContain('/api/models/fixtures/tiny-sd/revision/v1.0');

    // bytes that differ from what the Hub says: a sha256 mismatch, nothing installed
    const path = '/tiny-sd/vae/diffusion_pytorch_model.safetensors';
    const bytes = readFixture('tiny-sd/vae/diffusion_pytorch_model.safetensors').slice();
    bytes[bytes.length - 1]! ^= 1;
    server.overrides.set(path, bytes);
    const other = freshStorage().storage;
    try {
      await expect(new WeightsInstaller(other, FAST).install(unhashedHubVae('hub-digest-bad')).done).rejects.toThrow(/sha256 mismatch/);
    } finally {
      server.overrides.delete(path);
    }
    expect(await other.getModelRecord('hub-digest-bad')).toBeUndefined();
  });

  it('when the Hub\'s record cannot be read, the install goes on with size checks and says why', async () => {
    const { storage } = freshStorage();
    server.fault('/api/models/fixtures/tiny-sd/revision/main', { kind: 'status', status: 401 });
    const { events, onEvent } = collect();
    const rec = await new WeightsInstaller(storage, FAST).install(unhashedHubVae('hub-digest-unread'), { onEvent }).done;
    expect(events.find((e) => e.type === 'hub-digests')).toMatchObject({ files: 0, error: expect.stringMatching(/HTTP 401/) });
    expect(rec.files[0]!.verifiedBy).toBe('size');
    expect(rec.hubCommit).toBeUndefined();
  });

  it('a Hub record with a file\'s sha256 but not its size: the size stays unknown, the file is verified by sha256', async () => {
    server.hubRecordSizes = false;
    try {
      const rev = await fetchHubRevision(`${base}/api/models/fixtures/tiny-sd/revision/main?blobs=true`, fetch);
      const vae = rev.files.get('vae/diffusion_pytorch_model.safetensors');
      expect(vae?.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(vae?.size).toBeUndefined();
      const rec = await new WeightsInstaller(freshStorage().storage, FAST).install(unhashedHubVae('hub-digest-no-size')).done;
      expect(rec.files[0]).toMatchObject({ verifiedBy: 'sha256', size: readFixture('tiny-sd/vae/diffusion_pytorch_model.safetensors').byteLength });
    } finally {
      server.hubRecordSizes = true;
    }
  });

  it('429: waits at least what Retry-After asks; a wait beyond the limit gives up saying so', async () => {
    const { storage } = freshStorage();
    const m = singleFile('vae', 'rate-limited');
    const path = '/tiny-sd/vae/diffusion_pytorch_model.safetensors';
    server.fault(path, { kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
    const { events, onEvent } = collect();
    await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { delayMs: number }).delayMs)).toEqual([1000]);
    server.fault(path, { kind: 'status', status: 429, headers: { 'Retry-After': '3600' } });
    await expect(new WeightsInstaller(freshStorage().storage, FAST).install({ ...m, id: 'rate-limited-long' }).done)
      .rejects.toThrow(/asks to wait 60 min before retrying \(rate limited\)/);
  });

  it('restarts cleanly when the server answers 200 to a Range request', async () => {
    const { storage } = freshStorage();
    const m = singleFile('text_encoder');
    const url = '/tiny-sd/text_encoder/model.safetensors';
    server.fault(url, { kind: 'drop', bytes: 3_000_000 });
    server.fault(url, { kind: 'ignore-range' });
    const { events, onEvent } = collect();
    const rec = await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    expect(server.requestsFor(url).slice(-2).map((r) => [r.status, r.start, r.range])).toEqual([[200, 0, undefined], [200, 0, 'bytes=3000000-']]);
    expect(events.find((e) => e.type === 'restart')).toMatchObject({ reason: 'range-ignored', discardedBytes: 3_000_000 });
    expect(rec.files[0]!.sha256).toBe(m.files[0]!.sha256);
    await expectFileMatchesFixture(storage, m.id, m.files[0]!.path, 'tiny-sd/text_encoder/model.safetensors');
  });

  it('restarts from byte 0 (without Range) when Content-Range does not match the request', async () => {
    const { storage } = freshStorage();
    const m = singleFile('text_encoder');
    const url = '/tiny-sd/text_encoder/model.safetensors';
    server.fault(url, { kind: 'drop', bytes: 1_500_000 });
    server.fault(url, { kind: 'wrong-content-range', shift: -1000 });
    const { events, onEvent } = collect();
    await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    const reqs = server.requestsFor(url).slice(-3);
    expect(reqs.map((r) => [r.status, r.range])).toEqual([[200, undefined], [206, 'bytes=1500000-'], [200, undefined]]);
    expect(events.find((e) => e.type === 'restart')).toMatchObject({ reason: 'bad-content-range', discardedBytes: 1_500_000 });
    expect((events.find((e) => e.type === 'restart') as { detail: string }).detail).toContain('bytes 1499000-');
    await expectFileMatchesFixture(storage, m.id, m.files[0]!.path, 'tiny-sd/text_encoder/model.safetensors');
  });

  it('retries 503 with backoff, and gives up with a clear error after the retry budget', async () => {
    const { storage } = freshStorage();
    const m = singleFile('vae');
    const url = '/tiny-sd/vae/diffusion_pytorch_model.safetensors';
    server.fault(url, { kind: 'status', status: 503 });
    server.fault(url, { kind: 'status', status: 503 });
    const { events, onEvent } = collect();
    await new WeightsInstaller(storage, FAST).install(m, { onEvent }).done;
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { delayMs: number }).delayMs)).toEqual([5, 10]);

    const other = freshStorage().storage;
    for (let i = 0; i < 4; i++) server.fault(url, { kind: 'status', status: 503 });
    await expect(new WeightsInstaller(other, FAST).install({ ...m, id: 'gives-up' }).done).rejects.toThrow(/giving up after 3 retries.*HTTP 503/);
    expect(await other.getModelRecord('gives-up')).toBeUndefined();
    server.fault(url, { kind: 'status', status: 404 });
    await expect(new WeightsInstaller(other, FAST).install({ ...m, id: 'not-found' }).done).rejects.toThrow(/HTTP 404/);
  });

  it('rejects a sha256 mismatch: IntegrityError, nothing stored, nothing installed', async () => {
    const { storage } = freshStorage();
    const m = singleFile('vae');
    m.files[0]!.sha256 = '0'.repeat(64);
    const job = new WeightsInstaller(storage, FAST).install(m);
    await expect(job.done).rejects.toThrow(IntegrityError);
    await expect(job.done).rejects.toThrow(/sha256 mismatch: got fe26e329/);
    expect(job.state).toBe('failed');
    expect(await storage.getModelRecord(m.id)).toBeUndefined();
    expect(await storage.listModels()).toEqual([]);
    expect((await new WeightsInstaller(storage).status(m)).files[0]).toMatchObject({ state: 'missing', committedBytes: 0 });
    await expect(storage.openModel(m.id)).rejects.toThrow(/not installed/);
  });

  it('accepts a gzip-encoded config without a known size (length = decoded bytes, sha256 over them)', async () => {
    const { storage } = freshStorage();
    const full = pinnedFixtureManifest('tiny-sd', 'tiny-sd', base);
    const m = { ...full, id: 'gz', files: full.files.filter((f) => f.role === 'unet-config') };
    const pinnedSha = m.files[0]!.sha256;
    m.files[0]!.size = null;
    server.fault('/tiny-sd/unet/config.json', { kind: 'gzip' });
    const rec = await new WeightsInstaller(storage, FAST).install(m).done;
    expect(server.requestsFor('/tiny-sd/unet/config.json').at(-1)!.fault).toBe('gzip');
    expect(rec.files[0]).toMatchObject({ size: 1770, sha256: pinnedSha, verifiedBy: 'sha256' });
    expect(await (await storage.openModel('gz')).readText('unet/config.json')).toBe(new TextDecoder().decode(readFixture('tiny-sd/unet/config.json')));
  });

  it('rejects a server size that contradicts the manifest before storing anything', async () => {
    const { storage } = freshStorage();
    const m = singleFile('vae');
    m.files[0]!.size = 123;
    m.files[0]!.sha256 = null;
    await expect(new WeightsInstaller(storage, FAST).install(m).done).rejects.toThrow(/server says 472908 bytes, the manifest expects 123/);
  });

  it('checks the quota before downloading: a clear error with need vs available, no request made', async () => {
    const { storage } = freshStorage();
    const m = pinnedFixtureManifest('tiny-sd', 'tiny-sd', base);
    const before = server.log.length;
    const { events, onEvent } = collect();
    const job = new WeightsInstaller(storage, FAST).install(m, { onEvent, estimate: async () => ({ quota: 10_000_000, usage: 4_000_000 }) });
    const err = await job.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaError);
    expect((err as QuotaError).availableBytes).toBe(6_000_000);
    expect((err as QuotaError).needBytes).toBeGreaterThan(21_000_000);
    expect((err as Error).message).toMatch(/needs 2\d\.\d MiB, the browser allows 5\.7 MiB more/);
    expect(events[0]).toMatchObject({ type: 'plan', availableBytes: 6_000_000, quotaBytes: 10_000_000 });
    expect(server.log.length).toBe(before);
  });

  it('cancel stops the download; a new installer over the same database resumes from the last committed tensor', async () => {
    const { storage, name } = freshStorage();
    const m = singleFile('unet');
    const url = '/tiny-sd/unet/diffusion_pytorch_model.safetensors';
    const size = m.files[0]!.size!;
    server.fault(url, { kind: 'slow', bytes: 256 * 1024, delayMs: 5 });
    const job = new WeightsInstaller(storage, FAST).install(m, {
      progressIntervalMs: 0,
      onEvent: (e) => { if (e.type === 'progress' && e.fileBytes > 5_000_000) job.cancel(); },
    });
    await expect(job.done).rejects.toThrow(CancelledError);
    expect(job.state).toBe('cancelled');
    expect(await storage.getModelRecord(m.id)).toBeUndefined();
    const progress = (await storage.getProgress(m.id, m.files[0]!.path))!;
    expect(progress.offset).toBeGreaterThan(4_000_000);
    expect(progress.offset).toBeLessThan(size);
    expect(progress.tensorsStored).toBeGreaterThan(100);

    // "the tab is closed": a new storage + installer over the same IndexedDB
    const reopened = WeightsStorage.open(name, { chunkBytes: CHUNK });
    const status = await new WeightsInstaller(reopened).status(m);
    expect(status).toEqual({ installed: false, files: [{ path: m.files[0]!.path, state: 'partial', committedBytes: progress.offset, size }] });
    const { events, onEvent } = collect();
    const before = server.requestsFor(url).length;
    await new WeightsInstaller(reopened, FAST).install(m, { onEvent }).done;
    const resumed = server.requestsFor(url).slice(before);
    expect(resumed).toEqual([expect.objectContaining({ status: 206, range: `bytes=${progress.offset}-`, sent: size - progress.offset })]);
    expect(events.find((e) => e.type === 'file-start')).toMatchObject({ resumeFrom: progress.offset });
    expect(await expectFileMatchesFixture(reopened, m.id, m.files[0]!.path, 'tiny-sd/unet/diffusion_pytorch_model.safetensors')).toBe(684);
  });

  it('resumes in a new session after the server changed the file (If-Range → 200): clean restart', async () => {
    const { storage, name } = freshStorage();
    const m = singleFile('vae');
    const url = '/tiny-sd/vae/diffusion_pytorch_model.safetensors';
    server.fault(url, { kind: 'drop', bytes: 300_000 });
    await expect(new WeightsInstaller(storage, { ...FAST, retry: { retries: 0 } }).install(m).done).rejects.toThrow(/giving up after 0 retries/);
    const committed = (await storage.getProgress(m.id, m.files[0]!.path))!.offset;
    expect(committed).toBeGreaterThan(0);
    server.overrides.set(url, readFixture('tiny-sd/vae/diffusion_pytorch_model.safetensors')); // same bytes, new ETag
    try {
      const { events, onEvent } = collect();
      await new WeightsInstaller(WeightsStorage.open(name, { chunkBytes: CHUNK }), FAST).install(m, { onEvent }).done;
      const last = server.requestsFor(url).at(-1)!;
      expect(last).toMatchObject({ status: 200, range: `bytes=${committed}-` });
      expect(last.ifRange).toMatch(/^"/);
      expect(events.find((e) => e.type === 'restart')).toMatchObject({ reason: 'etag-changed', discardedBytes: committed });
    } finally {
      server.overrides.delete(url);
    }
  });

  it('pause aborts the request and keeps the received bytes; resume continues with Range', async () => {
    const { storage } = freshStorage();
    const m = singleFile('text_encoder');
    const url = '/tiny-sd/text_encoder/model.safetensors';
    server.fault(url, { kind: 'slow', bytes: 128 * 1024, delayMs: 5 });
    let paused = false;
    const job = new WeightsInstaller(storage, FAST).install(m, {
      progressIntervalMs: 0,
      onEvent: (e) => {
        if (e.type === 'progress' && e.fileBytes > 1_000_000 && !paused) {
          paused = true;
          job.pause();
          setTimeout(() => job.resume(), 100);
        }
      },
    });
    await job.done;
    const reqs = server.requestsFor(url).slice(-2);
    expect(reqs[0]!.status).toBe(200);
    expect(reqs[1]!.status).toBe(206);
    expect(reqs[1]!.start).toBeGreaterThan(1_000_000);
    expect(job.state).toBe('done');
    await expectFileMatchesFixture(storage, m.id, m.files[0]!.path, 'tiny-sd/text_encoder/model.safetensors');
  });
});

describe.skipIf(noFixtures !== null)('WeightsInstaller.importFiles (no network)', () => {
  it('imports a picked folder (File objects with webkitRelativePath) through the same verification', async () => {
    const { storage } = freshStorage();
    const m = pinnedFixtureManifest('tiny-sd', 'tiny-sd', 'http://unused.invalid');
    const files = m.files.map((f) => {
      const file = new File([readFixture(`tiny-sd/${f.path}`)], f.path.split('/').at(-1)!, { lastModified: 1 });
      Object.defineProperty(file, 'webkitRelativePath', { value: `my-sd/${f.path}` });
      return file;
    });
    const before = server.log.length;
    const rec = await new WeightsInstaller(storage, FAST).importFiles(m, files).done;
    expect(server.log.length).toBe(before);
    expect(rec.files.every((f) => f.verifiedBy === 'sha256' && f.source.startsWith('import:'))).toBe(true);
    await expectFileMatchesFixture(storage, m.id, 'vae/diffusion_pytorch_model.safetensors', 'tiny-sd/vae/diffusion_pytorch_model.safetensors');
  });

  it('names the missing files, and rejects a corrupted local file', async () => {
    const { storage } = freshStorage();
    const m = singleFile('vae');
    expect(() => new WeightsInstaller(storage).importFiles(m, new Map())).toThrow(/lack vae\/diffusion_pytorch_model\.safetensors/);
    const bytes = readFixture('tiny-sd/vae/diffusion_pytorch_model.safetensors');
    bytes[bytes.length - 1] ^= 1;
    const job = new WeightsInstaller(storage, FAST).importFiles(m, new Map([[m.files[0]!.path, new Blob([bytes])]]));
    await expect(job.done).rejects.toThrow(/sha256 mismatch/);
    expect(await storage.listModels()).toEqual([]);
  });
});

describe.skipIf(noFixtures !== null)('storage precision', () => {
  it('stores int8 (per-channel, UNet) and fp16 (VAE) and reads them back within quantization error', async () => {
    const { storage } = freshStorage();
    const cases = [
      { precision: 'int8', role: 'unet', big: 'down_blocks.1.resnets.0.conv1.weight', ratio: 0.3 },
      { precision: 'fp16', role: 'vae', big: 'decoder.conv_in.weight', ratio: 0.51 },
    ] as const;
    for (const c of cases) {
      const m = singleFile(c.role, `${c.role}-${c.precision}`);
      m.files[0]!.precision = c.precision;
      const host = parseSafetensors(readFixture(`tiny-sd/${m.files[0]!.path}`));
      const rec = await new WeightsInstaller(storage, FAST).install(m).done;
      const reader = await storage.openModel(m.id);
      const path = m.files[0]!.path;
      const records = await reader.listTensors(path);
      expect([...new Set(records.map((r) => r.storage))].sort()).toEqual(c.precision === 'int8' ? ['fp16', 'int8'] : ['fp16']);
      expect(records.find((r) => r.name === c.big)!.storage).toBe(c.precision);
      expect(rec.files[0]!.storedBytes).toBeLessThan(c.ratio * rec.files[0]!.size);
      for (const r of records) {
        const got = (await reader.readHostTensor(path, r.name)).data as Float32Array;
        const want = host.get(r.name)!.data as Float32Array;
        let num = 0, den = 0;
        for (let i = 0; i < want.length; i++) { num += (got[i]! - want[i]!) ** 2; den += want[i]! ** 2; }
        const rel = Math.sqrt(num / den);
        expect(rel, r.name).toBeLessThan(r.storage === 'int8' ? 0.01 : 1e-3);
        expect(r.quant!.error.rmsRel).toBeCloseTo(rel, 5);
      }
    }
  });
});

describe.skipIf(noFixtures !== null)('torch-zip files', () => {
  it('stages raw blocks, verifies, converts the state dict to fp16, deletes the staging', async () => {
    const { storage } = freshStorage();
    const host = parseSafetensors(readFixture('aesthetic/sac+logos+ava1-l14-linearMSE.safetensors'));
    const dict = new Map([...host].map(([k, t]) => {
      const f32 = t.data as Float32Array;
      return [k, contiguousTensor('F32', t.shape, new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength))];
    }));
    const pth = writeTorchCheckpoint(new OrderedDictValue(dict));
    server.overrides.set('/aesthetic/head.pth', pth);
    const { createSHA256 } = await import('hash-wasm');
    const h = await createSHA256();
    h.init();
    h.update(pth);
    const m: ModelManifest = {
      schemaVersion: 1, id: 'aesthetic-test', name: 'a', kind: 'aesthetic-head', source: { type: 'static', baseUrl: `${base}/aesthetic/` },
      files: [{ path: 'head.pth', format: 'torch-zip', role: 'model', size: pth.byteLength, sha256: h.digest('hex'), precision: 'fp16' }],
    };
    try {
      server.fault('/aesthetic/head.pth', { kind: 'drop', bytes: 1_500_000 });
      const storage2 = new WeightsStorage(storage.store, { chunkBytes: 1 << 19 }); // 512 KiB raw blocks
      const rec = await new WeightsInstaller(storage2, FAST).install(m).done;
      expect(rec.files[0]).toMatchObject({ tensorCount: 10, verifiedBy: 'sha256' });
      const reader = await storage2.openModel(m.id);
      const w = await reader.readTensor('head.pth', 'layers.0.weight');
      expect(w.record).toMatchObject({ shape: [1024, 768], storage: 'fp16', sourceDtype: 'F32', chunks: 3 });
      const half = new Uint16Array(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength / 2);
      const src = host.get('layers.0.weight')!.data as Float32Array;
      for (const i of [0, 1, 777, src.length - 1]) expect(half[i]).toBe(f32ToF16(src[i]!));
      expect(await storage2.readRaw(m.id, 'head.pth', 1 << 19, 0, 1).catch((e: Error) => e.message)).toMatch(/missing/);
    } finally {
      server.overrides.delete('/aesthetic/head.pth');
    }
  });
});

describe.skipIf(noFixtures !== null)('WeightsStorage', () => {
  it('bounds chunks to 64 MiB and deletes a model completely', async () => {
    expect(() => WeightsStorage.open('x', { chunkBytes: MAX_CHUNK_BYTES + 1 })).toThrow(/chunkBytes/);
    const { storage } = freshStorage();
    const m = singleFile('vae');
    await new WeightsInstaller(storage, FAST).install(m).done;
    expect((await storage.openModel(m.id)).files()).toHaveLength(1);
    await storage.deleteModel(m.id);
    const { keys } = await import('idb-keyval');
    expect(await keys(storage.store)).toEqual([]);
  });
});
