import type { FetchFn } from './download';
import { hubUrlPattern, type ModelManifest } from '../catalog/manifest';

/**
 * The Hub's own record of a revision: its commit id and, per file, the size and (for LFS files, i.e. every weight
 * file) the sha256 — read from `GET {hub}/api/models/{repo}/revision/{revision}?blobs=true`. It verifies files whose
 * manifest leaves sha256 null, and the commit is remembered with the installed model. (The `X-Linked-Etag` /
 * `X-Linked-Size` headers carry the same digest, but only on the `resolve` URL's redirect response, which a page's
 * fetch() follows without showing it; the API answers with CORS and no redirect.)
 */
export interface HubRevision {
  commit: string;
  /** Per file: its size and sha256 where the record gives them (a size only when it is a byte count). */
  files: Map<string, { size?: number; sha256?: string }>;
}

interface RevisionJson {
  sha?: unknown;
  siblings?: { rfilename?: unknown; size?: unknown; lfs?: { sha256?: unknown; size?: unknown } }[];
}

/** The API URL of a Hugging Face source's revision (on the host its file URLs use). */
export function hubRevisionUrl(manifest: ModelManifest, revision?: string, hubEndpoint?: string): string | null {
  const src = manifest.source;
  if (src.type !== 'huggingface') return null;
  const origin = new URL(hubUrlPattern(src, hubEndpoint).replaceAll('{repo}', 'r').replaceAll('{revision}', 'r').replaceAll('{path}', 'p')).origin;
  return `${origin}/api/models/${src.repo}/revision/${encodeURIComponent(revision ?? src.revision)}?blobs=true`;
}

const byteCount = (v: unknown): number | undefined => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined);

/** Reads the revision record; throws with the URL and the reason when it cannot. */
export async function fetchHubRevision(url: string, fetchFn: FetchFn, signal?: AbortSignal): Promise<HubRevision> {
  const res = await fetchFn(url, { headers: { Accept: 'application/json' }, signal });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const json = (await res.json()) as RevisionJson;
  if (typeof json.sha !== 'string' || !Array.isArray(json.siblings)) throw new Error(`${url}: not a Hub revision record (no sha / siblings)`);
  const files: HubRevision['files'] = new Map();
  for (const s of json.siblings) {
    if (typeof s.rfilename !== 'string') continue;
    const sha256 = typeof s.lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.lfs.sha256) ? s.lfs.sha256 : undefined;
    const size = byteCount(s.lfs?.size) ?? byteCount(s.size);
    files.set(s.rfilename, { size, sha256 });
  }
  return { commit: json.sha, files };
}
