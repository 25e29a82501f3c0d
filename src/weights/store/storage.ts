/**
 * Installed weights in IndexedDB, through one idb-keyval custom store (`createStore`). Keys are arrays, so one
 * model's or one file's records form a contiguous key range:
 *
 *   ['model', modelId]                          ModelRecord, written LAST: present = every file verified
 *   ['file', modelId, path]                     FileRecord, written when the file is verified
 *   ['tensor', modelId, path, name]             TensorRecord (shape, storage precision, quantization info)
 *   ['chunk', modelId, path, name, i]           Uint8Array, ≤ chunkBytes (default and maximum 64 MiB)
 *   ['text', modelId, path]                     string (configs, tokenizer files)
 *   ['progress', modelId, path]                 ProgressRecord: committed offset, ETag, sha256 state
 *   ['raw', modelId, path, i]                   Uint8Array: staged raw bytes of a torch-zip file, block i
 *                                               (blocks of chunkBytes), deleted once its tensors are stored
 *
 * A tensor's chunks, its record and the file's progress are written in ONE transaction (`commit`), so after a
 * crash the progress never points past data that is not there.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import { storedChecksum } from './stored-checksum';
import type { FileFormat, ModelManifest, StoragePrecision } from '../catalog/manifest';
import type { HostTensor } from '../formats/safetensors';
import { decodeStoredTensor, type StoredQuant } from './tensor-codec';

export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
const DEFAULT_DB_NAME = 'ipgo-weights';

/** How a tensor's bytes are stored: a float precision, or the checkpoint's own dtype for integer tensors. */
export type TensorStorage = StoragePrecision | 'raw';

export interface TensorRecord {
  name: string;
  shape: number[];
  /** dtype in the checkpoint (safetensors spelling: F32, F16, BF16, I64, ...). */
  sourceDtype: string;
  storage: TensorStorage;
  /** int8: scales (+ error stats); fp16/int8 converted from another dtype: error stats (tensor-codec.ts StoredQuant). */
  quant?: StoredQuant;
  byteLength: number;
  chunks: number;
  /**
   * XXH128 of the stored bytes (all chunks in order), so `verify` can re-hash what IndexedDB holds. A storage
   * checksum, not a security hash: the file's sha256 is checked as it arrives; this only has to catch damage at
   * rest (see stored-checksum.ts).
   */
  xxh128?: string;
}

/** What a file was checked against on install: its sha256, each block's sha256, or only its size. */
export type FileVerifiedBy = 'sha256' | 'block-sha256' | 'size';

export interface FileRecord {
  path: string;
  role: string;
  format: FileFormat;
  size: number;
  /**
   * sha256 of the whole file: computed as it was fetched ('sha256'; 'size' for text files), or with
   * 'block-sha256' the manifest's digest whose every block was checked; null when neither exists (a tensor file
   * checked by size only is not hashed).
   */
  sha256: string | null;
  verifiedBy: FileVerifiedBy;
  etag?: string;
  /** Where the bytes came from: the URL, or "import:<name>:<size>:<mtime>". */
  source: string;
  tensorCount: number;
  storedBytes: number;
}

export interface ModelRecord {
  id: string;
  manifest: ModelManifest;
  revision?: string;
  /** The commit the Hub resolved the revision to at install (hub-digests.ts), when it was read. */
  hubCommit?: string;
  installedAt: number;
  files: FileRecord[];
  storedBytes: number;
}

export interface ProgressRecord {
  url: string;
  size: number;
  etag?: string;
  /** Every byte before this offset is committed: its tensors stored, hashed into `hashState`. */
  offset: number;
  /** hash-wasm SHA-256 `save()` state after hashing bytes [0, offset). */
  hashState: Uint8Array;
  /** JSON-serializable state of the format reader at `offset` (e.g. the parsed safetensors header). */
  parserState: unknown;
  tensorsStored: number;
  storedBytes: number;
  updatedAt: number;
}

export interface StoredTensor {
  record: Omit<TensorRecord, 'chunks' | 'byteLength'>;
  bytes: Uint8Array;
  /** XXH128 of `bytes` when the encoder computed it already (unit-codec.ts); commit() hashes otherwise. */
  xxh128?: string;
}

type Key = IDBValidKey[];

/** All keys that start with `prefix` (arrays sort after every string and number). */
function prefixRange(prefix: Key): IDBKeyRange {
  return IDBKeyRange.bound(prefix, [...prefix, []]);
}

export class WeightsStorage {
  readonly chunkBytes: number;

  constructor(readonly store: UseStore, opts: { chunkBytes?: number } = {}) {
    this.chunkBytes = opts.chunkBytes ?? MAX_CHUNK_BYTES;
    if (!(Number.isSafeInteger(this.chunkBytes) && this.chunkBytes > 0 && this.chunkBytes <= MAX_CHUNK_BYTES)) {
      throw new RangeError(`chunkBytes must be an integer in 1..${MAX_CHUNK_BYTES}, got ${this.chunkBytes}`);
    }
  }

  /** Opens (or creates) the database `dbName` with its single key-value store. */
  static open(dbName = DEFAULT_DB_NAME, opts: { chunkBytes?: number } = {}): WeightsStorage {
    return new WeightsStorage(createStore(dbName, 'kv'), opts);
  }

  private async get<T>(key: Key): Promise<T | undefined> {
    return this.store('readonly', (s) => promisifyRequest(s.get(key) as IDBRequest<T | undefined>));
  }

  private async getRange<T>(prefix: Key): Promise<T[]> {
    return this.store('readonly', (s) => promisifyRequest(s.getAll(prefixRange(prefix)) as IDBRequest<T[]>));
  }

  /**
   * Stores tensors (split into chunks), text files and the file's progress in one transaction.
   * Returns the bytes written for tensor data.
   */
  async commit(modelId: string, path: string,
    items: { tensors?: StoredTensor[]; texts?: string[]; raw?: { index: number; bytes: Uint8Array }[]; progress?: ProgressRecord }): Promise<number> {
    let written = 0;
    const checksum = items.tensors?.some((t) => t.xxh128 === undefined) ? await storedChecksum() : undefined;
    // hashed before the transaction opens: an IndexedDB transaction auto-commits across an await
    const digests = (items.tensors ?? []).map((t) => t.xxh128 ?? checksum!(t.bytes));
    await this.store('readwrite', (s) => {
      for (const [k, t] of (items.tensors ?? []).entries()) {
        const n = Math.max(1, Math.ceil(t.bytes.byteLength / this.chunkBytes));
        for (let i = 0; i < n; i++) {
          // slice() copies: a chunk must not drag the whole source buffer into the database
          s.put(t.bytes.slice(i * this.chunkBytes, (i + 1) * this.chunkBytes), ['chunk', modelId, path, t.record.name, i]);
        }
        const rec: TensorRecord = { ...t.record, byteLength: t.bytes.byteLength, chunks: n, xxh128: digests[k] };
        s.put(rec, ['tensor', modelId, path, t.record.name]);
        written += t.bytes.byteLength;
      }
      for (const text of items.texts ?? []) s.put(text, ['text', modelId, path]);
      for (const r of items.raw ?? []) s.put(r.bytes.slice(), ['raw', modelId, path, r.index]);
      if (items.progress) s.put(items.progress, ['progress', modelId, path]);
      return promisifyRequest(s.transaction);
    });
    return written;
  }

  getProgress(modelId: string, path: string): Promise<ProgressRecord | undefined> {
    return this.get<ProgressRecord>(['progress', modelId, path]);
  }

  getFileRecord(modelId: string, path: string): Promise<FileRecord | undefined> {
    return this.get<FileRecord>(['file', modelId, path]);
  }

  getModelRecord(modelId: string): Promise<ModelRecord | undefined> {
    return this.get<ModelRecord>(['model', modelId]);
  }

  /** Marks a file verified: its FileRecord replaces the progress record. */
  async finishFile(modelId: string, rec: FileRecord): Promise<void> {
    await this.store('readwrite', (s) => {
      s.put(rec, ['file', modelId, rec.path]);
      s.delete(['progress', modelId, rec.path]);
      return promisifyRequest(s.transaction);
    });
  }

  async putModelRecord(rec: ModelRecord): Promise<void> {
    await this.store('readwrite', (s) => {
      s.put(rec, ['model', rec.id]);
      return promisifyRequest(s.transaction);
    });
  }

  /** Removes the model record only (the model is no longer "installed"; its files stay for a resume). */
  async unmarkInstalled(modelId: string): Promise<void> {
    await this.store('readwrite', (s) => {
      s.delete(['model', modelId]);
      return promisifyRequest(s.transaction);
    });
  }

  /** Installed models (those whose model record exists). */
  listModels(): Promise<ModelRecord[]> {
    return this.getRange<ModelRecord>(['model']);
  }

  /** Deletes everything stored for one file of a model (tensors, chunks, text, progress, file record). */
  async clearFile(modelId: string, path: string): Promise<void> {
    await this.deletePrefixes([['chunk', modelId, path], ['tensor', modelId, path], ['raw', modelId, path]], [
      ['text', modelId, path], ['progress', modelId, path], ['file', modelId, path]]);
  }

  /** Deletes a model, installed or partial. The model record goes first, so a half-deleted model is not "installed". */
  async deleteModel(modelId: string): Promise<void> {
    await this.unmarkInstalled(modelId);
    await this.deletePrefixes(['chunk', 'tensor', 'raw', 'text', 'progress', 'file'].map((k) => [k, modelId]), []);
  }

  private async deletePrefixes(prefixes: Key[], keys: Key[]): Promise<void> {
    await this.store('readwrite', (s) => {
      for (const p of prefixes) s.delete(prefixRange(p));
      for (const k of keys) s.delete(k);
      return promisifyRequest(s.transaction);
    });
  }

  /** Deletes the staged raw blocks of a file. */
  async clearRaw(modelId: string, path: string): Promise<void> {
    await this.deletePrefixes([['raw', modelId, path]], []);
  }

  /** Reads staged raw bytes [offset, offset + length) of a file whose blocks are `blockBytes` long. */
  async readRaw(modelId: string, path: string, blockBytes: number, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const first = Math.floor(offset / blockBytes);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / blockBytes);
    const blocks = await this.store('readonly', (s) =>
      promisifyRequest(s.getAll(IDBKeyRange.bound(['raw', modelId, path, first], ['raw', modelId, path, last])) as IDBRequest<Uint8Array[]>));
    if (blocks.length !== last - first + 1) throw new Error(`${modelId}/${path}: staged raw blocks ${first}..${last} missing`);
    let at = 0;
    blocks.forEach((b, k) => {
      const blockStart = (first + k) * blockBytes;
      const from = Math.max(0, offset - blockStart);
      const to = Math.min(b.byteLength, offset + length - blockStart);
      if (to > from) {
        out.set(b.subarray(from, to), at);
        at += to - from;
      }
    });
    if (at !== length) throw new Error(`${modelId}/${path}: staged raw bytes end before ${offset + length}`);
    return out;
  }

  /** Opens an installed model for reading; throws when it is absent or only partly installed. */
  async openModel(modelId: string): Promise<ModelReader> {
    const rec = await this.getModelRecord(modelId);
    if (!rec) throw new Error(`model "${modelId}" is not installed`);
    return new ModelReader(this, rec);
  }

  /** @internal used by ModelReader */
  readTensorRecords(modelId: string, path: string): Promise<TensorRecord[]> {
    return this.getRange<TensorRecord>(['tensor', modelId, path]);
  }

  /** @internal used by ModelReader */
  async readTensorBytes(modelId: string, path: string, name: string): Promise<{ record: TensorRecord; bytes: Uint8Array }> {
    const record = await this.get<TensorRecord>(['tensor', modelId, path, name]);
    if (!record) throw new Error(`${modelId}/${path}: no tensor "${name}"`);
    const chunks = await this.getRange<Uint8Array>(['chunk', modelId, path, name]);
    if (chunks.length !== record.chunks) {
      throw new Error(`${modelId}/${path}: tensor "${name}" has ${chunks.length} of ${record.chunks} chunks: storage corrupt, reinstall`);
    }
    const bytes = new Uint8Array(record.byteLength);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    if (at !== record.byteLength) throw new Error(`${modelId}/${path}: tensor "${name}" chunks hold ${at} bytes, record says ${record.byteLength}`);
    return { record, bytes };
  }

  /** @internal used by ModelReader */
  async readText(modelId: string, path: string): Promise<string> {
    const text = await this.get<string>(['text', modelId, path]);
    if (text === undefined) throw new Error(`${modelId}: no text file "${path}"`);
    return text;
  }
}

/** What the worker uses to load an installed model. */
export class ModelReader {
  constructor(private readonly storage: WeightsStorage, readonly record: ModelRecord) {}

  get id(): string {
    return this.record.id;
  }

  files(): FileRecord[] {
    return this.record.files;
  }

  /** The file with a manifest role ("unet", "vae", "text_encoder", "model", "unet-config", ...). */
  fileByRole(role: string): FileRecord {
    const f = this.record.files.find((x) => x.role === role);
    if (!f) throw new Error(`model "${this.id}" has no file with role "${role}" (roles: ${this.record.files.map((x) => x.role).join(', ')})`);
    return f;
  }

  /** Tensor records of a tensor file, sorted by name. */
  listTensors(path: string): Promise<TensorRecord[]> {
    return this.storage.readTensorRecords(this.id, path);
  }

  /** One tensor's stored bytes (chunks re-assembled) and its record (storage precision, quantization). */
  readTensor(path: string, name: string): Promise<{ record: TensorRecord; bytes: Uint8Array }> {
    return this.storage.readTensorBytes(this.id, path, name);
  }

  /** One tensor decoded to host form: floats → Float32Array (fp16 widened, int8 dequantized), ints → Int32Array. */
  async readHostTensor(path: string, name: string): Promise<HostTensor> {
    const { record, bytes } = await this.readTensor(path, name);
    return decodeStoredTensor(record, bytes);
  }

  readText(path: string): Promise<string> {
    return this.storage.readText(this.id, path);
  }

  async readJson<T = unknown>(path: string): Promise<T> {
    return JSON.parse(await this.readText(path)) as T;
  }
}
