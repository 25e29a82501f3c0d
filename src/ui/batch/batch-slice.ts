import type { Slice } from '../store';
import { describeError } from '../store';
import { engine } from '../engine';
import { JobError } from '../../worker/protocol';
import type { RunningJob } from '../../worker/client';
import type { BatchProgressRow, BatchResult, EpochRecord } from '../../worker/studio-protocol';
import { parsePromptFile, splitHeldout } from './prompt-files';

export interface BatchState {
  promptsText: string;
  heldoutFraction: number;
  epochs: number;
  status: 'idle' | 'running' | 'done' | 'failed';
  stage: string;
  rows: BatchProgressRow[];
  records: EpochRecord[];
  result: BatchResult | null;
  fileError: string | null;
}

/** Batch-wise IPGO (the Batch view): one token set over a prompt list, evaluated on held-out prompts. */
export interface BatchSlice {
  batch: BatchState;
  setBatch(p: Partial<BatchState>): void;
  loadPromptFile(name: string, text: string): void;
  startBatch(): Promise<void>;
  stopBatch(): void;
}

let job: RunningJob<'batch'> | null = null;

export const createBatchSlice: Slice<BatchSlice> = (set, get) => {
  const patch = (p: Partial<BatchState>) => set((s) => ({ batch: { ...s.batch, ...p } }));
  return {
    batch: {
      promptsText: 'a cat on a windowsill\na bowl of ramen\na lighthouse at dusk\na red bicycle in the rain',
      heldoutFraction: 0.25, epochs: 2, status: 'idle', stage: '', rows: [], records: [], result: null, fileError: null,
    },
    setBatch: patch,
    loadPromptFile(name, text) {
      try {
        patch({ promptsText: parsePromptFile(name, text).join('\n'), fileError: null });
      } catch (e) {
        patch({ fileError: `${name}: ${(e as Error).message}` });
      }
    },
    async startBatch() {
      if (job) return;
      const prompts = get().batch.promptsText.split('\n').map((p) => p.trim()).filter(Boolean);
      const { train, heldout } = splitHeldout(prompts, get().batch.heldoutFraction);
      const tuneSettings = get().tune.settings;
      if (!tuneSettings) return;
      const settings = { ...tuneSettings, epochs: get().batch.epochs, stepLR: { stepSize: 15, gamma: 0.95 } };
      patch({ status: 'running', stage: 'starting', rows: [], records: [], result: null });
      job = engine.start('batch', { train, heldout, settings }, {
        onProgress: (p) => {
          if (p.kind === 'stage') patch({ stage: p.stage });
          else if (p.kind === 'record') patch({ records: [...get().batch.records, p.record] });
          else if (p.kind === 'row') {
            const rows = [...get().batch.rows];
            rows[p.index] = p.row;
            patch({ rows });
          }
        },
      });
      try {
        const result = await job.result;
        patch({ status: 'done', stage: 'finished', result, rows: result.rows });
      } catch (e) {
        const cancelled = e instanceof JobError && e.code === 'cancelled';
        patch({ status: cancelled ? 'idle' : 'failed', stage: cancelled ? 'stopped' : 'failed' });
        if (!cancelled) get().pushError(describeError(e, 'Batch run failed'));
      } finally {
        job = null;
      }
    },
    stopBatch() {
      job?.cancel();
    },
  };
};
