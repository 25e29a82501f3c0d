/**
 * Model manifests (`weights-manifest/*.json`): which files make up a model, where to fetch them, how to verify
 * them and at which precision their tensors are stored. `weights-manifest/schema.json` documents the same rules
 * as a JSON Schema; `validateManifest` enforces them (no schema library: the rules are few and the messages
 * should name the offending field).
 */

export const FILE_FORMATS = ['safetensors', 'torch-zip', 'json', 'txt'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** How float tensors are stored in IndexedDB (integer tensors such as position ids are kept as they are). */
export const STORAGE_PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type StoragePrecision = (typeof STORAGE_PRECISIONS)[number];

const SOURCE_FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;
export type SourceFloatDtype = (typeof SOURCE_FLOAT_DTYPES)[number];

export const MODEL_KINDS = ['sd15-pipeline', 'clip', 'openclip', 'aesthetic-head'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** Model sets: models installed and used together, listed in this order (the built-in demo set first, then the random tiny one). */
export const MODEL_SETS = ['demo', 'tiny', 'sd15'] as const;
export type ModelSet = (typeof MODEL_SETS)[number];

export const HF_ENDPOINT = 'https://huggingface.co';
const HF_URL_PATTERN = `${HF_ENDPOINT}/{repo}/resolve/{revision}/{path}`;

/** The file URL pattern of a Hugging Face source: its own, else the Hub's at `endpoint` (a mirror, like HF_ENDPOINT). */
export function hubUrlPattern(src: { urlPattern?: string }, endpoint?: string): string {
  return src.urlPattern ?? (endpoint ? `${endpoint.replace(/\/+$/, '')}/{repo}/resolve/{revision}/{path}` : HF_URL_PATTERN);
}

export type ManifestSource =
  | {
      type: 'huggingface';
      repo: string;
      /** Branch, tag or commit sha; pin a commit sha for reproducible installs. */
      revision: string;
      /** Defaults to HF_URL_PATTERN; placeholders {repo}, {revision}, {path}. */
      urlPattern?: string;
      /** True when the repo path is a plausible guess that nobody has checked. */
      unverified?: boolean;
      note?: string;
    }
  | {
      type: 'static';
      /** Absolute, or relative to the page/worker location (e.g. "./models/tiny-sd/"). Ends with "/". */
      baseUrl: string;
      note?: string;
    };

export interface ManifestFile {
  /** Path inside the repo / below baseUrl, "/"-separated; also the file's key in storage. */
  path: string;
  format: FileFormat;
  /** What the file is to the loader, e.g. "unet", "vae", "text_encoder", "unet-config", "tokenizer-vocab". */
  role: string;
  /** Exact byte size, or null when unknown (then the server's Content-Length is trusted). */
  size: number | null;
  /** Lowercase hex sha256, or null when unknown (then only the size is verified). */
  sha256: string | null;
  /**
   * SHA-256 of each consecutive `blockBytes` block of the file (the last block may be shorter). When present the
   * install checks these instead of the whole-file `sha256`: natively (WebCrypto) and off the reading thread, and a
   * corrupt block fails the file as soon as it arrives. Requires `size`. `tools/convert` writes them.
   */
  blockSha256?: BlockDigests;
  /** Approximate byte size for the quota check when `size` is null. */
  sizeEstimate?: number;
  /** Storage precision of float tensors; required for tensor formats, absent for json/txt. */
  precision?: StoragePrecision;
  /** Float dtype of the tensors in the file as published (for the storage estimate); default "F32". */
  sourceDtype?: SourceFloatDtype;
  note?: string;
}

export interface BlockDigests {
  blockBytes: number;
  /** Lowercase hex, one per block in file order: ceil(size / blockBytes) of them. */
  sha256: string[];
}

/** Largest block a manifest may use: BlockVerifier holds one block in memory (plus WebCrypto's copies). */
export const MAX_DIGEST_BLOCK_BYTES = 256 * 1024 * 1024;

export interface ModelManifest {
  $schema?: string;
  schemaVersion: 1;
  /** Storage key of the model: lowercase letters, digits, "-", "_", ".". */
  id: string;
  name: string;
  kind: ModelKind;
  description?: string;
  license?: string;
  /** The set it belongs to (see MODEL_SETS). */
  set?: ModelSet;
  source: ManifestSource;
  files: ManifestFile[];
  notes?: string[];
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

const TENSOR_FORMATS: readonly FileFormat[] = ['safetensors', 'torch-zip'];

export function isTensorFormat(format: FileFormat): boolean {
  return TENSOR_FORMATS.includes(format);
}

const ID_RE = /^[a-z0-9][a-z0-9._-]*$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

/** Validates parsed JSON as a manifest; throws a ManifestError naming the manifest and the field. */
export function validateManifest(json: unknown, label = 'manifest'): ModelManifest {
  const fail = (msg: string): never => {
    throw new ManifestError(`${label}: ${msg}`);
  };
  const m = json as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('must be a JSON object');
  if (m.schemaVersion !== 1) fail(`schemaVersion must be 1, got ${JSON.stringify(m.schemaVersion)}`);
  if (typeof m.id !== 'string' || !ID_RE.test(m.id)) fail(`id must match ${ID_RE}, got ${JSON.stringify(m.id)}`);
  if (typeof m.name !== 'string' || !m.name) fail('name must be a non-empty string');
  if (!MODEL_KINDS.includes(m.kind as ModelKind)) fail(`kind must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(m.kind)}`);
  for (const k of ['description', 'license'] as const) {
    if (m[k] !== undefined && typeof m[k] !== 'string') fail(`${k} must be a string`);
  }
  if (m.set !== undefined && !MODEL_SETS.includes(m.set as ModelSet)) fail(`set must be one of ${MODEL_SETS.join(', ')}, got ${JSON.stringify(m.set)}`);
  if (m.notes !== undefined && !(Array.isArray(m.notes) && m.notes.every((n) => typeof n === 'string'))) {
    fail('notes must be an array of strings');
  }
  validateSource(m.source, fail);
  if (!Array.isArray(m.files) || m.files.length === 0) fail('files must be a non-empty array');
  const paths = new Set<string>();
  const roles = new Set<string>();
  (m.files as unknown[]).forEach((f, i) => {
    const path = validateFile(f, (msg) => fail(`files[${i}]: ${msg}`));
    if (paths.has(path)) fail(`files[${i}]: duplicate path "${path}"`);
    const role = (f as ManifestFile).role;
    if (roles.has(role)) fail(`files[${i}]: duplicate role "${role}"`);
    paths.add(path);
    roles.add(role);
  });
  return json as ModelManifest;
}

function validateSource(s: unknown, fail: (msg: string) => never): void {
  const src = s as Record<string, unknown>;
  if (typeof src !== 'object' || src === null) fail('source must be an object');
  if (src.note !== undefined && typeof src.note !== 'string') fail('source.note must be a string');
  if (src.type === 'huggingface') {
    if (typeof src.repo !== 'string' || !/^[\w.-]+\/[\w.+-]+$/.test(src.repo)) fail(`source.repo must be "owner/name", got ${JSON.stringify(src.repo)}`);
    if (typeof src.revision !== 'string' || !src.revision) fail('source.revision must be a non-empty string (branch, tag or commit)');
    if (src.urlPattern !== undefined && (typeof src.urlPattern !== 'string' || !src.urlPattern.includes('{path}'))) {
      fail('source.urlPattern must be a string containing {path}');
    }
    if (src.unverified !== undefined && typeof src.unverified !== 'boolean') fail('source.unverified must be a boolean');
  } else if (src.type === 'static') {
    if (typeof src.baseUrl !== 'string' || !src.baseUrl.endsWith('/')) fail('source.baseUrl must be a string ending with "/"');
  } else {
    fail(`source.type must be "huggingface" or "static", got ${JSON.stringify(src.type)}`);
  }
}

function validateFile(x: unknown, fail: (msg: string) => never): string {
  const f = x as Record<string, unknown>;
  if (typeof f !== 'object' || f === null) fail('must be an object');
  const path = f.path;
  if (typeof path !== 'string' || !path || path.startsWith('/') || path.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    fail(`path must be a relative "/"-separated path, got ${JSON.stringify(path)}`);
  }
  if (!FILE_FORMATS.includes(f.format as FileFormat)) fail(`format must be one of ${FILE_FORMATS.join(', ')}, got ${JSON.stringify(f.format)}`);
  if (typeof f.role !== 'string' || !f.role) fail('role must be a non-empty string');
  if (f.size !== null && !(Number.isSafeInteger(f.size) && (f.size as number) >= 0)) fail(`size must be a byte count or null, got ${JSON.stringify(f.size)}`);
  if (f.sha256 !== null && !(typeof f.sha256 === 'string' && SHA256_RE.test(f.sha256))) {
    fail(`sha256 must be 64 lowercase hex digits or null, got ${JSON.stringify(f.sha256)}`);
  }
  if (f.blockSha256 !== undefined) validateBlocks(f.blockSha256, f.size, fail);
  if (f.sizeEstimate !== undefined && !(Number.isSafeInteger(f.sizeEstimate) && (f.sizeEstimate as number) >= 0)) fail('sizeEstimate must be a byte count');
  if (f.note !== undefined && typeof f.note !== 'string') fail('note must be a string');
  const tensors = isTensorFormat(f.format as FileFormat);
  if (tensors && !STORAGE_PRECISIONS.includes(f.precision as StoragePrecision)) {
    fail(`precision must be one of ${STORAGE_PRECISIONS.join(', ')} for a ${String(f.format)} file, got ${JSON.stringify(f.precision)}`);
  }
  if (!tensors && f.precision !== undefined) fail(`precision is only allowed on tensor files, not ${String(f.format)}`);
  if (f.sourceDtype !== undefined && (!tensors || !SOURCE_FLOAT_DTYPES.includes(f.sourceDtype as SourceFloatDtype))) {
    fail(`sourceDtype must be one of ${SOURCE_FLOAT_DTYPES.join(', ')} on a tensor file, got ${JSON.stringify(f.sourceDtype)}`);
  }
  return path as string;
}

function validateBlocks(x: unknown, size: unknown, fail: (msg: string) => never): void {
  const b = x as Record<string, unknown>;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) fail('blockSha256 must be an object {blockBytes, sha256}');
  if (typeof size !== 'number') fail('blockSha256 needs the file size (size must not be null)');
  const blockBytes = b.blockBytes as number;
  if (!(Number.isSafeInteger(blockBytes) && blockBytes >= 1 && blockBytes <= MAX_DIGEST_BLOCK_BYTES)) {
    fail(`blockSha256.blockBytes must be an integer in 1..${MAX_DIGEST_BLOCK_BYTES}, got ${JSON.stringify(b.blockBytes)}`);
  }
  const want = Math.ceil((size as number) / blockBytes);
  if (!Array.isArray(b.sha256) || b.sha256.length !== want) {
    fail(`blockSha256.sha256 must list ${want} block digests (size ${String(size)} / blockBytes ${blockBytes}), got ${Array.isArray(b.sha256) ? b.sha256.length : JSON.stringify(b.sha256)}`);
  }
  const bad = (b.sha256 as unknown[]).findIndex((d) => !(typeof d === 'string' && SHA256_RE.test(d)));
  if (bad >= 0) fail(`blockSha256.sha256[${bad}] must be 64 lowercase hex digits, got ${JSON.stringify((b.sha256 as unknown[])[bad])}`);
}

/** Parses and validates manifest JSON text. */
export function parseManifest(text: string, label = 'manifest'): ModelManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${label}: not valid JSON: ${(e as Error).message}`);
  }
  return validateManifest(json, label);
}

export interface ResolveOptions {
  /** Overrides the manifest's revision (HF sources). */
  revision?: string;
  /** The Hub's address for HF sources without a urlPattern (default https://huggingface.co): a mirror. */
  hubEndpoint?: string;
  /**
   * Fetches the files from this base URL instead of the manifest's source (a mirror or a self-hosted bundle whose
   * files follow the manifest paths). Absolute, or relative to `base`.
   */
  baseUrl?: string;
  /** Base for relative static URLs; defaults to the page/worker location. */
  base?: string;
}

/** The URL a file is downloaded from. */
export function resolveFileUrl(manifest: ModelManifest, file: ManifestFile, opts: ResolveOptions = {}): string {
  const src: ManifestSource = opts.baseUrl !== undefined
    ? { type: 'static', baseUrl: opts.baseUrl.endsWith('/') ? opts.baseUrl : opts.baseUrl + '/' } : manifest.source;
  const encodedPath = file.path.split('/').map(encodeURIComponent).join('/');
  if (src.type === 'huggingface') {
    return hubUrlPattern(src, opts.hubEndpoint)
      .replaceAll('{repo}', src.repo)
      .replaceAll('{revision}', encodeURIComponent(opts.revision ?? src.revision))
      .replaceAll('{path}', encodedPath);
  }
  const base = opts.base ?? (globalThis as { location?: { href: string } }).location?.href;
  if (base === undefined && !/^[a-z][a-z0-9+.-]*:/i.test(src.baseUrl)) {
    throw new ManifestError(`${manifest.id}: relative baseUrl "${src.baseUrl}" needs a base URL (no location here)`);
  }
  return new URL(encodedPath, new URL(src.baseUrl, base)).href;
}

/** Bytes per element of each storage precision. */
const PRECISION_BYTES: Record<StoragePrecision, number> = { fp32: 4, fp16: 2, int8: 1 };

/**
 * Estimate of the bytes a file takes in storage, for the quota check: tensor files scale by storage precision
 * over source dtype, plus 2% and 64 KiB for int8 scales, records and headers; text files are stored as they are.
 */
export function estimateStoredBytes(file: ManifestFile): number {
  const size = file.size ?? file.sizeEstimate ?? 0;
  if (!isTensorFormat(file.format) || !file.precision) return size;
  const sourceBytes = file.sourceDtype === undefined || file.sourceDtype === 'F32' ? 4 : 2;
  return Math.ceil((size * PRECISION_BYTES[file.precision]) / sourceBytes * 1.02) + 64 * 1024;
}
