/**
 * The demo set's evaluation (Node, tfjs-wasm): does the base model draw what it is told, and does IPGO improve the
 * pictures and not only the reward it optimises? Writes bench/results/demo.json and docs/demo-grid.png.
 *
 *   npm run bench:demo            [DEMO_PROMPTS=20] [DEMO_EPOCHS=10] [DEMO_SEEDS=3]
 *
 * - base_judge_accuracy: share of base images (every held-out caption × DEMO_SEEDS noise seeds, the demo's default
 *   sampler) that the judge reads as the caption says (colour, shape and position); chance is its own metric.
 * - Prompt-wise IPGO on the first DEMO_PROMPTS held-out captions for DEMO_EPOCHS epochs at the demo defaults, once
 *   with the CLIP score and once with the aesthetic-style reward: the win-rate (tuned reward > raw), each reward's
 *   raw and tuned mean ± std (the paper's table), and the judge's accuracy on the raw and on the tuned images. The
 *   tuned image is the best epoch's, as the app keeps it.
 * - epoch_ms_wasm: median epoch at the demo defaults in Node on wasm.
 * - epoch_ms_wasm_chromium: median epoch of the built app (`npm run build` first; the npm script does it) in Debian
 *   Chromium on its wasm backend, driven as a newcomer would: install the demo set, tune the suggested prompt at
 *   the demo defaults for DEMO_CHROMIUM_EPOCHS (default 5) epochs, read the epoch table.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { chanceAccuracy, disposeJudge } from '../src/demo/judge';
import { captionSplit, caption } from '../src/demo/scenes';
import { stats, winRate } from '../src/ipgo/evaluation';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import type { Evaluated } from '../src/ipgo/trainer';
import type { RewardMix } from '../src/rewards/registry';
import { demoDefaults, demoTrainer, judgedRight, judgedShare, loadDemoJudge, loadDemoModels, rawImages } from '../test/demo-set';
import { encodePng } from '../tools/lib/png';
import { initNodeBackend } from '../tools/lib/tf-node';
import { chromiumEpochs } from './lib/demo-chromium';
import { writeBenchResults } from './lib/results';

const PROMPTS = Number(process.env.DEMO_PROMPTS ?? 20);
const EPOCHS = Number(process.env.DEMO_EPOCHS ?? 10);
const SEEDS = Number(process.env.DEMO_SEEDS ?? 3);
const CHROMIUM_EPOCHS = Number(process.env.DEMO_CHROMIUM_EPOCHS ?? 5);
const GRID_ROWS = 8;
const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};

interface Tuned { prompt: string; raw: Evaluated; tuned: Evaluated; epochMs: number[] }

async function tuneAll(mixId: 'clip' | 'aesthetic', prompts: string[]): Promise<Tuned[]> {
  const mix = { [mixId]: 1 } as RewardMix;
  const set = await loadDemoModels(mix);
  const trainer = demoTrainer(set, mix, { epochs: EPOCHS });
  const out: Tuned[] = [];
  try {
    for (const prompt of prompts) {
      const ctx = trainer.prepare(prompt);
      const run = freshRun(trainer.config);
      try {
        const raw = await trainer.raw(ctx);
        const { best, records } = await trainer.trainPrompt(run, ctx);
        out.push({ prompt, raw, tuned: best ?? raw, epochMs: records.map((r) => r.ms) });
        console.log(`${mixId} "${prompt}": raw ${raw.rewards[mixId]!.toFixed(4)} → best ${(best?.rewards[mixId] ?? NaN).toFixed(4)} (epoch ${best?.epoch})`);
      } finally {
        disposeRun(run);
        ctx.dispose();
      }
    }
  } finally {
    trainer.dispose();
    set.dispose();
  }
  return out;
}

async function baseAccuracy(): Promise<number> {
  const judge = await loadDemoJudge();
  const captions = captionSplit().heldOut.map(caption);
  const set = await loadDemoModels({ clip: 1 });
  let correct = 0;
  try {
    for (let seed = 0; seed < SEEDS; seed++) {
      const trainer = demoTrainer(set, { clip: 1 }, { seed });
      const images = await rawImages(trainer, captions);
      trainer.dispose();
      correct += (await judgedShare(judge, images, captions)) * captions.length;
    }
  } finally {
    set.dispose();
    disposeJudge(judge);
  }
  return correct / (SEEDS * captions.length);
}

async function report(id: 'clip' | 'aesthetic', rows: Tuned[]): Promise<void> {
  const judge = await loadDemoJudge();
  const prompts = rows.map((r) => r.prompt);
  const raw = rows.map((r) => r.raw.rewards[id]!);
  const tuned = rows.map((r) => r.tuned.rewards[id]!);
  const prefix = id === 'clip' ? 'ipgo' : 'aesthetic';
  metrics[`${prefix}_reward_winrate`] = winRate(raw.map((r, i) => ({ raw: r, tuned: tuned[i]! })));
  for (const [name, xs] of [['raw', raw], ['tuned', tuned]] as const) {
    const s = stats(xs);
    metrics[`${prefix}_reward_${name}_mean`] = s.mean;
    metrics[`${prefix}_reward_${name}_std`] = s.std;
  }
  // the keys: judge_accuracy_* for the CLIP score, aesthetic_judge_accuracy_* for the aesthetic-style reward
  const judgeKey = id === 'clip' ? 'judge_accuracy' : 'aesthetic_judge_accuracy';
  const rawRight = await judgedRight(judge, rows.map((r) => r.raw.image), prompts);
  const tunedRight = await judgedRight(judge, rows.map((r) => r.tuned.image), prompts);
  metrics[`${judgeKey}_raw`] = rawRight.filter(Boolean).length / rows.length;
  metrics[`${judgeKey}_tuned`] = tunedRight.filter(Boolean).length / rows.length;
  // Prompts whose base image the judge reads wrong and whose tuned one it reads right: the suggested prompt's pool.
  const fixed = rows.filter((_, i) => !rawRight[i] && tunedRight[i])
    .map((r) => `${r.prompt} (${id} ${r.raw.rewards[id]!.toFixed(3)} → ${r.tuned.rewards[id]!.toFixed(3)})`);
  notes[`${prefix}_fixed_by_tuning`] = fixed.join('; ') || 'none';
  disposeJudge(judge);
}

/** Rows of [raw | CLIP-tuned | aesthetic-tuned], each picture scaled ×4 (nearest), 4-pixel white gutters. */
function writeGrid(clip: Tuned[], aesthetic: Tuned[], file: string): void {
  const rows = clip.slice(0, GRID_ROWS).map((c, i) => [c.raw.image, c.tuned.image, aesthetic[i]!.tuned.image]);
  const scale = 4;
  const gap = 4;
  const cell = rows[0]![0]!.width * scale;
  const width = 3 * cell + 4 * gap;
  const height = rows.length * cell + (rows.length + 1) * gap;
  const data = new Uint8Array(width * height * 4).fill(255);
  rows.forEach((row, r) => row.forEach((img, c) => {
    for (let y = 0; y < cell; y++) for (let x = 0; x < cell; x++) {
      const src = (Math.floor(y / scale) * img.width + Math.floor(x / scale)) * 4;
      const dst = ((gap + r * (cell + gap) + y) * width + gap + c * (cell + gap) + x) * 4;
      data.set(img.data.subarray(src, src + 4), dst);
    }
  }));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodePng({ width, height, data }));
  fs.writeFileSync(file.replace(/\.png$/, '.txt'), 'Rows (top to bottom), each: raw | CLIP-score tuned | aesthetic-style tuned\n' +
    rows.map((_, i) => `${i + 1}. ${clip[i]!.prompt}`).join('\n') + '\n');
}

const median = (xs: number[]): number | null => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? null;

async function main(): Promise<void> {
  await initNodeBackend();
  console.log(`backend ${tf.getBackend()}; demo defaults: ${JSON.stringify({ ...demoDefaults(), models: undefined })}`);
  metrics.base_judge_accuracy = await baseAccuracy();
  metrics.chance_judge_accuracy = chanceAccuracy();
  const prompts = captionSplit().heldOut.slice(0, PROMPTS).map(caption);
  const clip = await tuneAll('clip', prompts);
  await report('clip', clip);
  const aesthetic = await tuneAll('aesthetic', prompts);
  await report('aesthetic', aesthetic);
  metrics.epoch_ms_wasm = median([...clip, ...aesthetic].flatMap((r) => r.epochMs));
  notes.epoch_ms_wasm = 'median epoch over both IPGO runs, Node 20 + tfjs-wasm';
  const browser = await chromiumEpochs(CHROMIUM_EPOCHS);
  metrics.epoch_ms_wasm_chromium = median(browser.ms);
  notes.epoch_ms_wasm_chromium = `median of ${browser.ms.length} epochs (${browser.ms.map(Math.round).join(', ')} ms), built app in ` +
    `Chromium, wasm backend, cross-origin isolated: ${browser.isolated}, ${browser.cores} cores; "${browser.prompt}" at the demo defaults`;
  console.log(`chromium epochs (ms): ${browser.ms.join(', ')}`);
  notes.base_judge_accuracy = `${captionSplit().heldOut.length} held-out captions × ${SEEDS} seeds; judged: colour, shape and position`;
  notes.ipgo = `${prompts.length} held-out captions, ${EPOCHS} epochs, demo defaults; tuned = the best epoch's image`;
  writeGrid(clip, aesthetic, path.resolve('docs/demo-grid.png'));
  writeBenchResults('demo', metrics, notes);
}

await main();
