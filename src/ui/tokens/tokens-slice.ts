import type { Slice } from '../store';
import { describeError } from '../store';
import { engine } from '../engine';
import type { Evaluation, RewardMix, RgbaImage, TuneSettings } from '../../worker/studio-protocol';
import { deleteTokens, listTokens, newId, saveTokens, type SavedTokens } from '../persist';

export interface ApplyState {
  tokensId: string | null;
  prompt: string;
  running: boolean;
  preview: RgbaImage | null;
  raw: Evaluation | null;
  tuned: Evaluation | null;
  warnings: string[];
}

/** Saved token sets (the Tokens view): import with validation, export as JSON, apply to a new prompt. */
export interface TokensSlice {
  saved: SavedTokens[];
  importError: string | null;
  apply: ApplyState;
  refreshTokens(): Promise<void>;
  importTokens(text: string, fileName: string): Promise<boolean>;
  removeTokens(id: string): Promise<void>;
  exportTokensJson(id: string): string;
  setApply(p: Partial<ApplyState>): void;
  applyTokens(): Promise<void>;
}

export const createTokensSlice: Slice<TokensSlice> = (set, get) => ({
  saved: [],
  importError: null,
  apply: { tokensId: null, prompt: 'a lighthouse on a cliff at dusk', running: false, preview: null, raw: null, tuned: null, warnings: [] },

  async refreshTokens() {
    set({ saved: await listTokens() });
  },

  async importTokens(text, fileName) {
    try {
      // the worker validates it completely (against the text width of the model it names); nothing is saved on error
      const file = await engine.run('checkTokens', { text });
      await saveTokens({ id: newId(), name: fileName.replace(/\.json$/i, ''), createdAt: new Date().toISOString(), file });
      set({ importError: null });
      await get().refreshTokens();
      return true;
    } catch (e) {
      set({ importError: `${fileName}: ${(e as Error).message}` });
      return false;
    }
  },

  async removeTokens(id) {
    await deleteTokens(id);
    await get().refreshTokens();
  },

  exportTokensJson(id) {
    const t = get().saved.find((s) => s.id === id);
    if (!t) throw new Error('no such token set');
    return JSON.stringify(t.file, null, 2) + '\n';
  },

  setApply(p) {
    set((s) => ({ apply: { ...s.apply, ...p } }));
  },

  async applyTokens() {
    const { apply, saved } = get();
    const entry = saved.find((s) => s.id === apply.tokensId);
    if (!entry || apply.running) return;
    // Sampling settings come from the Tune form when it targets the tokens' model, else from that model's defaults.
    const tune = get().tune.settings;
    const modelSets = get().catalog.value?.modelSets ?? [];
    const modelSet = modelSets.find((m) => m.models.sd === entry.file.modelId) ?? modelSets[0];
    const base = tune?.models.sd === entry.file.modelId ? tune : modelSet?.defaults;
    if (!base) {
      get().pushError({ title: 'Applying the tokens failed', message: 'the studio\'s catalog (model sets) is not loaded', hint: 'Reload the page; if it repeats, report it.' });
      return;
    }
    const settings: TuneSettings = { ...base, mix: entry.file.rewardWeights as RewardMix };
    get().setApply({ running: true, raw: null, tuned: null, preview: null, warnings: [] });
    try {
      const r = await engine.run('applyTokens', { tokens: entry.file, prompt: apply.prompt, settings }, {
        onProgress: (p) => {
          if (p.kind === 'step' && p.preview) get().setApply({ preview: p.preview });
          if (p.kind === 'raw') get().setApply({ raw: p.result });
        },
      });
      get().setApply({ raw: r.raw, tuned: r.tuned, warnings: r.warnings });
    } catch (e) {
      get().pushError(describeError(e, 'Applying the tokens failed'));
    } finally {
      get().setApply({ running: false });
    }
  },
});
