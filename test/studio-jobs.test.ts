/**
 * The studio's worker jobs in Node, on the real storage layer (fake-indexeddb): the built-in tiny model is
 * imported through the weights installer, then `tune` (with pause + resume from the streamed checkpoint),
 * `applyTokens` and `batch` run exactly as in the browser worker.
 */
import 'fake-indexeddb/auto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyModel } from '../tools/make-tiny-model';
import { WeightsStorage } from '../src/weights/store/storage';
import { WeightsInstaller } from '../src/weights/install/installer';
import { parseManifest } from '../src/weights/catalog/manifest';
import { studioHandlers } from '../src/worker/jobs/studio';
import type { JobContext, JobName } from '../src/worker/protocol';
import type { TuneProgress, TuneSettings } from '../src/worker/studio-protocol';
import { MODEL_SETS } from '../src/ui/tune/defaults';

let root: string;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'studio-jobs-'));
  makeTinyModel(root);
  const installer = new WeightsInstaller(WeightsStorage.open(), { estimate: async () => undefined, persist: async () => true });
  for (const file of fs.readdirSync('weights-manifest').filter((f) => /^tiny-.*\.json$/.test(f))) {
    const manifest = parseManifest(fs.readFileSync(path.join('weights-manifest', file), 'utf8'), file);
    const dir = path.join(root, manifest.id);
    const files = new Map(manifest.files.map((f) => [f.path, new Blob([fs.readFileSync(path.join(dir, f.path))])]));
    await installer.importFiles(manifest, files).done;
  }
}, 120_000);

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function context<K extends JobName>(events: unknown[], control?: { handler?: (a: string) => void }): JobContext<K> {
  const abort = new AbortController();
  return {
    progress: (p) => void events.push(p),
    cancelled: () => abort.signal.aborted,
    signal: abort.signal,
    onControl: (h) => { if (control) control.handler = h as (a: string) => void; },
    log: () => {},
  };
}

const settings = (o: Partial<TuneSettings> = {}): TuneSettings => ({
  ...structuredClone(MODEL_SETS[0]!.defaults), mix: { clip: 1 }, steps: 3, epochs: 3, height: 32, width: 32, ...o,
});

describe('studio worker jobs (tiny model, fake IndexedDB)', () => {
  it('tune streams raw, step previews and epochs; pausing returns a checkpoint that resumes to the end', async () => {
    const events: TuneProgress[] = [];
    const control: { handler?: (a: string) => void } = {};
    let epochs = 0;
    const ctx = context<'tune'>(events, control);
    const origProgress = ctx.progress;
    ctx.progress = (p) => {
      origProgress(p);
      if (p.kind === 'epoch' && ++epochs === 1) control.handler?.('pause');
    };
    const first = await studioHandlers.tune({ prompt: 'a red fox', settings: settings() }, ctx);
    expect(first.status).toBe('paused');
    expect(events.some((e) => e.kind === 'raw')).toBe(true);
    expect(events.filter((e) => e.kind === 'step' && e.preview).length).toBeGreaterThan(0);
    const epochEvents = events.filter((e): e is Extract<TuneProgress, { kind: 'epoch' }> => e.kind === 'epoch');
    expect(epochEvents).toHaveLength(1);
    expect(epochEvents[0]!.image.data.length).toBe(32 * 32 * 4);

    const more: TuneProgress[] = [];
    const second = await studioHandlers.tune({
      prompt: 'a red fox', settings: settings(),
      resume: { checkpoint: first.checkpoint, raw: first.raw, best: first.best, records: epochEvents.map((e) => e.record) },
    }, context<'tune'>(more));
    expect(second.status).toBe('done');
    expect(more.filter((e) => e.kind === 'epoch').map((e) => (e as { record: { epoch: number } }).record.epoch)).toEqual([1, 2]);
    expect(more.some((e) => e.kind === 'raw')).toBe(true);
    expect(second.tokens?.format).toBe('ipgo-tokens');
    expect(second.tokens?.history).toHaveLength(3);

    // Applying the exported tokens to a new prompt gives a raw and a tuned image.
    const applied = await studioHandlers.applyTokens({ tokens: second.tokens, prompt: 'a blue house', settings: settings() }, context<'applyTokens'>([]));
    expect(applied.raw.image.data.length).toBe(32 * 32 * 4);
    expect(applied.tuned.image.data).not.toEqual(applied.raw.image.data);
  }, 180_000);

  it('rejects bad input with invalid-input errors before any work', async () => {
    await expect(studioHandlers.tune({ prompt: ' ', settings: settings() }, context<'tune'>([]))).rejects.toMatchObject({ code: 'invalid-input' });
    await expect(studioHandlers.tune({ prompt: 'x', settings: settings({ mix: {} }) }, context<'tune'>([]))).rejects.toMatchObject({ code: 'invalid-input' });
    await expect(studioHandlers.tune({ prompt: 'x', settings: settings({ models: { sd: 'not-installed' } }) }, context<'tune'>([]))).rejects.toMatchObject({ code: 'invalid-input', message: expect.stringMatching(/not installed/) });
    await expect(studioHandlers.applyTokens({ tokens: { format: 'nope' }, prompt: 'x', settings: settings() }, context<'applyTokens'>([]))).rejects.toMatchObject({ code: 'invalid-input' });
  }, 60_000);

  it('batch fills the evaluation table for each reward of the mix', async () => {
    const events: unknown[] = [];
    const r = await studioHandlers.batch({ train: ['a cat', 'a dog', 'a bird'], heldout: ['a fish'], settings: settings({ epochs: 1, mix: { clip: 1, hps: 0.5 } }) }, context<'batch'>(events));
    expect(Object.keys(r.table).sort()).toEqual(['clip', 'hps']);
    expect(Number.isFinite(r.table.clip!.raw.mean) && Number.isFinite(r.table.clip!.tuned.mean)).toBe(true);
    expect(r.rows).toHaveLength(4);
    expect(r.winRate).toBeGreaterThanOrEqual(0);
  }, 180_000);
});
