/**
 * Import without network: a model's files from a local diffusers / HF folder picked by the user
 * (`<input type="file" webkitdirectory>` → File objects with `webkitRelativePath`), from individually picked
 * files, or from any path → Blob map. The bytes go through the same FileIngest as a download (conversion,
 * sha256 / size verification, storage), read from `Blob.stream()`; an interrupted import resumes from the last
 * committed unit with `blob.slice(offset)`.
 */
import type { ByteSink } from './download';
import type { FileIngest } from '../ingest/ingest';
import type { ManifestFile, ModelManifest } from '../catalog/manifest';

/** File objects (from a folder or file picker) or an explicit manifest path → Blob map. */
export type LocalFiles = Iterable<File> | Map<string, Blob>;

/**
 * Maps manifest paths to local files. A picked folder's File has `webkitRelativePath`
 * "<folder>/unet/diffusion_pytorch_model.safetensors"; a manifest path matches a relative path that equals it or
 * ends with "/" + it (the shortest such path wins). Files picked one by one match by name. Missing files are one
 * error that lists them all.
 */
export function matchLocalFiles(manifest: ModelManifest, files: LocalFiles): Map<string, Blob> {
  const candidates: [string, Blob][] = files instanceof Map
    ? [...files.entries()]
    : [...files].map((f) => [(f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, f]);
  const out = new Map<string, Blob>();
  const missing: string[] = [];
  for (const f of manifest.files) {
    const hits = candidates.filter(([p]) => p === f.path || p.endsWith('/' + f.path));
    if (hits.length === 0) missing.push(f.path);
    else out.set(f.path, hits.sort((a, b) => a[0].length - b[0].length)[0]![1]);
  }
  if (missing.length) throw new Error(`${manifest.id}: the chosen files lack ${missing.join(', ')}`);
  return out;
}

/** Identity of a local file for resume: the same name, size and mtime continue a partial import. */
export function importSourceId(file: ManifestFile, blob: Blob): string {
  const f = blob as Partial<File>;
  return `import:${f.name ?? file.path}:${blob.size}:${f.lastModified ?? 0}`;
}

/** Streams `blob` from the sink's offset into it; aborts promptly on `signal`. */
export async function streamBlobInto(file: ManifestFile, blob: Blob, ingest: FileIngest, sink: ByteSink, signal: AbortSignal): Promise<void> {
  await ingest.begin(blob.size, undefined);
  const reader = blob.slice(sink.received).stream().getReader();
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      await sink.write(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (sink.received !== blob.size) throw new Error(`${file.path}: local file ended at ${sink.received} of ${blob.size} bytes`);
}
