/**
 * Models state: the manifests the app knows with their install states, storage numbers, and the installs,
 * verifications and errors in flight. Installs remember where they download from (localStorage), so a partial
 * install found on start (a tab closed mid-download) resumes from the same source.
 */
import type { Slice } from '../store';
import { engine } from '../engine';
import { JobError, type WorkerErrorCode } from '../../worker/protocol';
import type { RunningJob } from '../../worker/client';
import type { InstallEvent, ModelEntry, ModelVerification, StorageInfo } from '../../worker/models-protocol';
import { formatBytes } from '../../lib/format-bytes';
import type { PrecisionInfo, PrecisionPolicy } from '../../worker/studio-protocol';

const PRECISION_KEY = 'ipgo-precision-policy';
const HUB_ENDPOINT_KEY = 'ipgo.hub-endpoint';

function savedHubEndpoint(): string {
  try {
    return localStorage.getItem(HUB_ENDPOINT_KEY) ?? '';
  } catch {
    return '';
  }
}

/** The policy saved by an earlier visit (the worker checks it; a bad value is reported, not applied). */
function savedPrecision(): Partial<PrecisionPolicy> {
  try {
    const v = JSON.parse(localStorage.getItem(PRECISION_KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Partial<PrecisionPolicy>) : {};
  } catch {
    return {};
  }
}

export interface InstallProgressView {
  state: 'running' | 'paused';
  /** The quota check: storage needed vs available (bytes) before anything is written. */
  needBytes?: number;
  availableBytes?: number;
  path?: string;
  fileBytes: number;
  fileSize?: number;
  totalBytes: number;
  totalSize: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  fileEtaSeconds?: number;
  /** Offset the current file resumed from (committed in an earlier session or attempt). */
  resumedFrom: number;
  /** The last notable event: a retry, a restart from byte 0. */
  notice?: string;
}

export interface ModelError {
  code: WorkerErrorCode;
  message: string;
  hint: string;
}

export interface InstallSource {
  baseUrl?: string;
  revision?: string;
}

export interface ModelsSlice {
  models: ModelEntry[];
  /** The Hugging Face Hub's address installs use ('' = https://huggingface.co), saved across reloads. */
  hubEndpoint: string;
  setHubEndpoint(url: string): void;
  /** The device precision policy the worker loads models with (null until the worker answered). */
  precision: PrecisionInfo | null;
  /** Sends the saved policy to the worker (on start) or changes one component; saved across reloads. */
  syncPrecision(change?: Partial<PrecisionPolicy>): Promise<void>;
  storage: StorageInfo | null;
  modelsStatus: 'idle' | 'loading' | 'ready' | 'failed';
  installs: Record<string, InstallProgressView>;
  verifications: Record<string, ModelVerification | 'running'>;
  modelErrors: Record<string, ModelError>;
  /** Last completed action per model ("Installed", "Deleted, 21 MiB freed"), shown next to it. */
  modelNotices: Record<string, string>;
  refreshModels(): Promise<void>;
  installModel(id: string, source?: InstallSource): Promise<void>;
  /** Adds the model of a tools/convert bundle (its manifest.json or folder URL) and installs it; returns its id. */
  installBundle(url: string): Promise<string | null>;
  installSet(set: string): Promise<void>;
  importModelFiles(id: string, files: File[]): Promise<void>;
  pauseInstall(id: string): void;
  resumeInstall(id: string): void;
  cancelInstall(id: string): void;
  verifyModel(id: string): Promise<void>;
  deleteModel(id: string): Promise<void>;
  /** Where a partial install of `id` was downloading from (to resume from the same place). */
  installSourceOf(id: string): InstallSource | undefined;
}

const jobs = new Map<string, RunningJob<'modelInstall'> | RunningJob<'modelImportFiles'>>();

const SOURCE_KEY = (id: string) => `ipgo.install-source.${id}`;

function rememberSource(id: string, src: InstallSource | undefined): void {
  try {
    if (src && (src.baseUrl || src.revision)) localStorage.setItem(SOURCE_KEY(id), JSON.stringify(src));
    else localStorage.removeItem(SOURCE_KEY(id));
  } catch { /* storage disabled: a resume then uses the manifest's own source */ }
}

function recallSource(id: string): InstallSource | undefined {
  try {
    const v = localStorage.getItem(SOURCE_KEY(id));
    return v ? (JSON.parse(v) as InstallSource) : undefined;
  } catch {
    return undefined;
  }
}

const HINTS: Partial<Record<WorkerErrorCode, string>> = {
  quota: 'Free disk space, or delete other models or site data, then install again.',
  network: 'Check the connection or the URL, then press Install (or Resume): completed files are kept.',
  'invalid-input': 'The file is not the one the manifest describes: check the URL or the chosen folder and retry; completed files are kept.',
  cancelled: 'Files completed so far are kept; Install resumes from them.',
  internal: 'Try again; if it repeats, reload the page and report the message.',
};

function modelError(e: unknown): ModelError {
  const err = e instanceof JobError ? e : new JobError('internal', e instanceof Error ? e.message : String(e));
  return { code: err.code, message: err.message, hint: HINTS[err.code] ?? HINTS.internal! };
}


/** Folds one installer event into the progress view. */
function applyEvent(p: InstallProgressView, e: InstallEvent): InstallProgressView {
  switch (e.type) {
    case 'plan':
      return { ...p, needBytes: e.needBytes, availableBytes: e.availableBytes };
    case 'file-start':
      return { ...p, path: e.path, fileBytes: e.resumeFrom, fileSize: e.size, resumedFrom: e.resumeFrom, notice: e.resumeFrom > 0 ? `resumed ${e.path} from ${formatBytes(e.resumeFrom)}` : p.notice };
    case 'progress':
      return { ...p, path: e.path, fileBytes: e.fileBytes, fileSize: e.fileSize, totalBytes: e.totalBytes, totalSize: e.totalSize,
        bytesPerSecond: e.bytesPerSecond, etaSeconds: e.etaSeconds, fileEtaSeconds: e.fileEtaSeconds };
    case 'paused':
      return { ...p, state: 'paused' };
    case 'resumed':
      return { ...p, state: 'running' };
    case 'retry':
      return { ...p, notice: `retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)} s: ${e.error}` };
    case 'restart':
      return { ...p, notice: `restarted ${e.path} from byte 0 (${e.reason}: ${e.detail})` };
    case 'hub-digests':
      return { ...p, notice: e.error ? `the Hub's file digests could not be read (${e.error}): files without a sha256 are checked by size only`
        : `checking ${e.files} file(s) against the Hub's sha256 (commit ${e.commit?.slice(0, 10)})` };
    case 're-resolve':
      return { ...p, notice: `the download link of ${e.path} expired (HTTP ${e.status}): asked for a new one, resuming` };
    case 'converting':
      return { ...p, notice: `converting ${e.path}` };
    default:
      return p;
  }
}

export const createModelsSlice: Slice<ModelsSlice> = (set, get) => {
  const setIn = <K extends 'installs' | 'verifications' | 'modelErrors' | 'modelNotices'>(key: K, id: string, value: ModelsSlice[K][string] | undefined) =>
    set((s) => {
      const next = { ...s[key] } as Record<string, unknown>;
      if (value === undefined) delete next[id];
      else next[id] = value;
      return { [key]: next } as Partial<ModelsSlice>;
    });

  async function runInstallJob(id: string, start: () => RunningJob<'modelInstall'> | RunningJob<'modelImportFiles'>): Promise<void> {
    if (jobs.has(id)) return;
    setIn('modelErrors', id, undefined);
    setIn('modelNotices', id, undefined);
    setIn('verifications', id, undefined);
    const entry = get().models.find((m) => m.id === id);
    setIn('installs', id, { state: 'running', fileBytes: 0, totalBytes: entry?.committedBytes ?? 0, totalSize: entry?.downloadBytes ?? 0, bytesPerSecond: 0, resumedFrom: 0 });
    // Ask for persistent storage (only the page can): weights should not be evicted under storage pressure.
    await navigator.storage?.persist?.().catch(() => false);
    const job = start();
    jobs.set(id, job);
    try {
      const r = await job.result;
      set({ storage: r.storage });
      setIn('modelNotices', id, `Installed (${formatBytes(r.storedBytes)} stored)`);
      rememberSource(id, undefined);
    } catch (e) {
      const err = modelError(e);
      if (err.code === 'cancelled') setIn('modelNotices', id, 'Cancelled: completed files are kept');
      else setIn('modelErrors', id, err);
    } finally {
      jobs.delete(id);
      setIn('installs', id, undefined);
      await get().refreshModels();
    }
  }

  const onProgress = (id: string) => (e: InstallEvent) => {
    const cur = get().installs[id];
    if (cur) setIn('installs', id, applyEvent(cur, e));
  };

  return {
    models: [],
    hubEndpoint: savedHubEndpoint(),
    setHubEndpoint(url) {
      set({ hubEndpoint: url });
      try {
        if (url) localStorage.setItem(HUB_ENDPOINT_KEY, url);
        else localStorage.removeItem(HUB_ENDPOINT_KEY);
      } catch { /* storage disabled: the endpoint lasts for this session */ }
    },
    storage: null,
    modelsStatus: 'idle',
    precision: null,
    installs: {},
    verifications: {},
    modelErrors: {},
    modelNotices: {},

    async syncPrecision(change) {
      try {
        const info = await engine.run('precisionPolicy', { set: { ...savedPrecision(), ...change } });
        set({ precision: info });
        localStorage.setItem(PRECISION_KEY, JSON.stringify(info.policy));
      } catch (e) {
        get().pushError({ title: 'Could not set the device precision', ...modelError(e) });
      }
    },

    async refreshModels() {
      if (get().modelsStatus === 'idle') set({ modelsStatus: 'loading' });
      try {
        const { models, storage } = await engine.run('modelsList', {});
        set({ models, storage, modelsStatus: 'ready' });
      } catch (e) {
        set({ modelsStatus: 'failed' });
        get().pushError({ title: 'Could not read the installed models', ...modelError(e) });
      }
    },

    installModel(id, source) {
      const src = source ?? recallSource(id);
      rememberSource(id, src);
      const hubEndpoint = get().hubEndpoint || undefined;
      return runInstallJob(id, () => engine.start('modelInstall', { id, ...src, ...(hubEndpoint ? { hubEndpoint } : {}) }, { onProgress: onProgress(id) }));
    },

    async installBundle(url) {
      try {
        const entry = await engine.run('modelAddBundle', { url });
        await get().refreshModels();
        await get().installModel(entry.id);
        return entry.id;
      } catch (e) {
        get().pushError({ title: 'Could not add the bundle', ...modelError(e) });
        return null;
      }
    },

    async installSet(setId) {
      for (const m of get().models.filter((x) => x.set === setId && x.state !== 'installed')) {
        await get().installModel(m.id);
        if (get().modelErrors[m.id] || get().models.find((x) => x.id === m.id)?.state !== 'installed') return; // stop at the first failure
      }
    },

    importModelFiles(id, files) {
      return runInstallJob(id, () => engine.start('modelImportFiles', { id, files }, { onProgress: onProgress(id) }));
    },

    pauseInstall(id) {
      jobs.get(id)?.control('pause');
    },

    resumeInstall(id) {
      jobs.get(id)?.control('resume');
    },

    cancelInstall(id) {
      jobs.get(id)?.cancel();
    },

    async verifyModel(id) {
      setIn('verifications', id, 'running');
      setIn('modelErrors', id, undefined);
      try {
        setIn('verifications', id, await engine.run('modelVerify', { id }));
      } catch (e) {
        setIn('verifications', id, undefined);
        setIn('modelErrors', id, modelError(e));
      }
    },

    async deleteModel(id) {
      setIn('modelErrors', id, undefined);
      setIn('verifications', id, undefined);
      const before = get().storage?.usageBytes ?? null;
      try {
        const storage = await engine.run('modelDelete', { id });
        rememberSource(id, undefined);
        const freed = before !== null && storage.usageBytes !== null ? Math.max(0, before - storage.usageBytes) : null;
        setIn('modelNotices', id, freed !== null ? `Deleted: ${formatBytes(freed)} freed` : 'Deleted');
      } catch (e) {
        setIn('modelErrors', id, modelError(e));
      }
      await get().refreshModels();
    },

    installSourceOf: (id) => recallSource(id),
  };
};
