/// <reference lib="webworker" />
/**
 * In a browser worker, like the app's tensor worker: (1) raw fetch read throughput of a file, (2) our pipeline on
 * the same file: download → sha256 (per block, or of the whole file) → int8 quantization → IndexedDB
 * (WeightsInstaller), (3) loading the installed
 * tensors back into tfjs tensors (installedModelFiles, as the studio loads models).
 */
import * as tf from '@tensorflow/tfjs';
import { WeightsInstaller } from '../../src/weights/install/installer';
import { WeightsStorage } from '../../src/weights/store/storage';
import { installedModelFiles } from '../../src/weights/store/installed-model-files';
import type { BlockDigests, ManifestFile, ModelManifest, StoragePrecision } from '../../src/weights/catalog/manifest';
import { BlockVerifier } from '../../src/weights/ingest/block-verifier';
import { createSHA256 } from 'hash-wasm';
import { parseHeader, readHeaderLength } from '../../src/weights/formats/safetensors';
import { encodeForStorage } from '../../src/weights/store/tensor-codec';
import type { StoredTensor } from '../../src/weights/store/storage';
import { inlineCodec, type UnitCodec } from '../../src/weights/ingest/unit-codec';

export interface BenchParams {
  url: string; size: number; sha256: string; blockSha256: BlockDigests; precision: StoragePrecision; rounds: number;
  /** The same file behind a rate-limited server path (a network link slower than loopback), when measured. */
  linkUrl?: string;
}
/** One round, run back to back (ms). */
export interface BenchRound {
  /** A full read of the body with the default reader, as the installer reads. */
  rawMs: number;
  /** The same with a BYOB reader (context: not what the installer uses). */
  rawByobMs: number;
  /** The install with the manifest's block digests (WebCrypto), as tools/convert bundles are checked. */
  pipelineMs: number;
  /** The same install checked by the whole-file sha256 only (hash-wasm, incremental), as a pinned HF file is. */
  wholeFilePipelineMs: number;
  /** When each step ran (epoch ms, from → to), for the harness's CPU accounting. */
  spans: Record<'raw' | 'rawByob' | 'pipeline' | 'wholeFilePipeline', [number, number]>;
}
export interface BenchResult {
  rounds: BenchRound[];
  /** Block digests, with quantization + checksums on the installer thread instead of the codec pool. */
  inlinePipelineMs: number;
  loadMs: number; tensors: number; storedBytes: number; backend: string; cores: number;
  /** Rounds over `linkUrl`: raw fetch, then the block-digest and the whole-file-sha256 installs (ms); empty without it. */
  link: { rawMs: number; pipelineMs: number; wholeFilePipelineMs: number }[];
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

/** The same read with a BYOB reader into 16 MiB buffers (the installer reads with the default reader, above). */
async function rawFetchByob(url: string): Promise<number> {
  const t0 = performance.now();
  const reader = (await fetch(url, { cache: 'no-store' })).body!.getReader({ mode: 'byob' });
  let n = 0;
  let buffer = new ArrayBuffer(16 << 20);
  let at = 0;
  for (;;) {
    if (at === buffer.byteLength) [buffer, at] = [new ArrayBuffer(16 << 20), 0];
    const { done, value } = await reader.read(new Uint8Array(buffer, at));
    if (done || !value) break;
    buffer = value.buffer as ArrayBuffer; // the read transferred it
    at += value.byteLength;
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

  // rounds of raw read → install, side by side, so each round's ratio compares runs made under the same load; a
  // quiet second before each lets the previous step's background work (IndexedDB deleting a database) finish
  const now = (): number => performance.timeOrigin + performance.now();
  const rounds: BenchRound[] = [];
  for (let i = 0; i < p.rounds; i++) {
    const spans = {} as BenchRound['spans'];
    const quiet = async (step: keyof BenchRound['spans'], measure: () => Promise<number>): Promise<number> => {
      await new Promise((r) => setTimeout(r, 1000));
      const from = now();
      const ms = await measure();
      spans[step] = [from, now()];
      return ms;
    };
    rounds.push({
      rawMs: await quiet('raw', () => rawFetch(p.url)),
      rawByobMs: await quiet('rawByob', () => rawFetchByob(p.url)),
      pipelineMs: await quiet('pipeline', () => installMs(manifest)),
      // checked by the whole-file sha256 alone (no block digests in the manifest)
      wholeFilePipelineMs: await quiet('wholeFilePipeline', () => installMs(manifestWith({}))),
      spans,
    });
  }
  // quantization on this thread (inlineCodec) instead of the codec pool
  const inlinePipelineMs = await installMs(manifest, inlineCodec);
  const link: NonNullable<BenchResult['link']> = [];
  for (let i = 0; p.linkUrl !== undefined && i < p.rounds; i++) {
    link.push({
      rawMs: await rawFetch(p.linkUrl),
      pipelineMs: await installMs(manifestWith({ blockSha256: p.blockSha256 }, p.linkUrl)),
      wholeFilePipelineMs: await installMs(manifestWith({}, p.linkUrl)),
    });
  }

  const dbName = `bench-weights-${Date.now()}`;
  const storage = WeightsStorage.open(dbName);
  const rec = await new WeightsInstaller(storage, { estimate: async () => undefined, persist: async () => false }).install(manifest).done;
  await tf.setBackend('cpu');
  const t1 = performance.now();
  const reader = await storage.openModel(manifest.id);
  const source = await installedModelFiles(reader).weights(file);
  for (const { key } of source.listing) await source.read(key);
  const loadMs = performance.now() - t1;
  const tensors = source.listing.length;
  await deleteDb(dbName);
  return {
    rounds, inlinePipelineMs, link, loadMs, tensors, storedBytes: rec.storedBytes, backend: tf.getBackend(),
    cores: navigator.hardwareConcurrency, stages: await stages(p.url, p.precision, p.blockSha256),
  };
}

function deleteDb(name: string): Promise<void> {
  return new Promise<void>((resolve) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => resolve(); });
}

self.onmessage = (ev: MessageEvent<BenchParams>) => {
  run(ev.data).then((result) => self.postMessage({ ok: true, result }), (e: unknown) => self.postMessage({ ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) }));
};
