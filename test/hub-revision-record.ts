/**
 * The Hugging Face Hub's record of a revision (`GET /api/models/{repo}/revision/{rev}?blobs=true`) for a folder,
 * as the test servers (test/weights-server.ts, e2e/fault-server.ts) answer it: every file, each as an LFS file
 * with its sha256 and size.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface HubRevisionRecord {
  id: string;
  sha: string;
  siblings: { rfilename: string; size?: number; lfs: { sha256: string; size?: number } }[];
}

/** `sizes: false` leaves the sizes out (a record whose LFS entries carry only their sha256). */
export async function hubRevisionRecord(repo: string, dir: string, commit: string, opts: { sizes?: boolean } = {}): Promise<HubRevisionRecord> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
  const siblings = await Promise.all(files.map(async (d) => {
    const full = path.join(d.parentPath, d.name);
    const bytes = await readFile(full);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const rfilename = path.relative(dir, full).split(path.sep).join('/');
    return opts.sizes ?? true ? { rfilename, size: bytes.byteLength, lfs: { sha256, size: bytes.byteLength } } : { rfilename, lfs: { sha256 } };
  }));
  return { id: repo, sha: commit, siblings };
}
