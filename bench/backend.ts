/**
 * npm run bench:backend — float32 matmul GFLOP/s for 256/1024/2048 squares on every backend available in Node
 * (wasm, cpu) and in Chromium (webgpu, wasm, cpu; the built app's worker job, driven by Playwright).
 * Runs whose estimated time (from the previous size, ×8 per doubling) exceeds BENCH_MAX_SECONDS (default 60)
 * are skipped and reported as such: SwiftShader WebGPU does ~0.15 GFLOP/s here, so 2048² takes minutes.
 */
import * as tf from '@tensorflow/tfjs';
import { chromium } from '@playwright/test';
import { initNodeBackend } from '../tools/lib/tf-node';
import { runMatmulBench } from '../src/worker/jobs/matmul-bench';
import { CHROMIUM_PATH, QUIET_NETWORK_FLAGS, WEBGPU_FLAGS } from '../e2e/chromium';
import { withPreviewServer } from './lib/preview';
import { writeBenchResults } from './lib/results';

const SIZES = [256, 1024, 2048];
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 60);
const metrics: Record<string, number | null> = {};
const notes: Record<string, string> = {};

/** Repeats so one measurement takes a few seconds at most, but at least one timed run. */
const repeatsFor = (estSeconds: number) => Math.max(1, Math.min(5, Math.floor(5 / Math.max(estSeconds, 1e-3))));

async function sweep(where: string, backend: string, measure: (size: number, repeats: number) => Promise<{ gflops: number; ok: boolean }>) {
  let est = 0.01;
  for (const size of SIZES) {
    const key = `${where}.${backend}.matmul${size}.gflops`;
    if (est * 2 > MAX_SECONDS) { // warm-up + one timed run
      metrics[key] = null;
      notes[key] = `skipped: warm-up + one run estimated at ${Math.round(2 * est)} s > BENCH_MAX_SECONDS=${MAX_SECONDS}`;
      continue;
    }
    const r = await measure(size, repeatsFor(est));
    if (!r.ok) throw new Error(`${key}: wrong checksum, the backend computed a wrong product`);
    metrics[key] = r.gflops;
    const next = SIZES[SIZES.indexOf(size) + 1];
    if (next) est = (2 * next ** 3) / (r.gflops * 1e9);
    console.log(`${key} = ${r.gflops.toFixed(3)}`);
  }
}

const checksumOk = (c: number, e: number) => Math.abs(c - e) <= 1e-4 * Math.max(1, Math.abs(e));

async function nodeBackends() {
  for (const backend of ['wasm', 'cpu']) {
    await initNodeBackend(backend);
    await sweep('node', backend, async (size, repeats) => {
      const r = await runMatmulBench({ size, repeats }, () => {}, () => false);
      return { gflops: r.gflops, ok: checksumOk(r.checksum, r.expectedChecksum) };
    });
  }
  tf.disposeVariables();
}

async function chromiumBackends() {
  await withPreviewServer(4179, async (url) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...QUIET_NETWORK_FLAGS, ...WEBGPU_FLAGS] });
    for (const backend of ['webgpu', 'wasm', 'cpu']) {
      const page = await browser.newPage();
      await page.goto(`${url}?backend=${backend}#/diagnostics`);
      const badge = page.getByTestId('backend');
      await badge.and(page.locator(`[data-backend="${backend}"]`)).waitFor({ timeout: 60_000 });
      await sweep('chromium', backend, async (size, repeats) => {
        await page.getByTestId('matmul-size').selectOption(String(size));
        await page.getByTestId('matmul-repeats').fill(String(repeats));
        await page.getByTestId('matmul-run').click();
        const result = page.locator(`[data-testid="matmul-result"][data-size="${size}"]`);
        await result.waitFor({ timeout: MAX_SECONDS * 4 * 1000 });
        const text = (await result.textContent()) ?? '';
        const gflops = Number(/([\d.]+) GFLOP\/s/.exec(text)?.[1]);
        return { gflops, ok: (await result.getAttribute('data-ok')) === 'true' };
      });
      await page.close();
    }
    await browser.close();
  });
}

await nodeBackends();
await chromiumBackends();
writeBenchResults('backend', metrics, notes);
