/// <reference lib="webworker" />
/**
 * In a browser worker, like the app's tensor worker: (1) raw fetch read throughput of a file, (2) our pipeline on
 * the same file: download → sha256 (per block, or of the whole file) → int8 quantization → IndexedDB
 * (WeightsInstaller), (3) loading the installed
 * tensors back into tfjs tensors (installedModelFiles, as the studio loads models).
 */
import * as tf from '@tensorflow/tfjs';
import { WeightsInstaller } from '../../src/weights/installer';
import { WeightsStorage } from '../../src/weights/storage';
import { installedModelFiles } from '../../src/weights/installed-model-files';
import type { BlockDigests, ManifestFile, ModelManifest, StoragePrecision } from '../../src/weights/manifest';
import { BlockVerifier } from '../../src/weights/block-verifier';
import { createSHA256 } from 'hash-wasm';
import { parseHeader, readHeaderLength } from '../../src/weights/safetensors';
import { encodeForStorage } from '../../src/weights/tensor-codec';
import type { StoredTensor } from '../../src/weights/storage';
import { inlineCodec, type UnitCodec } from '../../src/weights/unit-codec';

export interface BenchParams {
  url: string; size: number; sha256: string; blockSha256: BlockDigests; precision: StoragePrecision; rawRepeats: number;
  /** The same file behind a rate-limited server path (a network link slower than loopback), when measured. */
  linkUrl?: string;
}
export interface BenchResult {
  rawMs: number[];
  /** The install with the manifest's block digests (WebCrypto), as tools/convert bundles are checked. */
  pipelineMs: number;
  /** The same install checked by the whole-file sha256 only (hash-wasm, incremental), as a pinned HF file is. */
  wholeFilePipelineMs: number;
  /** Block digests, with quantization + checksums on the installer thread instead of the codec pool. */
  inlinePipelineMs: number;
  loadMs: number; tensors: number; storedBytes: number; backend: string; cores: number;
  /** Over `linkUrl`: raw fetch, then the block-digest and the whole-file-sha256 installs (ms). */
  link?: { rawMs: number; pipelineMs: number; wholeFilePipelineMs: number };
  /** The pipeline's stages alone, on the file already in memory (ms). */
  stages: { sha256: number; sha256Blocks: number; quantize: number; commit: number };
}

declare const self: DedicatedWorkerGlobalScope;

async function rawFetch(url: string): Promise<number> {
  const t0 = performance.now();
  const reader = (await fetch(url, { cache: 'no-store' })).body!.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
  }
  if (n === 0) throw new Error('empty body');
  return performance.now() - t0;
}

/** Times each stage of the pipeline separately on the whole file in memory. */
async function stages(url: string, precision: StoragePrecision, digests: BlockDigests): Promise<BenchResult['stages']> {
  const bytes = new Uint8Array(await (await fetch(url, { cache: 'no-store' })).arrayBuffer());
  const hasher = await createSHA256();
  let t = performance.now();
  hasher.init();
  for (let at = 0; at < bytes.byteLength; at += 65536) hasher.update(bytes.subarray(at, at + 65536)); // fetch-sized pieces
  hasher.digest('hex');
  const sha256 = performance.now() - t;
  const blocks = await BlockVerifier.create(digests, bytes.byteLength, 'bench');
  t = performance.now();
  for (let at = 0; at < bytes.byteLength; at += 65536) blocks.update(bytes.subarray(at, at + 65536));
  await blocks.finish();
  const sha256Blocks = performance.now() - t;
  const header = parseHeader(bytes.subarray(8, 8 + readHeaderLength(bytes)), bytes.byteLength);
  t = performance.now();
  const stored: StoredTensor[] = header.entries.map((e) => encodeForStorage(
    { name: e.name, dtype: e.dtype, shape: e.shape, bytes: bytes.slice(header.dataStart + e.begin, header.dataStart + e.end) }, precision));
  const quantize = performance.now() - t;
  const storage = WeightsStorage.open(`bench-stages-${Date.now()}`);
  t = performance.now();
  for (const s of stored) await storage.commit('stages', 'f', { tensors: [s] });
  const commit = performance.now() - t;
  return { sha256, sha256Blocks, quantize, commit };
}

async function run(p: BenchParams): Promise<BenchResult> {
  const rawMs: number[] = [];
  for (let i = 0; i < p.rawRepeats; i++) rawMs.push(await rawFetch(p.url));

  const manifestWith = (extra: Partial<ManifestFile>, url = p.url): ModelManifest => ({
    schemaVersion: 1, id: 'bench-synthetic', name: 'synthetic', kind: 'clip',
    source: { type: 'static', baseUrl: url.slice(0, url.lastIndexOf('/') + 1) },
    files: [{
      path: url.slice(url.lastIndexOf('/') + 1), format: 'safetensors', role: 'model', size: p.size, sha256: p.sha256,
      precision: p.precision, sourceDtype: 'F32', ...extra,
    }],
  });
  const file = manifestWith({}).files[0]!.path;
  const manifest = manifestWith({ blockSha256: p.blockSha256 });
  const installMs = async (m: ModelManifest, codec?: UnitCodec): Promise<number> => {
    const db = `bench-weights-variant-${Date.now()}`;
    const t = performance.now();
    await new WeightsInstaller(WeightsStorage.open(db), { estimate: async () => undefined, persist: async () => false, ...(codec ? { codec } : {}) }).install(m).done;
    const ms = performance.now() - t;
    await deleteDb(db);
    return ms;
  };
  // the same install with quantization on this thread (inlineCodec): the pool's gain, measured in this run
  const inlinePipelineMs = await installMs(manifest, inlineCodec);
  // checked by the whole-file sha256 alone (no block digests in the manifest)
  const wholeFilePipelineMs = await installMs(manifestWith({}));

  const dbName = `bench-weights-${Date.now()}`;
  const storage = WeightsStorage.open(dbName);
  let t0 = performance.now();
  const rec = await new WeightsInstaller(storage, { estimate: async () => undefined, persist: async () => false }).install(manifest).done;
  const pipelineMs = performance.now() - t0;
  const link = p.linkUrl === undefined ? undefined : {
    rawMs: await rawFetch(p.linkUrl),
    pipelineMs: await installMs(manifestWith({ blockSha256: p.blockSha256 }, p.linkUrl)),
    wholeFilePipelineMs: await installMs(manifestWith({}, p.linkUrl)),
  };

  await tf.setBackend('cpu');
  const t1 = performance.now();
  const reader = await storage.openModel(manifest.id);
  const store = await installedModelFiles(reader).weights(file);
  const loadMs = performance.now() - t1;
  const tensors = store.unusedKeys().length;
  store.dispose();
  await deleteDb(dbName);
  return {
    rawMs, pipelineMs, wholeFilePipelineMs, inlinePipelineMs, link, loadMs, tensors, storedBytes: rec.storedBytes, backend: tf.getBackend(),
    cores: navigator.hardwareConcurrency, stages: await stages(p.url, p.precision, p.blockSha256),
  };
}

function deleteDb(name: string): Promise<void> {
  return new Promise<void>((resolve) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => resolve(); });
}

self.onmessage = (ev: MessageEvent<BenchParams>) => {
  run(ev.data).then((result) => self.postMessage({ ok: true, result }), (e: unknown) => self.postMessage({ ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) }));
};
