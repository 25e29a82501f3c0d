/**
 * Model-management jobs in the worker: the only code that touches the weights database. Installs run through
 * WeightsInstaller (resumable across sessions: committed progress lives in IndexedDB); their events are forwarded
 * as progress; pause/resume arrive as control actions, cancel through the protocol's cancel.
 */
import { fetchableUrlProblem } from '../../pwa/csp';
import { appBase } from '../app-base';
import { JobError, type JobContext, type JobHandlers } from '../protocol';
import type { DevicePart, InstallResult, ModelEntry, ModelJobs, StorageInfo } from '../models-protocol';
import { WEIGHT_PRECISIONS, deviceBytesOf, type ModelComponent, type WeightPrecision } from '../../model/precision';
import { allManifests, downloadBytesOf, findManifest, isBuiltin, precisionsOf, sourceLabel, storedBytesEstimate } from '../../weights/catalog/catalog';
import { QuotaError, WeightsInstaller, type InstallJob } from '../../weights/install/installer';
import { formatBytes } from '../../lib/format-bytes';
import { HttpError, TruncatedError } from '../../weights/install/download';
import { estimateStoredBytes, type ModelManifest } from '../../weights/catalog/manifest';
import { WeightsStorage } from '../../weights/store/storage';
import { verifyInstalledModel } from '../../weights/store/verify';
import { fetchBundleManifest, saveAddedManifest } from '../../weights/catalog/added-manifests';

let storage: WeightsStorage | undefined;
const db = (): WeightsStorage => (storage ??= WeightsStorage.open());
/** Installs running in this worker, by model id: one at a time per model. */
const active = new Map<string, InstallJob>();

async function storageInfo(): Promise<StorageInfo> {
  const sm = (globalThis as { navigator?: Navigator }).navigator?.storage;
  if (!sm?.estimate) return { usageBytes: null, quotaBytes: null, availableBytes: null, persisted: null };
  const [est, persisted] = await Promise.all([sm.estimate(), sm.persisted?.().catch(() => null) ?? null]);
  const usage = est.usage ?? null;
  const quota = est.quota ?? null;
  return { usageBytes: usage, quotaBytes: quota, availableBytes: quota === null ? null : Math.max(0, quota - (usage ?? 0)), persisted };
}

async function entryOf(m: ModelManifest, installer: WeightsInstaller): Promise<ModelEntry> {
  const status = await installer.status(m);
  const record = status.installed ? await db().getModelRecord(m.id) : undefined;
  const filesDone = status.files.filter((f) => f.state === 'done').length;
  const started = status.files.some((f) => f.state !== 'missing');
  const download = downloadBytesOf(m);
  // storage still needed: files not done (a partial one has its committed share stored already)
  const needBytes = status.installed ? 0 : m.files.reduce((a, f, i) => {
    const s = status.files[i]!;
    if (s.state === 'done') return a;
    const est = estimateStoredBytes(f);
    const size = s.size ?? f.size ?? f.sizeEstimate ?? 0;
    return a + (size > 0 ? Math.round(est * (1 - s.committedBytes / size)) : est);
  }, 0);
  return {
    id: m.id, name: m.name, kind: m.kind, set: m.set ?? null, description: m.description ?? null, builtin: isBuiltin(m),
    source: sourceLabel(m), precisions: precisionsOf(m), files: m.files.length,
    downloadBytes: download.bytes, sizesExact: download.exact,
    storedBytes: record?.storedBytes ?? storedBytesEstimate(m),
    state: status.installed ? 'installed' : started ? 'partial' : 'missing',
    filesDone, committedBytes: status.files.reduce((a, f) => a + f.committedBytes, 0), needBytes,
    installedAt: record?.installedAt ?? null, hubCommit: record?.hubCommit ?? null, notes: m.notes ?? [],
    ...(status.installed ? await deviceSizing(m) : { deviceBytes: null, storedError: null }),
  };
}

/** Which policy component loads a weight file of this model kind and role (and which of its keys it loads). */
const PARTS: Record<string, { label: string; component: ModelComponent | null; loads?: (key: string) => boolean }> = {
  'sd15-pipeline/unet': { label: 'UNet', component: 'unet' },
  'sd15-pipeline/vae': { label: 'VAE decoder', component: 'vaeDecoder', loads: (k) => k.startsWith('decoder.') || k.startsWith('post_quant_conv.') },
  'sd15-pipeline/text_encoder': { label: 'Text encoder', component: 'textEncoder' },
  'clip/model': { label: 'CLIP ViT-L/14', component: 'clipVision' },
  'openclip/model': { label: 'OpenCLIP ViT-H/14', component: 'vitHVision' },
  'aesthetic-head/model': { label: 'Aesthetic head', component: null },
};

/** Device bytes per loaded part and precision, and the stored quantization error, from the tensor records. */
async function deviceSizing(m: ModelManifest): Promise<Pick<ModelEntry, 'deviceBytes' | 'storedError'>> {
  const parts: DevicePart[] = [];
  let worst = 0, sum = 0, count = 0;
  for (const f of m.files) {
    const part = PARTS[`${m.kind}/${f.role}`];
    if (!part) continue;
    const bytes: Record<WeightPrecision, number> = { fp32: 0, fp16: 0, int8: 0 };
    for (const t of await db().readTensorRecords(m.id, f.path)) {
      if (part.loads && !part.loads(t.name)) continue;
      // integer tensors are stored 'raw'; every float tensor is stored at fp32 / fp16 / int8 (tensor-codec.ts)
      for (const p of WEIGHT_PRECISIONS) bytes[p] += deviceBytesOf(t.name, t.shape, t.storage !== 'raw', part.component ? p : 'fp32');
      const err = t.quant?.error.rmsRel;
      if (err !== undefined) { worst = Math.max(worst, err); sum += err; count++; }
    }
    parts.push({ label: part.label, component: part.component, bytes });
  }
  return { deviceBytes: parts, storedError: count ? { worstRmsRel: worst, meanRmsRel: sum / count, tensors: count } : null };
}

async function manifestOrThrow(id: string): Promise<ModelManifest> {
  const all = await allManifests();
  const m = all.find((x) => x.id === id);
  if (!m) throw new JobError('invalid-input', `unknown model "${id}" (known: ${all.map((x) => x.id).join(', ')})`);
  return m;
}

/** Errors of the weights layer as typed job errors with messages that say what happened and what to do. */
export function toJobError(e: unknown): JobError {
  if (e instanceof JobError) return e;
  if (e instanceof QuotaError) return new JobError('quota', e.message);
  const message = e instanceof Error ? e.message : String(e);
  // by the `name` strings the classes set (class names do not survive minification)
  const name = e instanceof Error || e instanceof DOMException ? e.name : '';
  if (name === 'QuotaExceededError') {
    // Chromium's estimate() reports a static quota (usage + 10 GiB, for privacy), so the real limit shows only here
    return new JobError('quota', 'the browser refused to store more weights (QuotaExceededError): its real storage limit is lower than '
      + 'the estimate it reports. Nothing was marked installed; the files completed so far are kept');
  }
  if (name === 'CancelledError' || name === 'AbortError') {
    return new JobError('cancelled', 'install cancelled; the files completed so far are kept, Install resumes from them');
  }
  const net = (x: unknown) => x instanceof HttpError || x instanceof TruncatedError || x instanceof TypeError;
  if (net(e) || net((e as { cause?: unknown } | null)?.cause)) return new JobError('network', `download failed: ${message}`);
  if (name === 'IntegrityError' || /^(FileFormatError|SafetensorsError|ManifestError|TorchCheckpointError|UnpicklingError|ZipError|ByteSourceError)$/.test(name)
    || /the chosen files lack/.test(message)) {
    return new JobError('invalid-input', message);
  }
  return new JobError('internal', message);
}

type InstallCtx = JobContext<'modelInstall'> | JobContext<'modelImportFiles'>;

/** Runs one install job to completion, wiring progress, pause/resume and cancel. */
async function runInstall(id: string, ctx: InstallCtx, start: (installer: WeightsInstaller) => InstallJob): Promise<InstallResult> {
  if (active.has(id)) throw new JobError('invalid-input', `"${id}" is already being installed`);
  const installer = new WeightsInstaller(db(), {
    onEvent: (e) => ctx.progress(e),
    signal: ctx.signal,
    // persist() exists on the page only (the UI asks for it); here we report whether it was granted
    persist: async () => (await navigator.storage?.persisted?.()) ?? false,
  });
  let job: InstallJob;
  try {
    job = start(installer);
  } catch (e) {
    throw toJobError(e);
  }
  active.set(id, job);
  ctx.onControl((action) => (action === 'pause' ? job.pause() : job.resume()));
  try {
    const rec = await job.done;
    return { id, storedBytes: rec.storedBytes, storage: await storageInfo() };
  } catch (e) {
    throw toJobError(e);
  } finally {
    active.delete(id);
  }
}

export const modelHandlers: JobHandlers<ModelJobs> = {
  async modelsList() {
    const installer = new WeightsInstaller(db());
    const models: ModelEntry[] = [];
    for (const m of await allManifests()) models.push(await entryOf(m, installer));
    return { models, storage: await storageInfo() };
  },

  storageEstimate: () => storageInfo(),

  async modelAddBundle({ url }) {
    if (!/^https?:\/\//i.test(url)) throw new JobError('invalid-input', `bundle URL must start with http:// or https://, got "${url}"`);
    let m: ModelManifest;
    try {
      m = await fetchBundleManifest(url);
    } catch (e) {
      throw new JobError(e instanceof TypeError ? 'network' : 'invalid-input', (e as Error).message);
    }
    if (findManifest(m.id)) {
      throw new JobError('invalid-input', `the bundle's model id "${m.id}" is one of the app's own models: install that one, or convert with another --id`);
    }
    await saveAddedManifest(m);
    return entryOf(m, new WeightsInstaller(db()));
  },

  async modelInstall(params, ctx) {
    const m = await manifestOrThrow(params.id);
    for (const [what, u] of [['bundle URL', params.baseUrl], ['Hub endpoint', params.hubEndpoint]] as const) {
      const problem = u === undefined ? null : fetchableUrlProblem(u);
      if (problem) throw new JobError('invalid-input', `${what} "${u}": ${problem}`);
    }
    return runInstall(m.id, ctx, (installer) => installer.install(m, {
      baseUrl: params.baseUrl, revision: params.revision, hubEndpoint: params.hubEndpoint, stallTimeoutMs: params.stallTimeoutMs,
      base: appBase(),
    }));
  },

  async modelImportFiles(params, ctx) {
    const m = await manifestOrThrow(params.id);
    if (!Array.isArray(params.files) || params.files.length === 0) throw new JobError('invalid-input', 'no files were chosen');
    return runInstall(m.id, ctx, (installer) => installer.importFiles(m, params.files));
  },

  async modelVerify(params, ctx) {
    await manifestOrThrow(params.id);
    if (!(await db().getModelRecord(params.id))) throw new JobError('invalid-input', `"${params.id}" is not installed: nothing to verify`);
    try {
      return await verifyInstalledModel(db(), params.id, (file, index, total) => ctx.progress({ file, index, total }), () => ctx.cancelled());
    } catch (e) {
      throw toJobError(e);
    }
  },

  async modelDelete(params) {
    await manifestOrThrow(params.id);
    if (active.has(params.id)) throw new JobError('invalid-input', `"${params.id}" is being installed: cancel the install first`);
    await db().deleteModel(params.id);
    return storageInfo();
  },
};

export { formatBytes };
