/**
 * Installs a model described by a manifest into IndexedDB: quota check → per file (download or local import)
 * → streaming conversion to the storage precision → verification → file record → model record LAST.
 *
 * A job can be paused (the current request is aborted; bytes already received stay in memory and the next request
 * continues from there), resumed, or cancelled (committed progress stays in IndexedDB: a later install of the same
 * manifest, even in a new tab, resumes from the last committed unit; `remove()` deletes it).
 */
import { downloadToSink, type ByteSink, type DownloadEvent, type FetchFn, type RetryPolicy } from './download';
import { importSourceId, matchLocalFiles, streamBlobInto, type LocalFiles } from './import';
import { FileIngest } from '../ingest/ingest';
import type { UnitCodec } from '../ingest/unit-codec';
import { estimateStoredBytes, resolveFileUrl, validateManifest, type ManifestFile, type ModelManifest } from '../catalog/manifest';
import { convertStagedTorchZip } from './staged-checkpoint';
import type { FileRecord, FileVerifiedBy, ModelRecord, WeightsStorage } from '../store/storage';
import { formatBytes } from '../../lib/format-bytes';
import { fetchHubRevision, hubRevisionUrl, type HubRevision } from './hub-digests';

export type InstallEvent =
  | { type: 'plan'; modelId: string; files: number; filesDone: number; needBytes: number; availableBytes?: number;
      quotaBytes?: number; usageBytes?: number; persisted?: boolean }
  | { type: 'file-start'; modelId: string; path: string; size?: number; resumeFrom: number }
  | { type: 'progress'; modelId: string; path: string; fileBytes: number; fileSize?: number; totalBytes: number;
      totalSize: number; bytesPerSecond: number; fileEtaSeconds?: number; etaSeconds?: number }
  | { type: 'file-done'; modelId: string; path: string; sha256: string | null; verifiedBy: FileVerifiedBy; tensors: number }
  | { type: 'converting'; modelId: string; path: string; tensor: string }
  | { type: 'paused'; modelId: string }
  | { type: 'resumed'; modelId: string }
  | { type: 'installed'; modelId: string; storedBytes: number }
  /** The Hub's record of the revision: digests for `files` files the manifest leaves unhashed, or why it is unread. */
  | { type: 'hub-digests'; modelId: string; commit?: string; files: number; error?: string }
  | ({ modelId: string; path: string } & DownloadEvent);

export interface StorageEstimateLike {
  quota?: number;
  usage?: number;
}

export interface InstallOptions {
  /** Overrides the manifest's HF revision (pin a commit). */
  revision?: string;
  /** The Hub's address for Hugging Face sources (default https://huggingface.co): a mirror. */
  hubEndpoint?: string;
  /** Base URL for relative static sources (default: the page/worker location). */
  base?: string;
  /** Fetch the files from this base URL (a mirror or bundle following the manifest paths) instead of the manifest's source. */
  baseUrl?: string;
  fetch?: FetchFn;
  retry?: Partial<RetryPolicy>;
  /** No bytes for this long (ms) = a dropped connection, retried (download.ts; default 30 s). */
  stallTimeoutMs?: number;
  onEvent?: (e: InstallEvent) => void;
  /** Aborting it cancels the job. */
  signal?: AbortSignal;
  /** Default: navigator.storage.estimate(); return undefined to skip the quota check. */
  estimate?: () => Promise<StorageEstimateLike | undefined>;
  /** Default: navigator.storage.persist() when not yet persisted. */
  persist?: () => Promise<boolean>;
  /** Minimum time between two progress events (ms), default 250. */
  progressIntervalMs?: number;
  /** Where units are quantized and checksummed (default: unit-codec.ts defaultCodec(), a worker pool). */
  codec?: UnitCodec;
}

export type { LocalFiles } from './import';

export type JobState = 'running' | 'paused' | 'done' | 'failed' | 'cancelled';

export interface InstallJob {
  readonly modelId: string;
  readonly state: JobState;
  /** Resolves with the model record once every file is verified; rejects with the error (CancelledError on cancel). */
  readonly done: Promise<ModelRecord>;
  pause(): void;
  resume(): void;
  cancel(): void;
}

export class QuotaError extends Error {
  override name = 'QuotaError';
  constructor(readonly needBytes: number, readonly availableBytes: number) {
    super(`not enough storage: this model needs ${formatBytes(needBytes)}, the browser allows ${formatBytes(availableBytes)} more ` +
      '(free disk space, or delete other models/site data, then retry)');
  }
}

export class CancelledError extends Error {
  override name = 'CancelledError';
}

export interface FileStatus {
  path: string;
  state: 'done' | 'partial' | 'missing';
  committedBytes: number;
  size?: number;
}

export interface ModelStatus {
  installed: boolean;
  files: FileStatus[];
}

/** Feeds one file's bytes into its ingest; aborts promptly on `signal`. */
type FileDriver = (file: ManifestFile, ingest: FileIngest, sink: ByteSink, signal: AbortSignal) => Promise<void>;

interface FileSource {
  id: string;
  drive: FileDriver;
}

export class WeightsInstaller {
  constructor(readonly storage: WeightsStorage, private readonly defaults: InstallOptions = {}) {}

  /** Downloads and installs a model (resuming any committed progress). */
  install(manifest: ModelManifest, opts: InstallOptions = {}): InstallJob {
    const o = { ...this.defaults, ...opts };
    validateManifest(manifest, manifest?.id);
    const fetchFn: FetchFn = o.fetch ?? ((u, i) => fetch(u, i));
    const revisionUrl = o.baseUrl === undefined && manifest.files.some((f) => f.sha256 === null) ? hubRevisionUrl(manifest, o.revision, o.hubEndpoint) : null;
    const hub = revisionUrl ? (signal: AbortSignal) => fetchHubRevision(revisionUrl, fetchFn, signal) : undefined;
    return this.start(manifest, o, hub, (file) => {
      const url = resolveFileUrl(manifest, file, { revision: o.revision, hubEndpoint: o.hubEndpoint, base: o.base, baseUrl: o.baseUrl });
      return {
        id: url,
        drive: async (f, ingest, sink, signal) => {
          await downloadToSink(url, sink, {
            etag: ingest.etag, expectedSize: f.size ?? undefined, signal, fetch: fetchFn, retry: o.retry, stallTimeoutMs: o.stallTimeoutMs,
            onEvent: (e) => o.onEvent?.({ ...e, modelId: manifest.id, path: f.path }),
            onSize: (size, etag) => ingest.begin(size, etag),
          });
        },
      };
    });
  }

  /** Installs a model from local files (no network): same conversion, verification and storage as install(). */
  importFiles(manifest: ModelManifest, files: LocalFiles, opts: InstallOptions = {}): InstallJob {
    const o = { ...this.defaults, ...opts };
    validateManifest(manifest, manifest?.id);
    const byPath = matchLocalFiles(manifest, files);
    return this.start(manifest, o, undefined, (file) => {
      const blob = byPath.get(file.path)!;
      return { id: importSourceId(file, blob), drive: (f, ingest, sink, signal) => streamBlobInto(f, blob, ingest, sink, signal) };
    });
  }

  /** What is stored for a manifest: installed, or per file done / partial (resumable) / missing. */
  async status(manifest: ModelManifest): Promise<ModelStatus> {
    const rec = await this.storage.getModelRecord(manifest.id);
    const files: FileStatus[] = [];
    for (const f of manifest.files) {
      const done = await this.storage.getFileRecord(manifest.id, f.path);
      const p = done ? undefined : await this.storage.getProgress(manifest.id, f.path);
      files.push(done ? { path: f.path, state: 'done', committedBytes: done.size, size: done.size }
        : { path: f.path, state: p ? 'partial' : 'missing', committedBytes: p?.offset ?? 0, size: p?.size ?? f.size ?? undefined });
    }
    return { installed: rec !== undefined && sameManifest(rec.manifest, manifest), files };
  }

  /** Deletes a model and any partial download of it. */
  remove(modelId: string): Promise<void> {
    return this.storage.deleteModel(modelId);
  }

  private start(manifest: ModelManifest, o: InstallOptions, hub: HubLookup | undefined, sourceFor: (f: ManifestFile) => FileSource): InstallJob {
    const job = new Job(manifest.id);
    if (o.signal) {
      if (o.signal.aborted) job.cancel();
      else o.signal.addEventListener('abort', () => job.cancel(), { once: true });
    }
    job.done = run(this.storage, manifest, o, hub, sourceFor, job).then(
      (rec) => { job.state = 'done'; return rec; },
      (e) => { if (job.state !== 'cancelled') job.state = 'failed'; throw e; });
    return job;
  }
}

const PAUSE = Symbol('pause');

class Job implements InstallJob {
  state: JobState = 'running';
  done!: Promise<ModelRecord>;
  onEvent: ((e: InstallEvent) => void) | undefined;
  private controller: AbortController | undefined;
  private resumeWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readonly cancelError = new CancelledError('install cancelled');

  constructor(readonly modelId: string) {}

  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    this.controller?.abort(PAUSE);
    this.onEvent?.({ type: 'paused', modelId: this.modelId });
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'running';
    this.onEvent?.({ type: 'resumed', modelId: this.modelId });
    for (const w of this.resumeWaiters.splice(0)) w.resolve();
  }

  cancel(): void {
    if (this.state === 'done' || this.state === 'failed' || this.state === 'cancelled') return;
    this.state = 'cancelled';
    this.controller?.abort(this.cancelError);
    for (const w of this.resumeWaiters.splice(0)) w.reject(this.cancelError);
  }

  /** Resolves when the job may proceed; throws CancelledError once cancelled. */
  async gate(): Promise<void> {
    if (this.state === 'cancelled') throw this.cancelError;
    if (this.state === 'paused') await new Promise<void>((resolve, reject) => this.resumeWaiters.push({ resolve, reject }));
  }

  /** Runs `step` until it completes, surviving pauses; the step must continue from where it stopped. */
  async runPausable(step: (signal: AbortSignal) => Promise<void>): Promise<void> {
    for (;;) {
      await this.gate();
      const ctl = new AbortController();
      this.controller = ctl;
      try {
        await step(ctl.signal);
        return;
      } catch (e) {
        if (ctl.signal.aborted && ctl.signal.reason === PAUSE) continue;
        if (ctl.signal.aborted) throw this.cancelError;
        throw e;
      } finally {
        this.controller = undefined;
      }
    }
  }
}

/** Reads the Hub's record of the revision being installed (hub-digests.ts). */
type HubLookup = (signal: AbortSignal) => Promise<HubRevision>;

/**
 * The manifest's files, those without a sha256 given the Hub's (and its size where the manifest has none), so that
 * they are verified like any other; emits what was found, or why nothing was (then size checks only, as before).
 */
async function withHubDigests(manifest: ModelManifest, hub: HubLookup | undefined, job: Job, emit: (e: InstallEvent) => void):
  Promise<{ files: ManifestFile[]; commit?: string }> {
  if (!hub) return { files: manifest.files };
  let rev: HubRevision | undefined;
  await job.runPausable(async (signal) => {
    try {
      rev = await hub(signal);
    } catch (e) {
      if (signal.aborted) throw e;
      emit({ type: 'hub-digests', modelId: manifest.id, files: 0, error: (e as Error).message });
    }
  });
  if (!rev) return { files: manifest.files };
  let found = 0;
  const files = manifest.files.map((f) => {
    const h = rev!.files.get(f.path);
    if (f.sha256 !== null || !h?.sha256) return f;
    found++;
    return { ...f, sha256: h.sha256, size: f.size ?? h.size ?? null };
  });
  emit({ type: 'hub-digests', modelId: manifest.id, commit: rev.commit, files: found });
  return { files, commit: rev.commit };
}

async function run(storage: WeightsStorage, manifest: ModelManifest, o: InstallOptions, hub: HubLookup | undefined,
  sourceFor: (f: ManifestFile) => FileSource, job: Job): Promise<ModelRecord> {
  const emit = (e: InstallEvent): void => o.onEvent?.(e);
  job.onEvent = emit;
  const existing = await storage.getModelRecord(manifest.id);
  if (existing && sameManifest(existing.manifest, manifest) && existing.revision === o.revision) {
    emit({ type: 'installed', modelId: manifest.id, storedBytes: existing.storedBytes });
    return existing;
  }
  // a different manifest (or revision): the model stops being "installed" until the new install completes
  if (existing) await storage.unmarkInstalled(manifest.id);

  const sources = new Map(manifest.files.map((f) => [f.path, sourceFor(f)]));
  const { files: expected, commit } = await withHubDigests(manifest, hub, job, emit);
  // the Hub's sizes and digests where the manifest has none: for the quota, the progress and the checks
  const expectedManifest: ModelManifest = { ...manifest, files: expected };
  const records = new Map<string, FileRecord>();
  for (const f of expected) {
    const rec = await storage.getFileRecord(manifest.id, f.path);
    if (rec && fileRecordCurrent(rec, f, sources.get(f.path)!.id)) records.set(f.path, rec);
  }
  await checkQuota(storage, expectedManifest, records, o, emit);

  const meter = new ProgressMeter(expectedManifest, records, o.progressIntervalMs ?? 250, emit);
  for (const f of expected) {
    if (records.has(f.path)) continue;
    await job.gate();
    const src = sources.get(f.path)!;
    const ingest = await FileIngest.open(storage, manifest.id, f, { source: src.id, codec: o.codec });
    emit({ type: 'file-start', modelId: manifest.id, path: f.path, size: ingest.knownSize ?? f.size ?? undefined, resumeFrom: ingest.committed });
    meter.startFile(f, ingest);
    const sink: ByteSink = {
      get received() { return ingest.received; },
      write: async (bytes) => { await ingest.write(bytes); meter.add(bytes.byteLength); },
      restart: async (reason) => { await ingest.restart(reason); meter.restartFile(); },
    };
    // a file whose bytes were all committed (e.g. a crash during torch-zip conversion) needs no more bytes
    if (ingest.knownSize === undefined || ingest.received < ingest.knownSize) {
      // queued commits finish before the job reports anything (a cancelled install must not write afterwards)
      try {
        await job.runPausable((signal) => src.drive(f, ingest, sink, signal));
      } finally {
        await ingest.settle();
      }
    }
    const verified = await ingest.verify();
    if (f.format === 'torch-zip') {
      await job.gate();
      const conv = await convertStagedTorchZip(storage, manifest.id, f, verified.size,
        (tensor) => emit({ type: 'converting', modelId: manifest.id, path: f.path, tensor }));
      verified.tensorCount = conv.tensorCount;
      verified.storedBytes = conv.storedBytes;
    }
    const rec: FileRecord = { ...verified, source: src.id };
    await storage.finishFile(manifest.id, rec);
    if (f.format === 'torch-zip') await storage.clearRaw(manifest.id, f.path);
    records.set(f.path, rec);
    meter.finishFile(rec.size);
    emit({ type: 'file-done', modelId: manifest.id, path: f.path, sha256: rec.sha256, verifiedBy: rec.verifiedBy, tensors: rec.tensorCount });
  }
  await job.gate();
  const files = manifest.files.map((f) => records.get(f.path)!);
  const model: ModelRecord = {
    id: manifest.id, manifest, revision: o.revision, ...(commit ? { hubCommit: commit } : {}), installedAt: Date.now(), files,
    storedBytes: files.reduce((a, f) => a + f.storedBytes, 0),
  };
  await storage.putModelRecord(model);
  emit({ type: 'installed', modelId: manifest.id, storedBytes: model.storedBytes });
  return model;
}

function fileRecordCurrent(rec: FileRecord, f: ManifestFile, sourceId: string): boolean {
  if (f.sha256 !== null) return rec.sha256 === f.sha256;
  return rec.source === sourceId && (f.size === null || rec.size === f.size);
}

function sameManifest(a: ModelManifest, b: ModelManifest): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function checkQuota(storage: WeightsStorage, manifest: ModelManifest, records: Map<string, FileRecord>,
  o: InstallOptions, emit: (e: InstallEvent) => void): Promise<void> {
  let need = 0;
  for (const f of manifest.files) {
    if (records.has(f.path)) continue;
    // torch-zip files are staged raw, then converted: both copies exist until the raw blocks are deleted
    need += estimateStoredBytes(f) + (f.format === 'torch-zip' ? f.size ?? f.sizeEstimate ?? 0 : 0);
    const p = await storage.getProgress(manifest.id, f.path);
    if (p) need -= Math.min(p.storedBytes, estimateStoredBytes(f));
  }
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  const estimateFn = o.estimate ?? (nav?.storage?.estimate ? () => nav.storage.estimate() : undefined);
  const est = estimateFn ? await estimateFn() : undefined;
  let persisted: boolean | undefined;
  const persistFn = o.persist ?? (nav?.storage?.persist
    ? async () => (await nav.storage.persisted()) || nav.storage.persist() : undefined);
  if (persistFn) persisted = await persistFn().catch(() => false);
  const available = est?.quota !== undefined ? Math.max(0, est.quota - (est.usage ?? 0)) : undefined;
  emit({
    type: 'plan', modelId: manifest.id, files: manifest.files.length, filesDone: records.size, needBytes: need,
    availableBytes: available, quotaBytes: est?.quota, usageBytes: est?.usage, persisted,
  });
  if (available !== undefined && need > available) throw new QuotaError(need, available);
}

/** Byte counts, rate (exponential moving average) and ETA for the progress events. */
class ProgressMeter {
  private doneBytes = 0;
  private fileBytes = 0;
  private file: ManifestFile | undefined;
  private fileSize: number | undefined;
  private rate = 0;
  private lastSample = now();
  private sampleBytes = 0;
  private lastEmit = 0;
  private trailing: ReturnType<typeof setTimeout> | undefined;
  private readonly sizes = new Map<string, number>();

  constructor(private readonly manifest: ModelManifest, records: Map<string, FileRecord>, private readonly intervalMs: number,
    private readonly emit: (e: InstallEvent) => void) {
    for (const f of manifest.files) {
      const rec = records.get(f.path);
      this.sizes.set(f.path, rec?.size ?? f.size ?? f.sizeEstimate ?? 0);
      if (rec) this.doneBytes += rec.size;
    }
  }

  private get totalSize(): number {
    let t = 0;
    for (const v of this.sizes.values()) t += v;
    return t;
  }

  startFile(f: ManifestFile, ingest: FileIngest): void {
    this.file = f;
    this.fileBytes = ingest.received;
    this.fileSize = ingest.knownSize ?? f.size ?? undefined;
    if (this.fileSize !== undefined) this.sizes.set(f.path, this.fileSize);
  }

  restartFile(): void {
    this.fileBytes = 0;
  }

  add(n: number): void {
    this.fileBytes += n;
    this.sampleBytes += n;
    const t = now();
    const dt = t - this.lastSample;
    if (dt >= 200) { // EMA over ~2 s of samples
      const inst = (this.sampleBytes * 1000) / dt;
      this.rate = this.rate === 0 ? inst : this.rate + Math.min(1, dt / 2000) * (inst - this.rate);
      this.lastSample = t;
      this.sampleBytes = 0;
    }
    if (t - this.lastEmit >= this.intervalMs) this.report(t);
    // bytes not reported yet get a trailing event, so the last burst before a stall or a pause is shown
    else this.trailing ??= setTimeout(() => this.report(now()), this.intervalMs - (t - this.lastEmit));
  }

  finishFile(size: number): void {
    this.sizes.set(this.file!.path, size);
    this.fileBytes = size;
    this.fileSize = size;
    this.report(now());
    this.doneBytes += size;
    this.fileBytes = 0;
  }

  private report(t: number): void {
    clearTimeout(this.trailing);
    this.trailing = undefined;
    this.lastEmit = t;
    const f = this.file!;
    const totalBytes = this.doneBytes + this.fileBytes;
    const totalSize = Math.max(this.totalSize, totalBytes);
    this.emit({
      type: 'progress', modelId: this.manifest.id, path: f.path, fileBytes: this.fileBytes, fileSize: this.fileSize,
      totalBytes, totalSize, bytesPerSecond: this.rate,
      fileEtaSeconds: this.rate > 0 && this.fileSize !== undefined ? Math.max(0, this.fileSize - this.fileBytes) / this.rate : undefined,
      etaSeconds: this.rate > 0 ? (totalSize - totalBytes) / this.rate : undefined,
    });
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

