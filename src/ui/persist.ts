/**
 * What the UI keeps across reloads, in its own IndexedDB database (weights live in another, owned by the worker):
 * run history (config, curves, images, the latest checkpoint for resuming) and saved token sets.
 */
import { createStore, del, entries, set, type UseStore } from 'idb-keyval';
import type { EpochRecord, Evaluation, IpgoTokensFile, RunCheckpoint, TuneSettings } from '../worker/studio-protocol';

export interface RunRecord {
  id: string;
  kind: 'prompt';
  prompt: string;
  settings: TuneSettings;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'paused' | 'done' | 'failed' | 'interrupted';
  records: EpochRecord[];
  raw: Evaluation | null;
  best: (Evaluation & { epoch: number }) | null;
  /** Latest checkpoint: a paused or interrupted run resumes from here. */
  checkpoint: RunCheckpoint | null;
  error?: string;
}

export interface SavedTokens {
  id: string;
  name: string;
  createdAt: string;
  file: IpgoTokensFile;
}

let stores: { runs: UseStore; tokens: UseStore } | null = null;
const db = () => (stores ??= { runs: createStore('ipgo-studio-runs', 'runs'), tokens: createStore('ipgo-studio-tokens', 'tokens') });

export const newId = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export async function saveRun(run: RunRecord): Promise<void> {
  await set(run.id, run, db().runs);
}

export async function listRuns(): Promise<RunRecord[]> {
  const all = (await entries<string, RunRecord>(db().runs)).map(([, r]) => r);
  return all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export const deleteRun = (id: string): Promise<void> => del(id, db().runs);

export async function saveTokens(t: SavedTokens): Promise<void> {
  await set(t.id, t, db().tokens);
}

export async function listTokens(): Promise<SavedTokens[]> {
  const all = (await entries<string, SavedTokens>(db().tokens)).map(([, t]) => t);
  return all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export const deleteTokens = (id: string): Promise<void> => del(id, db().tokens);
