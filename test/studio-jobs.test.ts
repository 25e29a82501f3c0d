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
import type { RunCheckpoint } from '../src/ipgo/checkpoint';
import type { BatchRow } from '../src/ipgo/session';
import type { EpochRecord } from '../src/ipgo/trainer';
import * as tf from '@tensorflow/tfjs';
import { MODEL_SETS } from '../src/ipgo/model-sets';

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
  ...structuredClone(MODEL_SETS.find((s) => s.id === 'tiny')!.defaults), mix: { clip: 1 }, steps: 3, epochs: 3, height: 32, width: 32, ...o,
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

  it('batch: the table is computed on the held-out prompt, per reward and weighted; a paused batch resumes to the same tokens', async () => {
    const prompts = ['a cat', 'a dog', 'a fish'];
    const batchSettings = settings({ epochs: 2, mix: { clip: 1, hps: 0.5 }, gradAccumulation: 2 });
    const r = await studioHandlers.batch({ prompts, heldOut: 1, settings: batchSettings }, context<'batch'>([]));
    expect(r.status).toBe('done');
    // The worker keeps the model set loaded between jobs; every later job (paused, cut, resumed, refused) frees the rest.
    const tensorsBetweenJobs = tf.memory().numTensors;
    expect(r.rows.map((row) => row.split)).toEqual(['train', 'train', 'heldout']);
    // One held-out row: its raw and tuned values are the table's means, and the win-rates are its comparisons.
    const held = r.rows[2]!;
    const table = r.evaluation!;
    expect(table.rows).toBe(1);
    expect(Object.keys(table.rewards).sort()).toEqual(['clip', 'hps']);
    for (const id of ['clip', 'hps']) {
      expect(table.rewards[id]!.raw!.mean).toBe(held.raw!.rewards[id]);
      expect(table.rewards[id]!.tuned!.mean).toBe(held.tuned!.rewards[id]);
      expect(table.winRateByReward.tuned![id]).toBe(held.tuned!.rewards[id]! > held.raw!.rewards[id]! ? 1 : 0);
    }
    expect(table.winRate.tuned).toBe(held.tuned!.weightedReward > held.raw!.weightedReward ? 1 : 0);
    expect(held.raw!.weightedReward).toBeCloseTo(held.raw!.rewards.clip! + 0.5 * held.raw!.rewards.hps!, 6);

    // Pause after the first epoch's last record, then resume from the returned state: the same tokens as the run above.
    const control: { handler?: (a: string) => void } = {};
    const ctx = context<'batch'>([], control);
    let records = 0;
    ctx.progress = (p) => {
      if (p.kind === 'record' && ++records === prompts.length - 1) control.handler?.('pause');
    };
    const paused = await studioHandlers.batch({ prompts, heldOut: 1, settings: batchSettings }, ctx);
    expect(paused.status).toBe('paused');
    expect(paused.evaluation).toBeNull();
    expect(paused.history).toHaveLength(prompts.length - 1);
    const resumed = await studioHandlers.batch({ prompts, heldOut: 1, settings: batchSettings,
      resume: { checkpoint: paused.checkpoint, rows: paused.rows, history: paused.history } }, context<'batch'>([]));
    expect(resumed.status).toBe('done');
    expect(resumed.history.map((h) => h.loss)).toEqual(r.history.map((h) => h.loss));
    expect(resumed.tokens.params).toEqual(r.tokens.params);
    expect(resumed.evaluation).toEqual(table);

    // Cut (not paused) one record into the second epoch, as a reload would: the last streamed checkpoint and the
    // records seen so far resume to the same losses and tokens (the cut epoch's record is redone, not doubled).
    const cut = context<'batch'>([]);
    const abort = new AbortController();
    cut.cancelled = () => abort.signal.aborted;
    let streamed: { checkpoint: RunCheckpoint; history: EpochRecord[] } | null = null;
    const seen: EpochRecord[] = [];
    const rows: BatchRow[] = [];
    cut.progress = (p) => {
      if (p.kind === 'checkpoint') streamed = p;
      if (p.kind === 'row') rows[p.index] = p.row;
      if (p.kind === 'record' && seen.push(p.record) === prompts.length) abort.abort();
    };
    await expect(studioHandlers.batch({ prompts, heldOut: 1, settings: batchSettings }, cut)).rejects.toMatchObject({ code: 'cancelled' });
    expect(streamed!.history).toHaveLength(prompts.length - 1);
    const afterCut = await studioHandlers.batch({ prompts, heldOut: 1, settings: batchSettings,
      resume: { checkpoint: streamed!.checkpoint, rows, history: seen } }, context<'batch'>([]));
    expect(afterCut.history.map((h) => h.loss)).toEqual(r.history.map((h) => h.loss));
    expect(afterCut.tokens.params).toEqual(r.tokens.params);

    await expect(studioHandlers.batch({ prompts: ['a cat', 'a dog'], heldOut: 1, settings: batchSettings,
      resume: { checkpoint: paused.checkpoint, rows: paused.rows, history: paused.history } }, context<'batch'>([]))).rejects.toMatchObject({ code: 'invalid-input' });
    await expect(studioHandlers.batch({ prompts: ['a cat'], heldOut: 1, settings: batchSettings }, context<'batch'>([]))).rejects.toMatchObject({ code: 'invalid-input' });
    expect(tf.memory().numTensors).toBe(tensorsBetweenJobs);
  }, 600_000);
});
