/**
 * Model bundles by URL for the Node runner: a bundle's `manifest.json` (what tools/convert writes, or any manifest
 * with a static source next to its files) is read, and each file downloaded with the app's resumable downloader
 * (src/weights/install/download.ts: ranges, retries, redirects) into a cache folder keyed by the manifest URL, verified
 * against the manifest's size and sha256, then used as a model folder. A file already there and verified is not
 * fetched again; an interrupted one resumes from its `.part`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downloadToSink, type ByteSink, type FetchFn } from '../../src/weights/install/download';
import { resolveFileUrl, validateManifest } from '../../src/weights/catalog/manifest';

export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Where bundles are cached (IPGO_BUNDLE_CACHE, default the OS temp folder). */
export function bundleCacheRoot(): string {
  return process.env.IPGO_BUNDLE_CACHE ?? path.join(os.tmpdir(), 'ipgo-studio-bundles');
}

const sha256File = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A sink appending to `file` (the bytes already there count as received). */
function fileSink(file: string): ByteSink {
  let received = fs.existsSync(file) ? fs.statSync(file).size : 0;
  return {
    get received() { return received; },
    async write(bytes) {
      fs.appendFileSync(file, bytes);
      received += bytes.byteLength;
    },
    async restart() {
      fs.writeFileSync(file, new Uint8Array(0));
      received = 0;
    },
  };
}

/** Downloads (or finds cached) the bundle whose manifest is at `manifestUrl`; returns its local folder. */
export async function fetchBundle(manifestUrl: string, opts: { cacheRoot?: string; fetch?: FetchFn; log?: (m: string) => void } = {}): Promise<string> {
  const fetchFn: FetchFn = opts.fetch ?? ((u, i) => fetch(u, i));
  const log = opts.log ?? (() => {});
  const res = await fetchFn(manifestUrl, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${manifestUrl}: HTTP ${res.status}`);
  const manifest = validateManifest(await res.json(), manifestUrl);
  const dir = path.join(opts.cacheRoot ?? bundleCacheRoot(), crypto.createHash('sha256').update(manifestUrl).digest('hex').slice(0, 16));
  // a bundle's files sit next to its manifest (tools/convert writes a relative baseUrl)
  const base = new URL('./', manifestUrl).href;
  for (const f of manifest.files) {
    const dest = path.join(dir, ...f.path.split('/'));
    if (fs.existsSync(dest) && (f.size === null || fs.statSync(dest).size === f.size) && (f.sha256 === null || sha256File(dest) === f.sha256)) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const part = `${dest}.part`;
    const url = resolveFileUrl(manifest, f, { base });
    log(`bundle ${manifest.id}: ${f.path}${fs.existsSync(part) ? ` (resuming at ${fs.statSync(part).size} bytes)` : ''}`);
    await downloadToSink(url, fileSink(part), { expectedSize: f.size ?? undefined, fetch: fetchFn });
    if (f.size !== null && fs.statSync(part).size !== f.size) throw new Error(`${url}: ${fs.statSync(part).size} bytes, the manifest says ${f.size}`);
    if (f.sha256 !== null && sha256File(part) !== f.sha256) {
      fs.rmSync(part);
      throw new Error(`${url}: sha256 mismatch against the bundle manifest (the partial file was deleted; run again)`);
    }
    fs.renameSync(part, dest);
  }
  return dir;
}
