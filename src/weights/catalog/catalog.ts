/**
 * The manifests the app ships (weights-manifest/*.json, bundled at build time and validated on load), ordered
 * for display: by set (built-in tiny first, then SD1.5 with its reward models), then pipeline before rewards.
 */
import { addedManifests } from './added-manifests';
import { estimateStoredBytes, isTensorFormat, MODEL_SETS, validateManifest, type ModelKind, type ModelManifest, type StoragePrecision } from './manifest';

const KIND_ORDER: ModelKind[] = ['sd15-pipeline', 'clip', 'aesthetic-head', 'openclip'];

const bundled = import.meta.glob<unknown>(['../../../weights-manifest/*.json', '!../../../weights-manifest/schema.json'], { eager: true, import: 'default' });

function rank(m: ModelManifest): [number, number] {
  const set = m.set === undefined ? MODEL_SETS.length : MODEL_SETS.indexOf(m.set);
  return [set, KIND_ORDER.indexOf(m.kind)];
}

let cache: ModelManifest[] | undefined;

/** Every bundled manifest, validated (an invalid one is a build error, thrown on first use with its file name). */
export function bundledManifests(): ModelManifest[] {
  cache ??= Object.entries(bundled)
    .map(([file, json]) => validateManifest(json, file.replace(/^.*\//, 'weights-manifest/')))
    .sort((a, b) => {
      const [sa, ka] = rank(a);
      const [sb, kb] = rank(b);
      return sa - sb || ka - kb || a.id.localeCompare(b.id);
    });
  return cache;
}

export function findManifest(id: string): ModelManifest | undefined {
  return bundledManifests().find((m) => m.id === id);
}

/** Bundled manifests, then the ones added from bundle URLs (added-manifests.ts). */
export async function allManifests(): Promise<ModelManifest[]> {
  return [...bundledManifests(), ...(await addedManifests())];
}

/** A static source with a relative base URL is served by the app itself. */
export function isBuiltin(m: ModelManifest): boolean {
  return m.source.type === 'static' && !/^[a-z][a-z0-9+.-]*:/i.test(m.source.baseUrl);
}

export function sourceLabel(m: ModelManifest): string {
  return m.source.type === 'huggingface' ? `hf:${m.source.repo}@${m.source.revision}` : m.source.baseUrl;
}

export function precisionsOf(m: ModelManifest): StoragePrecision[] {
  return [...new Set(m.files.filter((f) => isTensorFormat(f.format) && f.precision).map((f) => f.precision!))];
}

export function downloadBytesOf(m: ModelManifest): { bytes: number; exact: boolean } {
  return {
    bytes: m.files.reduce((a, f) => a + (f.size ?? f.sizeEstimate ?? 0), 0),
    exact: m.files.every((f) => f.size !== null),
  };
}

export function storedBytesEstimate(m: ModelManifest): number {
  return m.files.reduce((a, f) => a + estimateStoredBytes(f), 0);
}
