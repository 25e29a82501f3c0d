import type { Slice } from '../store';
import { describeError } from '../store';
import { engine } from '../engine';
import { ResumableJob } from '../resumable-job';
import type { EpochRecord, Evaluation, IpgoTokensFile, PreflightReport, RgbaImage, StudioCatalog, TuneSettings } from '../../worker/studio-protocol';
import { newId, saveRun, saveTokens, type PromptRunRecord } from '../persist';
import { formFromCatalog, readSavedForm, SAVED_KEY } from './saved-form';

export type TuneStatus = 'idle' | 'running' | 'pausing' | 'paused' | 'done' | 'failed';

export interface TuneState {
  modelSet: string;
  prompt: string;
  /** null until the worker's catalog (model sets and their defaults) has arrived. */
  settings: TuneSettings | null;
  status: TuneStatus;
  stage: string;
  run: PromptRunRecord | null;
  preview: RgbaImage | null;
  step: { phase: string; step: number; total: number } | null;
  current: RgbaImage | null;
  tokens: IpgoTokensFile | null;
  /** The GPU memory budget (GiB) a run must fit, and the last preflight against it (WebGPU only). */
  memory: { budgetGiB: number; checking: boolean; report: PreflightReport | null };
}

/** Most 6–8 GB GPUs leave about this much to one tab once the browser and desktop have theirs. */
export const DEFAULT_GPU_BUDGET_GIB = 6;
const GiB = 2 ** 30;

/** Prompt tuning (the Tune view): one run at a time, streamed from the worker and saved after every epoch. */
export interface TuneSlice {
  tune: TuneState;
  setPrompt(prompt: string): void;
  updateSettings(patch: Partial<TuneSettings>): void;
  chooseModelSet(id: string): void;
  /** Fills the form from the catalog: the saved model set and settings over that set's defaults. */
  adoptCatalog(catalog: StudioCatalog): void;
  startTune(resume?: PromptRunRecord): Promise<void>;
  pauseTune(): void;
  stopTune(): void;
  saveTunedTokens(name: string): Promise<void>;
  setGpuBudget(gib: number): void;
  /** Loads the selected models and predicts one update's peak GPU memory against the budget. */
  checkMemory(): Promise<void>;
}

const job = new ResumableJob<'tune'>('Tuning');

const DEFAULT_PROMPT = 'a red fox sleeping in the snow, watercolor';

function saveForm(t: TuneState): void {
  if (!t.settings) return;
  globalThis.localStorage?.setItem(SAVED_KEY, JSON.stringify({ modelSet: t.modelSet, prompt: t.prompt, settings: t.settings }));
}

export const createTuneSlice: Slice<TuneSlice> = (set, get) => {
  const patch = (p: Partial<TuneState>) => set((s) => ({ tune: { ...s.tune, ...p } }));
  const patchForm = (p: Partial<TuneState>) => {
    patch(p);
    saveForm(get().tune);
  };
  const patchRun = (p: Partial<PromptRunRecord>) => {
    const run = get().tune.run;
    if (!run) return;
    const next = { ...run, ...p, updatedAt: new Date().toISOString() };
    patch({ run: next });
    void saveRun(next);
  };

  const savedPrompt = readSavedForm().prompt;
  return {
    tune: {
      modelSet: '',
      prompt: typeof savedPrompt === 'string' ? savedPrompt : DEFAULT_PROMPT,
      settings: null,
      status: 'idle', stage: '', run: null, preview: null, step: null, current: null, tokens: null,
      memory: { budgetGiB: DEFAULT_GPU_BUDGET_GIB, checking: false, report: null },
    },

    setPrompt: (prompt) => patchForm({ prompt }),
    updateSettings: (p) => {
      const settings = get().tune.settings;
      if (settings) patchForm({ settings: { ...settings, ...p } });
    },
    chooseModelSet: (id) => {
      const ms = get().catalog.value?.modelSets.find((m) => m.id === id);
      if (ms) patchForm({ modelSet: id, settings: structuredClone(ms.defaults) });
    },
    adoptCatalog: (catalog) => {
      if (get().tune.settings) return;
      const form = formFromCatalog(catalog, readSavedForm());
      // A first visit starts from the set's suggested prompt (the demo set's shows what tuning corrects).
      const suggested = typeof savedPrompt === 'string' ? undefined : catalog.modelSets.find((m) => m.id === form.modelSet)?.suggestedPrompt;
      patch(suggested ? { ...form, prompt: suggested } : form);
    },

    async startTune(resume) {
      if (job.running) return;
      const { prompt, settings } = resume ? { prompt: resume.prompt, settings: resume.settings } : get().tune;
      if (!settings) return;
      const now = new Date().toISOString();
      const run: PromptRunRecord = resume
        ? { ...resume, status: 'running', error: undefined }
        : { id: newId(), kind: 'prompt', prompt, settings, createdAt: now, updatedAt: now, status: 'running', records: [], raw: null, best: null, checkpoint: null };
      set((s) => ({ tune: { ...s.tune, prompt, settings, status: 'running', stage: 'starting', run, preview: null, step: null, current: null, tokens: null } }));
      void saveRun(run);
      await job.run(() => engine.start('tune', {
        prompt, settings, budgetBytes: get().tune.memory.budgetGiB * GiB,
        resume: resume?.checkpoint && resume.raw ? { checkpoint: resume.checkpoint, raw: resume.raw, best: resume.best, records: resume.records } : undefined,
      }, {
        onProgress: (p) => {
          switch (p.kind) {
            case 'stage':
              return patch({ stage: p.stage });
            case 'step':
              return patch({ step: { phase: p.phase, step: p.step, total: p.total }, ...(p.preview ? { preview: p.preview } : {}) });
            case 'raw':
              patch({ stage: 'tuning' });
              return patchRun({ raw: p.result });
            case 'epoch': {
              const records: EpochRecord[] = [...(get().tune.run?.records ?? []), p.record];
              const best: (Evaluation & { epoch: number }) | null = p.isBest
                ? { rewards: p.record.rewards, weightedReward: p.record.weightedReward, image: p.image, epoch: p.record.epoch }
                : get().tune.run?.best ?? null;
              patch({ current: p.image });
              return patchRun({ records, best, checkpoint: p.checkpoint });
            }
          }
        },
      }), {
        done: (result) => {
          patchRun({ status: result.status, checkpoint: result.checkpoint, best: result.best ?? get().tune.run?.best ?? null });
          patch({ status: result.status, stage: result.status === 'done' ? 'finished' : 'paused', tokens: result.tokens });
        },
        // a lost GPU device leaves the run resumable from its last per-epoch checkpoint
        ended: (end) => {
          patchRun({ status: end.status, error: end.error });
          patch({ status: end.status, stage: end.stage });
        },
        hasCheckpoint: () => Boolean(get().tune.run?.checkpoint),
        report: (e, title) => get().pushError(describeError(e, title)),
      });
    },

    pauseTune() {
      if (job.pause()) patch({ status: 'pausing', stage: 'pausing after this epoch' });
    },

    stopTune() {
      job.stop();
    },

    setGpuBudget(gib) {
      if (Number.isFinite(gib) && gib > 0) patch({ memory: { ...get().tune.memory, budgetGiB: gib, report: null } });
    },

    async checkMemory() {
      const memory = get().tune.memory;
      const settings = get().tune.settings;
      if (memory.checking || !settings) return;
      patch({ memory: { ...memory, checking: true } });
      try {
        const report = await engine.run('preflight', { settings, budgetBytes: memory.budgetGiB * GiB });
        patch({ memory: { ...get().tune.memory, checking: false, report } });
      } catch (e) {
        patch({ memory: { ...get().tune.memory, checking: false, report: null } });
        get().pushError(describeError(e, 'The memory check failed'));
      }
    },

    async saveTunedTokens(name) {
      const file = get().tune.tokens;
      if (!file) return;
      await saveTokens({ id: newId(), name: name.trim() || file.prompts[0] || 'tokens', createdAt: new Date().toISOString(), file });
      await get().refreshTokens();
    },
  };
};
