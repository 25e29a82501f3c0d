import type { Slice } from '../store';

/** Installed models, downloads and storage (the Models view). */
export interface ModelsSlice {}

export const createModelsSlice: Slice<ModelsSlice> = () => ({});
