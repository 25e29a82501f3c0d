/**
 * A zip reader over a ByteSource: reads the end-of-central-directory record (and its zip64 variant), the central
 * directory, and single entries by their byte range — never the whole archive. Enough for PyTorch checkpoints
 * (stored entries, data descriptors, zip64 end records and extra fields); deflated entries go through the
 * platform's DecompressionStream('deflate-raw'). Every offset and size is checked against the file, so a corrupt
 * archive gives a ZipError with a message instead of a huge allocation or a hang.
 */
import { ByteSourceError, type ByteSource } from './byte-source';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipDirectory {
  entries: ZipEntry[];
  byName: Map<string, ZipEntry>;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const MAX_COMMENT = 0xffff;
/** Real checkpoints have a few thousand entries; the central directory of HPSv2 is well under 1 MiB. */
const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
function u64(b: Uint8Array, o: number): number {
  const v = u32(b, o) + u32(b, o + 4) * 2 ** 32;
  if (!Number.isSafeInteger(v)) throw new ZipError(`64-bit zip field at ${o} is too large (${v})`);
  return v;
}

async function readAt(src: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  try {
    return await src.read(offset, length);
  } catch (e) {
    if (e instanceof ByteSourceError) throw new ZipError(`${what}: ${e.message}`);
    throw e;
  }
}

/** Reads the central directory: two or three small reads at the end of the file, then the directory itself. */
export async function readZipDirectory(src: ByteSource): Promise<ZipDirectory> {
  const size = await src.size();
  if (size < 22) throw new ZipError(`file of ${size} bytes is too short to be a zip archive`);
  const tailLen = Math.min(size, 22 + MAX_COMMENT + 20);
  const tailStart = size - tailLen;
  const tail = await readAt(src, tailStart, tailLen, 'zip end records');
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (u32(tail, i) === EOCD_SIG && i + 22 + u16(tail, i + 20) === tailLen) { eocd = i; break; }
  }
  if (eocd < 0) throw new ZipError('no zip end-of-central-directory record: not a zip file, or truncated');
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  if (eocd >= 20 && u32(tail, eocd - 20) === ZIP64_LOCATOR_SIG) {
    const z64Offset = u64(tail, eocd - 20 + 8);
    if (z64Offset + 56 > tailStart + eocd - 20) throw new ZipError(`zip64 end record offset ${z64Offset} is out of range`);
    const z64 = await readAt(src, z64Offset, 56, 'zip64 end record');
    if (u32(z64, 0) !== ZIP64_EOCD_SIG) throw new ZipError('zip64 locator does not point at a zip64 end record');
    count = u64(z64, 32);
    cdSize = u64(z64, 40);
    cdOffset = u64(z64, 48);
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) throw new ZipError(`central directory of ${cdSize} bytes is implausibly large`);
  if (cdOffset + cdSize > size) throw new ZipError(`central directory (${cdSize} bytes at ${cdOffset}) lies outside the file (${size} bytes)`);
  if (count * 46 > cdSize) throw new ZipError(`central directory of ${cdSize} bytes cannot hold ${count} entries`);
  const cd = await readAt(src, cdOffset, cdSize, 'central directory');
  const entries = parseCentralDirectory(cd, count, cdOffset);
  const byName = new Map<string, ZipEntry>();
  for (const e of entries) {
    if (byName.has(e.name)) throw new ZipError(`duplicate zip entry "${e.name}"`);
    byName.set(e.name, e);
  }
  return { entries, byName };
}

function parseCentralDirectory(cd: Uint8Array, count: number, cdOffset: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  const names = new TextDecoder('utf-8');
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.byteLength || u32(cd, p) !== CENTRAL_SIG) throw new ZipError(`central directory entry ${i} is corrupt`);
    const nameLen = u16(cd, p + 28), extraLen = u16(cd, p + 30), commentLen = u16(cd, p + 32);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.byteLength) throw new ZipError(`central directory entry ${i} runs past the directory`);
    const entry: ZipEntry = {
      name: names.decode(cd.subarray(p + 46, p + 46 + nameLen)),
      method: u16(cd, p + 10),
      crc32: u32(cd, p + 16),
      compressedSize: u32(cd, p + 20),
      size: u32(cd, p + 24),
      localHeaderOffset: u32(cd, p + 42),
    };
    applyZip64Extra(entry, cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen));
    if (entry.localHeaderOffset + 30 + entry.compressedSize > cdOffset) {
      throw new ZipError(`zip entry "${entry.name}" (${entry.compressedSize} bytes at ${entry.localHeaderOffset}) overlaps the central directory`);
    }
    entries.push(entry);
    p = end;
  }
  return entries;
}

/** Fields that are 0xFFFFFFFF in the fixed record live, in this order, in the zip64 extra field (id 1). */
function applyZip64Extra(entry: ZipEntry, extra: Uint8Array): void {
  const MAX = 0xffffffff;
  if (entry.size !== MAX && entry.compressedSize !== MAX && entry.localHeaderOffset !== MAX) return;
  for (let q = 0; q + 4 <= extra.byteLength;) {
    const id = u16(extra, q), len = u16(extra, q + 2);
    if (q + 4 + len > extra.byteLength) break;
    if (id === 1) {
      let r = q + 4;
      const take = (): number => {
        if (r + 8 > q + 4 + len) throw new ZipError(`zip64 extra field of "${entry.name}" is too short`);
        const v = u64(extra, r);
        r += 8;
        return v;
      };
      if (entry.size === MAX) entry.size = take();
      if (entry.compressedSize === MAX) entry.compressedSize = take();
      if (entry.localHeaderOffset === MAX) entry.localHeaderOffset = take();
      return;
    }
    q += 4 + len;
  }
  throw new ZipError(`zip entry "${entry.name}" needs a zip64 extra field but has none`);
}

/** Where an entry's data starts: after its local header, whose name/extra lengths may differ from the central copy. */
async function entryDataOffset(src: ByteSource, entry: ZipEntry): Promise<number> {
  const lh = await readAt(src, entry.localHeaderOffset, 30, `local header of "${entry.name}"`);
  if (u32(lh, 0) !== LOCAL_SIG) throw new ZipError(`local header of zip entry "${entry.name}" is corrupt`);
  const start = entry.localHeaderOffset + 30 + u16(lh, 26) + u16(lh, 28);
  if (start + entry.compressedSize > (await src.size())) {
    throw new ZipError(`zip entry "${entry.name}" runs past the end of the file: truncated?`);
  }
  return start;
}

/**
 * Reads a range of a stored entry's bytes without reading the rest of the entry (for large storages). No CRC
 * check is possible on a partial range; readZipEntry checks it.
 */
export async function readStoredRange(src: ByteSource, entry: ZipEntry, offset: number, length: number): Promise<Uint8Array> {
  if (entry.method !== 0) throw new ZipError(`zip entry "${entry.name}" is compressed (method ${entry.method}); ranges need a stored entry`);
  if (offset < 0 || length < 0 || offset + length > entry.size) {
    throw new ZipError(`range ${offset}+${length} lies outside zip entry "${entry.name}" (${entry.size} bytes)`);
  }
  return readAt(src, (await entryDataOffset(src, entry)) + offset, length, `zip entry "${entry.name}"`);
}

/** Reads a whole entry (stored or deflated) and checks its CRC-32. */
export async function readZipEntry(src: ByteSource, entry: ZipEntry, { verifyCrc = true } = {}): Promise<Uint8Array> {
  const raw = await readAt(src, await entryDataOffset(src, entry), entry.compressedSize, `zip entry "${entry.name}"`);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw new ZipError(`stored zip entry "${entry.name}" has differing sizes`);
    data = raw;
  } else if (entry.method === 8) {
    data = await inflateRaw(raw, entry);
  } else {
    throw new ZipError(`zip entry "${entry.name}" uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
  }
  if (verifyCrc && crc32(data) !== entry.crc32) throw new ZipError(`zip entry "${entry.name}" fails its CRC-32 check: corrupt file`);
  return data;
}

async function inflateRaw(raw: Uint8Array, entry: ZipEntry): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new ZipError(`zip entry "${entry.name}" is deflated and this platform has no DecompressionStream`);
  }
  if (entry.size > raw.byteLength * 1032 + 1024) { // deflate cannot compress better than ~1032:1
    throw new ZipError(`zip entry "${entry.name}" claims ${entry.size} bytes from ${raw.byteLength} deflated bytes`);
  }
  const out = new Uint8Array(entry.size);
  let filled = 0;
  try {
    const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.byteLength > entry.size) { // a zip bomb, or a lying size: stop before allocating more
        await reader.cancel();
        throw new ZipError(`zip entry "${entry.name}" inflates past its declared ${entry.size} bytes`);
      }
      out.set(value, filled);
      filled += value.byteLength;
    }
  } catch (e) {
    if (e instanceof ZipError) throw e;
    throw new ZipError(`zip entry "${entry.name}" does not inflate: ${(e as Error).message}`);
  }
  if (filled !== entry.size) throw new ZipError(`zip entry "${entry.name}" inflates to ${filled} bytes, expected ${entry.size}`);
  return out;
}

let crcTables: Int32Array[] | undefined;
/**
 * CRC-32 (IEEE, as zip uses), slicing-by-8 over int32 tables (int32, not uint32, keeps V8 on small-integer
 * arithmetic instead of doubles). `prev` continues a running checksum.
 */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const t = (crcTables ??= makeCrcTables());
  const [t0, t1, t2, t3, t4, t5, t6, t7] = t as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let c = ~prev | 0;
  let i = 0;
  const n8 = bytes.byteLength & ~7;
  for (; i < n8; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]!
      ^ t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.byteLength; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function makeCrcTables(): Int32Array[] {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) tables[k]![n] = tables[0]![tables[k - 1]![n]! & 0xff]! ^ (tables[k - 1]![n]! >>> 8);
  }
  return tables;
}
