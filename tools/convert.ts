/**
 * tools/convert — turns a local diffusers Stable Diffusion folder into a self-hostable bundle: the files at the
 * manifest paths plus a `manifest.json` (validated by validateManifest) pinning the exact size and sha256 of every
 * file, and for weight files the sha256 of every 16 MiB block (checked natively on install, see block-verifier.ts). Serve the folder from any static server and install it with the app's "From a bundle URL" (the installer's
 * `install(manifest, { baseUrl })`).
 *
 *   npx tsx tools/convert.ts <diffusers-folder> <out-dir> --id my-model [--name "My model"] [--precision fp32|fp16|int8]
 *
 * Precisions:
 * - fp32: weights re-encoded as F32 safetensors (an F32 source tensor is copied byte for byte);
 * - fp16: weights re-encoded as F16 safetensors (half the transfer); tensors beyond the half range stay F32;
 * - int8: the source safetensors are copied as they are and the manifest's storage precision is int8, so the
 *   browser quantizes per output channel while installing. The manifest format has no pre-quantized file type
 *   (its tensor formats are safetensors and torch-zip, whose dtypes cannot carry per-channel scales), so int8 is a
 *   storage precision, not a transfer encoding.
 * Weights stream tensor by tensor (src/weights/formats/safetensors-stream.ts over a file handle): memory is bounded by the
 * largest tensor, not the file. Files are not sharded: a manifest file is one URL and one weight file per component
 * for the loader; the installer already splits tensors into bounded IndexedDB chunks on its side.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ByteSource } from '../src/weights/formats/byte-source';
import { WEIGHT_FILE_CANDIDATES } from '../src/model/load-pipeline';
import {
  MAX_DIGEST_BLOCK_BYTES, validateManifest, type BlockDigests, type FileFormat, type ManifestFile, type ModelManifest, type SourceFloatDtype, type StoragePrecision,
} from '../src/weights/catalog/manifest';
import { DTYPE_BYTES, decodeTensorBytes, f32ToF16, type SafetensorsDtype, type SafetensorsEntry } from '../src/weights/formats/safetensors';
import { entriesInFileOrder, readSafetensorsHeader, readTensorBytes } from '../src/weights/formats/safetensors-stream';

export type BundlePrecision = StoragePrecision;

export interface ConvertOptions {
  /** The model's storage key (manifest id). */
  id: string;
  name?: string;
  precision?: BundlePrecision;
  /** Block size of the weight files' block digests (default DIGEST_BLOCK_BYTES). */
  blockBytes?: number;
  onLog?: (line: string) => void;
}

export class LayoutError extends Error {
  override name = 'LayoutError';
}

type Component = keyof typeof WEIGHT_FILE_CANDIDATES;
const COMPONENTS: Component[] = ['text_encoder', 'unet', 'vae'];

/** Text files of a diffusers SD folder, with their manifest roles (the roles weights-manifest/tiny-sd.json uses). */
const TEXT_FILES: { path: string; role: string; required: boolean }[] = [
  { path: 'model_index.json', role: 'pipeline-index', required: true },
  { path: 'scheduler/scheduler_config.json', role: 'scheduler-config', required: true },
  { path: 'tokenizer/vocab.json', role: 'tokenizer-vocab', required: true },
  { path: 'tokenizer/merges.txt', role: 'tokenizer-merges', required: true },
  { path: 'tokenizer/tokenizer_config.json', role: 'tokenizer-config', required: false },
  { path: 'tokenizer/special_tokens_map.json', role: 'tokenizer-special-tokens', required: false },
  { path: 'text_encoder/config.json', role: 'text_encoder-config', required: true },
  { path: 'unet/config.json', role: 'unet-config', required: true },
  { path: 'vae/config.json', role: 'vae-config', required: true },
];

export interface DiffusersLayout {
  textFiles: { path: string; role: string }[];
  /** component → its weight file (relative path), the first of WEIGHT_FILE_CANDIDATES present. */
  weights: Record<Component, string>;
}

/** Checks that `dir` is a diffusers SD folder; throws a LayoutError listing everything missing. */
export function checkDiffusersLayout(dir: string): DiffusersLayout {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new LayoutError(`${dir} is not a folder`);
  const exists = (p: string) => fs.existsSync(path.join(dir, p)) && fs.statSync(path.join(dir, p)).isFile();
  const missing: string[] = [];
  for (const f of TEXT_FILES) if (f.required && !exists(f.path)) missing.push(f.path);
  const weights = {} as Record<Component, string>;
  for (const c of COMPONENTS) {
    const hit = WEIGHT_FILE_CANDIDATES[c].find(exists);
    if (hit) weights[c] = hit;
    else missing.push(WEIGHT_FILE_CANDIDATES[c].join(' or '));
  }
  if (missing.length) {
    throw new LayoutError(`${dir} is not a diffusers Stable Diffusion folder; missing:\n  ${missing.join('\n  ')}\n` +
      '(.bin / .ckpt weights are not converted: export safetensors with diffusers first)');
  }
  return { textFiles: TEXT_FILES.filter((f) => exists(f.path)), weights };
}

/** A ByteSource over a file on disk (positional reads, nothing held). */
export function fileByteSource(fd: number): ByteSource {
  const size = fs.fstatSync(fd).size;
  return {
    size: async () => size,
    read: async (offset, length) => {
      if (offset < 0 || length < 0 || offset + length > size) throw new RangeError(`read ${offset}+${length} outside a ${size}-byte file`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error(`unexpected end of file at byte ${offset + done}`);
        done += n;
      }
      return out;
    },
  };
}

/**
 * Block size of the per-block digests written for weight files (ManifestFile.blockSha256): small enough that a
 * corrupt block is caught early and a resume re-reads little, large enough that the digest list stays short
 * (SD1.5's 1.7 GB UNet: 103 digests).
 */
export const DIGEST_BLOCK_BYTES = 16 * 1024 * 1024;

type Hashed = { size: number; sha256: string; blockSha256: BlockDigests };

/** Writes a file through a running sha256 and per-block sha256s; returns its size and digests. */
class HashedWriter {
  private readonly fd: number;
  private readonly hash = crypto.createHash('sha256');
  private block = crypto.createHash('sha256');
  private inBlock = 0;
  private readonly blocks: string[] = [];
  size = 0;

  constructor(readonly file: string, private readonly blockBytes = DIGEST_BLOCK_BYTES) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'w');
  }

  write(bytes: Uint8Array): void {
    this.hash.update(bytes);
    for (let at = 0; at < bytes.byteLength;) {
      const n = Math.min(this.blockBytes - this.inBlock, bytes.byteLength - at);
      this.block.update(bytes.subarray(at, at + n));
      this.inBlock += n;
      at += n;
      if (this.inBlock === this.blockBytes) this.endBlock();
    }
    let done = 0;
    while (done < bytes.byteLength) done += fs.writeSync(this.fd, bytes, done, bytes.byteLength - done);
    this.size += bytes.byteLength;
  }

  private endBlock(): void {
    this.blocks.push(this.block.digest('hex'));
    this.block = crypto.createHash('sha256');
    this.inBlock = 0;
  }

  close(): Hashed {
    fs.closeSync(this.fd);
    if (this.inBlock > 0) this.endBlock();
    return { size: this.size, sha256: this.hash.digest('hex'), blockSha256: { blockBytes: this.blockBytes, sha256: this.blocks } };
  }
}

/** Copies a file in 8 MiB pieces through the hash. */
function copyHashed(from: string, to: string, blockBytes?: number): Hashed {
  const w = new HashedWriter(to, blockBytes);
  const fd = fs.openSync(from, 'r');
  try {
    const buf = new Uint8Array(8 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.byteLength, null)) > 0;) w.write(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return w.close();
}

const FLOATS: ReadonlySet<SafetensorsDtype> = new Set(['F64', 'F32', 'F16', 'BF16']);
const F16_MAX = 65504;

/** A tensor re-encoded for the bundle: floats to `target` (F16 keeps out-of-range tensors at F32), the rest as is. */
function encodeTensor(e: SafetensorsEntry, bytes: Uint8Array, target: 'F32' | 'F16'): { dtype: SafetensorsDtype; bytes: Uint8Array } {
  if (!FLOATS.has(e.dtype) || e.dtype === target) return { dtype: e.dtype, bytes };
  const values = decodeTensorBytes(e.dtype, bytes) as Float32Array;
  let maxAbs = 0;
  for (const v of values) maxAbs = Math.max(maxAbs, Math.abs(v)); // NaN/Inf make it NaN/Inf: keep F32 below
  if (target === 'F32' || !(maxAbs <= F16_MAX)) return { dtype: 'F32', bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) half[i] = f32ToF16(values[i]!);
  return { dtype: 'F16', bytes: new Uint8Array(half.buffer) };
}

/** The header bytes of a safetensors file with these entries (in this order), data section 8-byte aligned. */
function headerBytesOf(entries: { name: string; dtype: SafetensorsDtype; shape: number[]; bytes: number }[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes] };
    offset += e.bytes;
  }
  let json = JSON.stringify(header);
  const len0 = Buffer.byteLength(json);
  json += ' '.repeat((8 - ((len0 + 8) % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  out.set(body, 8);
  return out;
}

/**
 * Re-encodes a safetensors file tensor by tensor. Float tensors whose dtype will change are read once to learn
 * their output dtype (F16 falls back to F32 out of half range) before the header is written, then again to write.
 */
async function reencodeSafetensors(from: string, to: string, target: 'F32' | 'F16', blockBytes?: number): Promise<Hashed & { dtypes: Map<SafetensorsDtype, number> }> {
  const fd = fs.openSync(from, 'r');
  try {
    const src = fileByteSource(fd);
    const header = await readSafetensorsHeader(src);
    const order = entriesInFileOrder(header);
    const planned: { name: string; dtype: SafetensorsDtype; shape: number[]; bytes: number }[] = [];
    for (const e of order) {
      const numel = e.shape.reduce((a, b) => a * b, 1);
      let dtype = FLOATS.has(e.dtype) ? target : e.dtype;
      if (dtype === 'F16' && e.dtype !== 'F16') dtype = encodeTensor(e, await readTensorBytes(src, header, e), 'F16').dtype;
      planned.push({ name: e.name, dtype, shape: e.shape, bytes: numel * DTYPE_BYTES[dtype] });
    }
    const w = new HashedWriter(to, blockBytes);
    const dtypes = new Map<SafetensorsDtype, number>();
    try {
      w.write(headerBytesOf(planned, header.metadata));
      for (const [i, e] of order.entries()) {
        const enc = encodeTensor(e, await readTensorBytes(src, header, e), target);
        if (enc.dtype !== planned[i]!.dtype || enc.bytes.byteLength !== planned[i]!.bytes) {
          throw new Error(`${from}: tensor "${e.name}" changed while converting`);
        }
        w.write(enc.bytes);
        dtypes.set(enc.dtype, (dtypes.get(enc.dtype) ?? 0) + enc.bytes.byteLength);
      }
    } catch (e) {
      w.close();
      throw e;
    }
    return { ...w.close(), dtypes };
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes per dtype of a safetensors file's tensors (header only). */
async function dtypeBytesOf(file: string): Promise<Map<SafetensorsDtype, number>> {
  const fd = fs.openSync(file, 'r');
  try {
    const header = await readSafetensorsHeader(fileByteSource(fd));
    const out = new Map<SafetensorsDtype, number>();
    for (const e of header.entries) out.set(e.dtype, (out.get(e.dtype) ?? 0) + e.end - e.begin);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** The float dtype holding most bytes (the manifest's sourceDtype, for the storage estimate). */
function mainFloatDtype(dtypes: Map<SafetensorsDtype, number>): SourceFloatDtype | undefined {
  let best: SourceFloatDtype | undefined;
  for (const d of ['F32', 'F16', 'BF16'] as const) if ((dtypes.get(d) ?? 0) > (best ? dtypes.get(best)! : 0)) best = d;
  return best;
}

/** Bundle path of a component's weights: diffusers' names, `.fp16.` for the fp16 variant; int8 keeps the source's. */
function bundleWeightPath(c: Component, sourcePath: string, precision: BundlePrecision): string {
  if (precision === 'int8') return sourcePath;
  return WEIGHT_FILE_CANDIDATES[c][precision === 'fp16' ? 1 : 0]!;
}

/** Converts a diffusers folder into `outDir` (created; must be empty or absent). Returns the written manifest. */
export async function convertDiffusersFolder(srcDir: string, outDir: string, opts: ConvertOptions): Promise<ModelManifest> {
  const precision = opts.precision ?? 'fp16';
  const log = opts.onLog ?? (() => {});
  const layout = checkDiffusersLayout(srcDir);
  try {
    JSON.parse(fs.readFileSync(path.join(srcDir, 'model_index.json'), 'utf8'));
  } catch (e) {
    throw new LayoutError(`${path.join(srcDir, 'model_index.json')} is not valid JSON: ${(e as Error).message}`);
  }
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) throw new Error(`${outDir} is not empty: choose a new or empty output folder`);
  fs.mkdirSync(outDir, { recursive: true });

  const files: ManifestFile[] = [];
  for (const t of layout.textFiles) {
    // text files are small and always hashed whole on install: no block digests
    const { size, sha256 } = copyHashed(path.join(srcDir, t.path), path.join(outDir, t.path));
    const format: FileFormat = t.path.endsWith('.json') ? 'json' : 'txt';
    files.push({ path: t.path, format, role: t.role, size, sha256 });
    log(`copied    ${t.path} (${size} bytes)`);
  }
  for (const c of COMPONENTS) {
    const from = path.join(srcDir, layout.weights[c]);
    const rel = bundleWeightPath(c, layout.weights[c], precision);
    const to = path.join(outDir, rel);
    const { size, sha256, blockSha256, dtypes } = precision === 'int8'
      ? { ...copyHashed(from, to, opts.blockBytes), dtypes: await dtypeBytesOf(from) }
      : await reencodeSafetensors(from, to, precision === 'fp16' ? 'F16' : 'F32', opts.blockBytes);
    const sourceDtype = mainFloatDtype(dtypes);
    files.push({ path: rel, format: 'safetensors', role: c, size, sha256, blockSha256, ...(sourceDtype ? { sourceDtype } : {}), precision });
    log(`${precision === 'int8' ? 'copied   ' : 'converted'} ${layout.weights[c]} → ${rel} (${size} bytes, ${[...dtypes.keys()].join('/')})`);
  }
  const manifest = validateManifest({
    schemaVersion: 1,
    id: opts.id,
    name: opts.name ?? opts.id,
    kind: 'sd15-pipeline',
    description: `Converted by tools/convert from ${path.basename(path.resolve(srcDir))} (${precision} storage).`,
    source: {
      type: 'static',
      baseUrl: './',
      note: 'A bundle made by tools/convert: install it with the bundle URL (the folder holding this manifest) as baseUrl.',
    },
    files,
  } satisfies ModelManifest, `${opts.id} manifest`);
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  log(`wrote     manifest.json (${files.length} files)`);
  return manifest;
}

const USAGE = 'usage: npx tsx tools/convert.ts <diffusers-folder> <out-dir> --id <model-id> [--name "..."] [--precision fp32|fp16|int8] [--block-mib 16]';

/** Parses the command line; throws with the usage on anything unexpected. */
export function parseConvertArgs(argv: string[]): { src: string; out: string } & ConvertOptions {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const [key, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value\n${USAGE}`);
    flags[key] = value;
  }
  if (flags['shard-mb'] !== undefined) {
    throw new Error('--shard-mb is not supported: a manifest file is one URL, and the loader reads one weight file per component ' +
      '(the installer already stores tensors in bounded IndexedDB chunks). Serve the files whole.');
  }
  const unknown = Object.keys(flags).filter((k) => !['id', 'name', 'precision', 'block-mib'].includes(k));
  if (unknown.length) throw new Error(`unknown option(s): ${unknown.map((k) => '--' + k).join(', ')}\n${USAGE}`);
  if (positional.length !== 2) throw new Error(`expected <diffusers-folder> <out-dir>, got ${positional.length} argument(s)\n${USAGE}`);
  if (!flags.id) throw new Error(`--id is required\n${USAGE}`);
  const precision = (flags.precision ?? 'fp16') as BundlePrecision;
  if (!['fp32', 'fp16', 'int8'].includes(precision)) throw new Error(`--precision must be fp32, fp16 or int8, got "${precision}"`);
  const blockMib = Number(flags['block-mib'] ?? DIGEST_BLOCK_BYTES / 2 ** 20);
  if (!(Number.isInteger(blockMib) && blockMib >= 1 && blockMib <= MAX_DIGEST_BLOCK_BYTES / 2 ** 20)) {
    throw new Error(`--block-mib must be an integer from 1 to ${MAX_DIGEST_BLOCK_BYTES / 2 ** 20}, got "${flags['block-mib']}"`);
  }
  return { src: positional[0]!, out: positional[1]!, id: flags.id, name: flags.name, precision, blockBytes: blockMib * 2 ** 20 };
}

if (process.argv[1]?.endsWith('convert.ts')) {
  try {
    const a = parseConvertArgs(process.argv.slice(2));
    await convertDiffusersFolder(a.src, a.out, { ...a, onLog: (l) => console.log(l) });
    console.log(`bundle ready in ${a.out}: serve it statically and install with its URL as the bundle URL`);
  } catch (e) {
    console.error(`convert: ${(e as Error).message}`);
    process.exit(1);
  }
}
