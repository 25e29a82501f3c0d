import type { Slice } from '../store';

/** Prompt tuning (the Tune view). */
export interface TuneSlice {}

export const createTuneSlice: Slice<TuneSlice> = () => ({});
