/**
 * Manifests the user added from a bundle URL (a folder made by tools/convert: manifest.json + the files it lists).
 * Kept in their own IndexedDB store, beside the bundled ones, so the model shows up and installs like any other.
 */
import { createStore, entries, set, type UseStore } from 'idb-keyval';
import { validateManifest, type ModelManifest } from './manifest';

let store: UseStore | null = null;
const db = () => (store ??= createStore('ipgo-added-manifests', 'manifests'));

export async function addedManifests(): Promise<ModelManifest[]> {
  return (await entries<string, unknown>(db())).map(([id, m]) => validateManifest(m, `added manifest "${id}"`));
}

export const saveAddedManifest = (m: ModelManifest): Promise<void> => set(m.id, m, db());

/**
 * Fetches and validates a bundle's manifest: `url` is the manifest itself (…/manifest.json) or the bundle folder.
 * The files are then fetched from the folder the manifest sits in, wherever its own `source` pointed.
 */
export async function fetchBundleManifest(url: string, fetchFn: typeof fetch = fetch): Promise<ModelManifest> {
  const manifestUrl = /\.json(\?.*)?$/i.test(url) ? url : new URL('manifest.json', url.endsWith('/') ? url : `${url}/`).href;
  const res = await fetchFn(manifestUrl);
  if (!res.ok) throw new Error(`${manifestUrl}: HTTP ${res.status} (a bundle made by tools/convert has a manifest.json)`);
  let json: unknown;
  try {
    json = await res.json();
  } catch (e) {
    throw new Error(`${manifestUrl} is not JSON: ${(e as Error).message}`);
  }
  const m = validateManifest(json, manifestUrl);
  return { ...m, source: { type: 'static', baseUrl: new URL('.', manifestUrl).href } } as ModelManifest;
}
