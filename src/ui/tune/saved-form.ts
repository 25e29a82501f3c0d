/**
 * The Tune form as saved in localStorage, read back over the catalog's model sets: settings saved by any
 * earlier version load (merged over the set's defaults, so fields added since get theirs).
 */
import type { StudioCatalog, TuneSettings } from '../../worker/studio-protocol';

export interface SavedForm { modelSet?: unknown; prompt?: unknown; settings?: unknown }

/** Where the Tune form is kept between visits. */
export const SAVED_KEY = 'ipgo.tune';

export function readSavedForm(): SavedForm {
  try {
    const raw = JSON.parse(globalThis.localStorage?.getItem(SAVED_KEY) ?? 'null') as unknown;
    return typeof raw === 'object' && raw !== null ? raw as SavedForm : {};
  } catch {
    return {};
  }
}

/**
 * The last model set and settings survive a reload: merged over the set's defaults from the catalog, so fields
 * added since get theirs; the models are always the set's. An unknown or missing set falls back to the first.
 */
export function formFromCatalog(catalog: StudioCatalog, saved: SavedForm): { modelSet: string; settings: TuneSettings } {
  const known = catalog.modelSets.find((m) => m.id === saved.modelSet);
  const set = known ?? catalog.modelSets[0];
  if (!set) throw new Error('the catalog offers no model set');
  const savedSettings = known && typeof saved.settings === 'object' && saved.settings !== null ? saved.settings as Partial<TuneSettings> : {};
  return { modelSet: set.id, settings: { ...structuredClone(set.defaults), ...savedSettings, models: set.models } };
}
