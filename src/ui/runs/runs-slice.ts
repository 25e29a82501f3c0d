import type { Slice } from '../store';
import { deleteRun, listRuns, type RunRecord } from '../persist';

/** Run history (the Runs view). A run still marked "running" when the app starts was interrupted by a reload. */
export interface RunsSlice {
  runs: RunRecord[];
  refreshRuns(): Promise<void>;
  removeRun(id: string): Promise<void>;
}

export const createRunsSlice: Slice<RunsSlice> = (set, get) => ({
  runs: [],
  async refreshRuns() {
    const active = [get().tune.run?.id, get().batch.run?.id];
    const runs = (await listRuns()).map((r) => (r.status === 'running' && !active.includes(r.id) ? { ...r, status: 'interrupted' as const } : r));
    set({ runs });
  },
  async removeRun(id) {
    await deleteRun(id);
    await get().refreshRuns();
  },
});
