/**
 * The single UI state (zustand). Views read from it and call its actions; actions talk to the worker through
 * the engine client. Nothing here owns a tensor.
 */
import { create, type StateCreator } from 'zustand';
import type { BackendReport, FaultMode, KernelCheckResult, MatmulBenchResult } from '../worker/protocol';
import type { StudioCatalog } from '../worker/studio-protocol';
import { JobError } from '../worker/protocol';
import { backendFromUrl, engine } from './engine';
import { createModelsSlice, type ModelsSlice } from './models/models-slice';
import { createTuneSlice, type TuneSlice } from './tune/tune-slice';
import { createTokensSlice, type TokensSlice } from './tokens/tokens-slice';
import { createRunsSlice, type RunsSlice } from './runs/runs-slice';
import { createBatchSlice, type BatchSlice } from './batch/batch-slice';

export interface AppError {
  title: string;
  message: string;
  /** What the user can do about it. */
  hint: string;
}

export interface LogLine { time: number; level: string; message: string }

interface MatmulState {
  running: boolean;
  size: number;
  repeats: number;
  progress: { done: number; total: number } | null;
  result: MatmulBenchResult | null;
}

/** What the studio offers (rewards, model sets, samplers), from the worker once at start. */
export interface CatalogState {
  status: 'loading' | 'ready' | 'failed';
  value: StudioCatalog | null;
  error: string | null;
}

/** Core state: backend, catalog, errors, logs, diagnostics. Views' own state lives in slices (see the bottom). */
export interface CoreSlice {
  catalog: CatalogState;
  loadCatalog(): Promise<void>;
  backendStatus: 'starting' | 'ready' | 'failed';
  backend: BackendReport | null;
  errors: AppError[];
  logs: LogLine[];
  matmul: MatmulState;
  kernelCheck: { running: boolean; result: KernelCheckResult | null };
  runKernelCheck(): Promise<void>;
  startEngine(): Promise<void>;
  runMatmul(): Promise<void>;
  cancelMatmul(): void;
  setMatmulSize(size: number): void;
  setMatmulRepeats(repeats: number): void;
  injectFault(mode: FaultMode): Promise<void>;
  dismissError(index: number): void;
  pushError(e: AppError): void;
}

let matmulAbort: AbortController | null = null;

export function describeError(e: unknown, title: string): AppError {
  const err = e instanceof JobError ? e : new JobError('internal', e instanceof Error ? e.message : String(e));
  const hints: Record<string, string> = {
    cancelled: 'Nothing to do: the job stopped as asked.',
    'invalid-input': 'Correct the highlighted value and try again.',
    'out-of-memory': 'Close other GPU-heavy tabs, or reload with ?backend=wasm to run on the CPU.',
    'device-lost': 'Press Resume: the worker starts a new GPU device and continues from the last epoch. If it repeats, lower the resolution or use int8 weights (Models view), or try ?backend=wasm.',
    internal: 'Try again; if it repeats, reload the page and report the message.',
  };
  return { title, message: err.message, hint: hints[err.code] ?? hints.internal! };
}

/** A slice of the studio state: its creator sees (and may set) the whole state. */
export type Slice<T> = StateCreator<StudioState, [], [], T>;

const createCoreSlice: Slice<CoreSlice> = (set, get) => {
  const pushLog = (level: string, message: string) =>
    set((s) => ({ logs: [...s.logs.slice(-199), { time: Date.now(), level, message }] }));
  const pushError = (e: AppError) => set((s) => ({ errors: [...s.errors, e] }));

  engine.onLog = (level, message) => {
    pushLog(level, message);
    (level === 'error' ? console.error : console.info)(`[worker] ${message}`);
  };
  engine.onRestart = (reason) => {
    pushError({ title: 'The compute worker stopped', message: reason, hint: 'It was restarted automatically; retry what you were doing.' });
    void get().startEngine();
  };

  return {
    catalog: { status: 'loading', value: null, error: null },
    backendStatus: 'starting',
    backend: null,
    errors: [],
    logs: [],
    matmul: { running: false, size: 256, repeats: 3, progress: null, result: null },
    kernelCheck: { running: false, result: null },

    async loadCatalog() {
      set({ catalog: { status: 'loading', value: null, error: null } });
      try {
        const value = await engine.run('catalog', {});
        set({ catalog: { status: 'ready', value, error: null } });
        get().adoptCatalog(value);
      } catch (e) {
        set({ catalog: { status: 'failed', value: null, error: (e as Error).message } });
        pushError(describeError(e, 'The studio\'s catalog (rewards, model sets) could not be read'));
      }
    },

    async startEngine() {
      // the catalog is plain data: it does not wait for a compute backend
      if (get().catalog.status !== 'ready') void get().loadCatalog();
      const { backend, error } = backendFromUrl();
      if (error) pushError({ title: 'Ignored ?backend= value', message: error, hint: 'Using automatic selection.' });
      set({ backendStatus: 'starting' });
      try {
        const report = await engine.run('init', { backend, appBase: document.baseURI });
        set({ backend: report, backendStatus: 'ready' });
        void get().syncPrecision();
        console.info(`[ipgo] backend ${report.backend}` + (report.fallbackReason ? ` (fallback: ${report.fallbackReason})` : ''));
      } catch (e) {
        set({ backendStatus: 'failed' });
        pushError(describeError(e, 'No compute backend could start'));
      }
    },

    async runMatmul() {
      const { size, repeats } = get().matmul;
      matmulAbort = new AbortController();
      set((s) => ({ matmul: { ...s.matmul, running: true, progress: { done: 0, total: repeats }, result: null } }));
      try {
        const result = await engine.run('matmulBench', { size, repeats }, {
          signal: matmulAbort.signal,
          onProgress: (p) => set((s) => ({ matmul: { ...s.matmul, progress: { done: p.done, total: p.total } } })),
        });
        set((s) => ({ matmul: { ...s.matmul, result } }));
      } catch (e) {
        if (!(e instanceof JobError && e.code === 'cancelled')) pushError(describeError(e, 'The matmul job failed'));
      } finally {
        matmulAbort = null;
        set((s) => ({ matmul: { ...s.matmul, running: false } }));
      }
    },

    async runKernelCheck() {
      set({ kernelCheck: { running: true, result: null } });
      try {
        const result = await engine.run('kernelCheck', {});
        set({ kernelCheck: { running: false, result } });
      } catch (e) {
        set({ kernelCheck: { running: false, result: null } });
        pushError(describeError(e, 'The kernel check failed to run'));
      }
    },

    cancelMatmul() {
      matmulAbort?.abort();
    },

    setMatmulSize(size) {
      set((s) => ({ matmul: { ...s.matmul, size } }));
    },

    setMatmulRepeats(repeats) {
      set((s) => ({ matmul: { ...s.matmul, repeats } }));
    },

    async injectFault(mode) {
      try {
        await engine.run('fault', { mode });
      } catch (e) {
        // A crash is reported through onRestart; a thrown job error arrives here.
        if (mode !== 'crash') pushError(describeError(e, mode === 'throw' ? 'The fault-injection job failed (as intended)' : 'Could not lose the GPU device'));
      }
    },

    dismissError(index) {
      set((s) => ({ errors: s.errors.filter((_, i) => i !== index) }));
    },

    pushError,
  };
};

export type StudioState = CoreSlice & ModelsSlice & TuneSlice & TokensSlice & RunsSlice & BatchSlice;

export const useStudio = create<StudioState>()((...a) => ({
  ...createCoreSlice(...a),
  ...createModelsSlice(...a),
  ...createTuneSlice(...a),
  ...createTokensSlice(...a),
  ...createRunsSlice(...a),
  ...createBatchSlice(...a),
}));
