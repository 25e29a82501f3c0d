/**
 * Re-checks what IndexedDB holds for an installed model, file by file: text files are re-hashed and compared with
 * the sha256 and size recorded when they were verified on install; tensor files must have every tensor the install
 * stored, each tensor's chunks must add up to its recorded length and re-hash to its recorded XXH128 checksum
 * (computed on install from the stored bytes; the file's sha256 covers the bytes as downloaded), and the
 * file's stored bytes must match its record. Nothing is repaired here: a failed file is reported (reinstall it).
 */
import { createSHA256 } from 'hash-wasm';
import { storedChecksum } from './stored-checksum';
import { isTensorFormat } from '../catalog/manifest';
import type { FileRecord, WeightsStorage } from './storage';

export interface FileVerification {
  path: string;
  ok: boolean;
  /** Bytes re-read from storage. */
  checkedBytes: number;
  /** What was compared: 'sha256' (text), 'tensors' (per-tensor XXH128 + lengths). */
  checkedBy: 'sha256' | 'tensors';
  /** Why the file failed, when it did. */
  problem?: string;
}

export interface ModelVerification {
  modelId: string;
  ok: boolean;
  files: FileVerification[];
}

/** Verifies an installed model; `onFile` is called after each file. Throws if the model is not installed. */
export async function verifyInstalledModel(storage: WeightsStorage, modelId: string,
  onFile?: (f: FileVerification, index: number, total: number) => void, cancelled: () => boolean = () => false): Promise<ModelVerification> {
  const reader = await storage.openModel(modelId);
  const hasher = await createSHA256();
  const checksum = await storedChecksum();
  const files: FileVerification[] = [];
  for (const [i, rec] of reader.files().entries()) {
    if (cancelled()) throw Object.assign(new Error('verify cancelled'), { name: 'CancelledError' });
    const v = await verifyFile(reader, rec, hasher, checksum).catch((e: unknown): FileVerification => ({
      path: rec.path, ok: false, checkedBytes: 0, checkedBy: isTensorFormat(rec.format) ? 'tensors' : 'sha256',
      problem: (e as Error).message,
    }));
    files.push(v);
    onFile?.(v, i, reader.files().length);
  }
  return { modelId, ok: files.every((f) => f.ok), files };
}

type Reader = Awaited<ReturnType<WeightsStorage['openModel']>>;
type Hasher = Awaited<ReturnType<typeof createSHA256>>; // hash-wasm's IHasher

async function verifyFile(reader: Reader, rec: FileRecord, hasher: Hasher, checksum: (bytes: Uint8Array) => string): Promise<FileVerification> {
  if (!isTensorFormat(rec.format)) {
    const bytes = new TextEncoder().encode(await reader.readText(rec.path));
    const sha = hasher.init().update(bytes).digest('hex');
    const problem = bytes.byteLength !== rec.size ? `stored text is ${bytes.byteLength} bytes, the file had ${rec.size}`
      : sha !== rec.sha256 ? `sha256 ${sha} ≠ recorded ${rec.sha256}` : undefined;
    return { path: rec.path, ok: !problem, checkedBytes: bytes.byteLength, checkedBy: 'sha256', problem };
  }
  const tensors = await reader.listTensors(rec.path);
  const bad: string[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const stored = await reader.readTensor(rec.path, t.name).catch((e: unknown) => (bad.push(`${t.name}: ${(e as Error).message}`), null));
    if (!stored) continue;
    bytes += stored.bytes.byteLength;
    if (t.xxh128 === undefined) continue; // installed before per-tensor checksums: lengths only
    if (checksum(stored.bytes) !== t.xxh128) bad.push(`${t.name}: checksum of the stored bytes changed`);
  }
  const problems = [
    tensors.length !== rec.tensorCount ? `${tensors.length} tensors stored, ${rec.tensorCount} recorded` : '',
    bad.length ? `${bad.length} damaged tensor(s): ${bad.slice(0, 3).join('; ')}${bad.length > 3 ? '; …' : ''}` : '',
    !bad.length && bytes !== rec.storedBytes ? `${bytes} bytes stored, ${rec.storedBytes} recorded` : '',
  ].filter(Boolean);
  return { path: rec.path, ok: problems.length === 0, checkedBytes: bytes, checkedBy: 'tensors', problem: problems.join('; ') || undefined };
}
