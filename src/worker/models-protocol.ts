/**
 * Model-management jobs (install, import, list, verify, delete). The worker owns the weights database
 * (src/weights: WeightsStorage / WeightsInstaller); the UI sees manifests, install states, progress events and
 * storage numbers. Errors arrive typed: `quota` (not enough storage: the message says need vs available),
 * `network` (the server or connection failed after retries), `invalid-input` (a wrong file: sha256 / size /
 * format mismatch, missing picked files, unknown model), `cancelled`.
 */
import type { JobSpec } from './protocol';
import type { InstallEvent } from '../weights/install/installer';
import type { ModelKind, ModelSet, StoragePrecision } from '../weights/catalog/manifest';
import type { FileVerification, ModelVerification } from '../weights/store/verify';
import type { ModelComponent, WeightPrecision } from '../model/precision';

export type { InstallEvent, FileVerification, ModelVerification };

/** navigator.storage numbers for this origin (null where the browser does not say). */
export interface StorageInfo {
  usageBytes: number | null;
  quotaBytes: number | null;
  /** quota − usage. */
  availableBytes: number | null;
  /** Whether the origin's storage is persistent (not evicted under pressure). */
  persisted: boolean | null;
}

export type InstallState = 'installed' | 'partial' | 'missing';

export interface DevicePart {
  label: string;
  component: ModelComponent | null;
  bytes: Record<WeightPrecision, number>;
}

/** One manifest known to the app, with what is stored for it. */
export interface ModelEntry {
  id: string;
  name: string;
  kind: ModelKind;
  set: ModelSet | null;
  description: string | null;
  /** Served by the app itself (the random-weight tiny models). */
  builtin: boolean;
  /** Where it downloads from: "hf:owner/repo@revision" or the static base URL. */
  source: string;
  /** Storage precisions of its tensor files (e.g. ["fp16"]). */
  precisions: StoragePrecision[];
  files: number;
  /** Bytes to download (exact when every size is pinned, else with the manifest's estimates). */
  downloadBytes: number;
  sizesExact: boolean;
  /** Bytes it takes in IndexedDB once installed (estimate by precision, or the record's exact count). */
  storedBytes: number;
  state: InstallState;
  /** Files verified and stored. */
  filesDone: number;
  /** Bytes of the files committed so far (whole verified files + the committed prefix of partial ones). */
  committedBytes: number;
  /** Storage still needed to finish (0 when installed): compare with StorageInfo.availableBytes. */
  needBytes: number;
  installedAt: number | null;
  /** The commit the Hub resolved the revision to when it was installed (null: not from the Hub, or unread). */
  hubCommit: string | null;
  notes: string[];
  /**
   * Installed models: the device bytes each loaded part takes at each precision (precision.ts deviceBytesOf), with
   * the policy component that sets its precision (null: always float32, e.g. the aesthetic head).
   */
  deviceBytes: DevicePart[] | null;
  /** Installed models: the stored weights' quantization error the installer measured (worst and mean RMS relative). */
  storedError: { worstRmsRel: number; meanRmsRel: number; tensors: number } | null;
}

export interface ModelsList {
  models: ModelEntry[];
  storage: StorageInfo;
}

export interface InstallParams {
  /** A manifest id from `modelsList`. */
  id: string;
  /** Download from this base URL (a mirror, or a bundle whose files follow the manifest paths) instead of the manifest's source. */
  baseUrl?: string;
  /** Pin a Hugging Face revision (commit sha, tag or branch). */
  revision?: string;
  /** The Hugging Face Hub's address (a mirror); default https://huggingface.co. */
  hubEndpoint?: string;
  /** No bytes for this long (ms) counts as a dropped connection and is retried; default 30 s. */
  stallTimeoutMs?: number;
}

export interface ImportFilesParams {
  id: string;
  /** Files from `<input type=file webkitdirectory>` (their webkitRelativePath ends with the manifest paths) or picked one by one. */
  files: File[];
}

export interface InstallResult {
  id: string;
  storedBytes: number;
  storage: StorageInfo;
}

export interface VerifyProgress {
  file: FileVerification;
  index: number;
  total: number;
}

export interface ModelJobs {
  /** Every bundled manifest, built-in tiny models first, with its install state; and the storage estimate. */
  modelsList: JobSpec<Record<string, never>, never, ModelsList>;
  storageEstimate: JobSpec<Record<string, never>, never, StorageInfo>;
  /** Adds the model of a bundle made by tools/convert (`url`: its manifest.json or its folder); install it by id. */
  modelAddBundle: JobSpec<{ url: string }, never, ModelEntry>;
  /** Downloads (or resumes) a model; progress = the installer's events. Pause/resume by control, stop by cancel. */
  modelInstall: JobSpec<InstallParams, InstallEvent, InstallResult, 'pause' | 'resume'>;
  /** Installs a model from local files, no network; same verification as a download. */
  modelImportFiles: JobSpec<ImportFilesParams, InstallEvent, InstallResult, 'pause' | 'resume'>;
  /** Re-hashes what is stored for an installed model; reports per file. */
  modelVerify: JobSpec<{ id: string }, VerifyProgress, ModelVerification>;
  /** Deletes a model, installed or partial; resolves with the storage estimate afterwards. */
  modelDelete: JobSpec<{ id: string }, never, StorageInfo>;
}
