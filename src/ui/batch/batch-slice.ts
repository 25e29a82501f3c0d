import type { Slice } from '../store';
import { describeError } from '../store';
import { engine } from '../engine';
import { ResumableJob } from '../resumable-job';
import type { BatchResult } from '../../worker/studio-protocol';
import { newId, saveRun, type BatchRunRecord } from '../persist';
import { parsePromptFile } from './prompt-files';

export interface BatchState {
  promptsText: string;
  heldoutFraction: number;
  epochs: number;
  status: 'idle' | 'running' | 'pausing' | 'paused' | 'done' | 'failed';
  stage: string;
  /** The run shown (and saved after every record): rows, records, checkpoint, evaluation. */
  run: BatchRunRecord | null;
  result: BatchResult | null;
  fileError: string | null;
}

/** Batch-wise IPGO (the Batch view): one token set over a prompt list, evaluated on held-out prompts. */
export interface BatchSlice {
  batch: BatchState;
  setBatch(p: Partial<BatchState>): void;
  loadPromptFile(name: string, text: string): void;
  /** Starts a new run from the form, or continues a paused / interrupted one. */
  startBatch(resume?: BatchRunRecord): Promise<void>;
  pauseBatch(): void;
  stopBatch(): void;
}

const job = new ResumableJob<'batch'>('Batch run');

export const createBatchSlice: Slice<BatchSlice> = (set, get) => {
  const patch = (p: Partial<BatchState>) => set((s) => ({ batch: { ...s.batch, ...p } }));
  const patchRun = (p: Partial<BatchRunRecord>) => {
    const run = get().batch.run;
    if (!run) return;
    const next = { ...run, ...p, updatedAt: new Date().toISOString() };
    patch({ run: next });
    void saveRun(next);
  };
  return {
    batch: {
      promptsText: 'a cat on a windowsill\na bowl of ramen\na lighthouse at dusk\na red bicycle in the rain',
      heldoutFraction: 0.25, epochs: 2, status: 'idle', stage: '', run: null, result: null, fileError: null,
    },
    setBatch: patch,
    loadPromptFile(name, text) {
      try {
        patch({ promptsText: parsePromptFile(name, text).join('\n'), fileError: null });
      } catch (e) {
        patch({ fileError: `${name}: ${(e as Error).message}` });
      }
    },
    async startBatch(resume) {
      if (job.running) return;
      const now = new Date().toISOString();
      const b = get().batch;
      const tuneSettings = get().tune.settings;
      if (!resume && !tuneSettings) return;
      const run: BatchRunRecord = resume ? { ...resume, status: 'running', error: undefined } : {
        id: newId(), kind: 'batch', prompts: b.promptsText.split('\n').map((p) => p.trim()).filter(Boolean), heldOut: b.heldoutFraction,
        settings: { ...tuneSettings!, epochs: b.epochs, stepLR: { stepSize: 15, gamma: 0.95 } },
        createdAt: now, updatedAt: now, status: 'running', records: [], rows: [], evaluation: null, checkpoint: null,
      };
      patch({ status: 'running', stage: 'starting', run, result: null });
      void saveRun(run);
      const canResume = resume?.checkpoint && resume.rows.length === resume.prompts.length && resume.rows.every((r) => r?.raw);
      await job.run(() => engine.start('batch', {
        prompts: run.prompts, heldOut: run.heldOut, settings: run.settings,
        resume: canResume ? { checkpoint: resume.checkpoint!, rows: resume.rows, history: resume.records } : undefined,
      }, {
        onProgress: (p) => {
          if (p.kind === 'stage') patch({ stage: p.stage });
          else if (p.kind === 'record') patchRun({ records: [...(get().batch.run?.records ?? []), p.record] });
          else if (p.kind === 'checkpoint') patchRun({ checkpoint: p.checkpoint, records: p.history });
          else if (p.kind === 'row') {
            const rows = [...(get().batch.run?.rows ?? [])];
            rows[p.index] = p.row;
            patchRun({ rows });
          }
        },
      }), {
        done: (result) => {
          patchRun({ status: result.status, rows: result.rows, records: result.history, checkpoint: result.checkpoint, evaluation: result.evaluation });
          patch({ status: result.status, stage: result.status === 'done' ? 'finished' : 'paused', result });
        },
        ended: (end) => {
          patchRun({ status: end.status, error: end.error });
          patch({ status: end.status, stage: end.stage });
        },
        hasCheckpoint: () => Boolean(get().batch.run?.checkpoint),
        report: (e, title) => get().pushError(describeError(e, title)),
      });
    },
    pauseBatch() {
      if (job.pause()) patch({ status: 'pausing', stage: 'pausing after this epoch' });
    },
    stopBatch() {
      job.stop();
    },
  };
};
