/**
 * What the UI keeps across reloads, in its own IndexedDB database (weights live in another, owned by the worker):
 * run history (config, curves, images, the latest checkpoint for resuming) and saved token sets.
 */
import { createStore, del, entries, set, type UseStore } from 'idb-keyval';
import type { BatchProgressRow, EpochRecord, Evaluation, EvaluationTable, IpgoTokensFile, RunCheckpoint, TuneSettings } from '../worker/studio-protocol';

interface RunBase {
  id: string;
  settings: TuneSettings;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'paused' | 'done' | 'failed' | 'interrupted';
  records: EpochRecord[];
  /** Latest checkpoint: a paused or interrupted run resumes from here. */
  checkpoint: RunCheckpoint | null;
  error?: string;
}

/** A prompt-wise run (the Tune view). */
export interface PromptRunRecord extends RunBase {
  kind: 'prompt';
  prompt: string;
  raw: Evaluation | null;
  best: (Evaluation & { epoch: number }) | null;
}

/** A batch-wise run (the Batch view): its prompts, their raw (and, when done, tuned) results and the table. */
export interface BatchRunRecord extends RunBase {
  kind: 'batch';
  prompts: string[];
  heldOut: number;
  rows: BatchProgressRow[];
  evaluation: EvaluationTable | null;
}

export type RunRecord = PromptRunRecord | BatchRunRecord;

export interface SavedTokens {
  id: string;
  name: string;
  createdAt: string;
  file: IpgoTokensFile;
}

let stores: { runs: UseStore; tokens: UseStore } | null = null;
const db = () => (stores ??= { runs: createStore('ipgo-studio-runs', 'runs'), tokens: createStore('ipgo-studio-tokens', 'tokens') });

export const newId = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** A store's records, newest first. */
async function newestFirst<T extends { createdAt: string }>(store: UseStore): Promise<T[]> {
  return (await entries<string, T>(store)).map(([, r]) => r).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export const saveRun = (run: RunRecord): Promise<void> => set(run.id, run, db().runs);
export const listRuns = (): Promise<RunRecord[]> => newestFirst<RunRecord>(db().runs);
export const deleteRun = (id: string): Promise<void> => del(id, db().runs);

export const saveTokens = (t: SavedTokens): Promise<void> => set(t.id, t, db().tokens);
export const listTokens = (): Promise<SavedTokens[]> => newestFirst<SavedTokens>(db().tokens);
export const deleteTokens = (id: string): Promise<void> => del(id, db().tokens);
