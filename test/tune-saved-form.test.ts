/**
 * The Tune form saved by the app (localStorage `ipgo.tune`) read back over the worker's catalog: a form saved
 * before the catalog existed (the flat { sd, clip, aesthetic, hps } model selection) loads with its settings.
 */
import { describe, expect, it } from 'vitest';
import { formFromCatalog } from '../src/ui/tune/saved-form';
import { studioCatalog } from '../src/worker/jobs/catalog';

/** As the app saved it before the catalog: every field of the form, the models by role. */
const OLD_SAVED = {
  modelSet: 'tiny',
  prompt: 'a lighthouse',
  settings: {
    models: { sd: 'tiny-sd', clip: 'tiny-clip', aesthetic: 'tiny-aesthetic', hps: 'tiny-hps' },
    mix: { clip: 2 }, numTokens: 3, rank: 5, bound: 1, rotation: 'off', steps: 7, guidance: 5, scheduler: 'euler', gradLastK: 2,
    seed: 4, lr: 0.02, epochs: 9, penaltyWeight: 0.001, height: 64, width: 64, stepLR: { stepSize: 10, gamma: 0.9 }, maxGradNorm: 1,
  },
};

describe('the saved Tune form over the catalog', () => {
  const catalog = studioCatalog();

  it('loads a form saved before the catalog: its settings over the set\'s defaults, the set\'s models', () => {
    const { modelSet, settings } = formFromCatalog(catalog, structuredClone(OLD_SAVED));
    const set = catalog.modelSets.find((m) => m.id === 'tiny')!;
    expect(modelSet).toBe('tiny');
    expect(settings).toEqual({ ...set.defaults, ...OLD_SAVED.settings, models: set.models });
    // a field the old form lacked takes the set's default
    expect(settings.gradAccumulation).toBe(set.defaults.gradAccumulation);
  });

  it('an unknown or missing model set starts from the first set\'s defaults, not the saved settings', () => {
    for (const saved of [{ ...OLD_SAVED, modelSet: 'gone' }, {}]) {
      const form = formFromCatalog(catalog, saved);
      expect(form).toEqual({ modelSet: catalog.modelSets[0]!.id, settings: catalog.modelSets[0]!.defaults });
    }
  });

  it('a catalog without model sets is an error, not an empty form', () => {
    expect(() => formFromCatalog({ ...catalog, modelSets: [] }, OLD_SAVED)).toThrow(/no model set/);
  });
});
