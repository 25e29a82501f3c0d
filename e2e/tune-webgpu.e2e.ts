/**
 * IPGO on WebGPU (software GPU) in the built app: two tuning epochs of the built-in tiny model on the WebGPU
 * backend, then the same run on WASM (same settings, seed and initialisation). Compared:
 *  - every epoch's loss and reward: epoch 0 is the forward pass at the initial tokens, epoch 1 is evaluated at
 *    the tokens after one update, so it depends on the first gradient;
 *  - every epoch's gradient norm (before clipping): Adam's step is nearly invariant to a uniform scale of the
 *    gradient, so a gradient kernel off by a constant factor shows only here;
 *  - the parameters after one and after two updates (the checkpoints the worker streams after each epoch and the
 *    UI saves for resuming): a gradient kernel that is wrong in direction shows here.
 * Each run also gets the journey's tune-and-export checks (journey.e2e.ts runs on WASM): the rewards curve updates
 * epoch by epoch while the run streams, the raw / current / best images and the epoch table fill, and the exported
 * tokens follow the schema.
 * So the WGSL kernels, including every gradient kernel the checkpointed backward uses and the packed int8 / fp16
 * weight kernels of the default precision policy, compute what the WASM kernels compute. The conformity penalty is
 * off (λ = 0): on the tiny model its gradient outweighs the reward's by orders of magnitude and would hide the
 * backward through the reward models, the VAE decoder and the UNet in the gradient norm.
 *
 * Tolerances. Both backends compute in float32 on the same int8 / fp16 weights; only summation order differs
 * (tiled matmuls, convolutions and reductions), about 1e-6 relative per op, grown through sampling, the backward
 * pass and Adam. Measured between SwiftShader and WASM: losses and rewards about 1e-6 apart, gradient norms about
 * 3e-4, parameters about 1e-4 (relative L2) at most, so:
 *  - loss and reward: 1e-4 relative (to max(1, |value|)),
 *  - gradient norm: 2e-3 relative, five times below a gradient off by 1 %,
 *  - parameters: relative L2 per tensor ≤ 1e-3 (Adam's first steps move each coordinate by about lr = 1e-2 in the
 *    direction of its gradient, so a wrong gradient moves them further).
 */
import fs from 'node:fs';
import type { Page } from '@playwright/test';
import { test, expect, installTinySet, waitForBackend } from './fixtures';
import { tokensSchemaViolations } from '../src/ipgo/tokens-json-schema';

const EPOCHS = 2;
const VALUE_TOLERANCE = 1e-4;
const GRAD_NORM_TOLERANCE = 2e-3;
const PARAM_TOLERANCE = 1e-3;

interface EncodedTensor { dtype: string; shape: number[]; data: string }
type EncodedParams = Record<string, EncodedTensor>;
interface HistoryRecord { epoch: number; loss: number; weightedReward: number; gradNorm: number; applied: boolean }
interface TunedRun { history: HistoryRecord[]; paramsAfter: Record<number, EncodedParams> }

/**
 * Keeps every checkpoint the UI saves to IndexedDB (one after each epoch, what Resume continues from), by the
 * number of updates it has seen: the final state alone would not show the parameters after the first update.
 */
async function keepSavedCheckpoints(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const saved: Record<number, unknown> = {};
    (window as unknown as { savedCheckpoints: typeof saved }).savedCheckpoints = saved;
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      const checkpoint = (value as { checkpoint?: { epoch: number; params: unknown } } | null)?.checkpoint;
      if (this.name === 'runs' && checkpoint) saved[checkpoint.epoch] = checkpoint.params;
      return put.call(this, value, key);
    };
  });
}

/** Records every value the rewards chart shows while a run streams (proves it updates live, epoch by epoch). */
async function recordChartPoints(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { chartPoints: string[] }).chartPoints = seen;
    const chart = document.querySelector('[data-testid="chart-rewards"]')!;
    new MutationObserver(() => seen.push(chart.getAttribute('data-points') ?? '')).observe(chart, { attributes: true, attributeFilter: ['data-points'] });
  });
}

/**
 * Tunes on `backend` and exports the tokens; checks on the way what the journey checks of a tune on WASM (live
 * chart, images, epoch table, an export that follows the schema), so the WebGPU tune runs once in the suite.
 */
async function tune(page: Page, backend: 'webgpu' | 'wasm'): Promise<TunedRun> {
  await page.goto(`/?backend=${backend}#/tune`);
  expect(await waitForBackend(page)).toBe(backend);
  for (const [key, value] of [['steps', '2'], ['gradLastK', '1'], ['epochs', String(EPOCHS)], ['width', '32'], ['height', '32'], ['seed', '4'], ['penaltyWeight', '0']] as const) {
    await page.getByTestId(`setting-${key}`).fill(value);
  }
  await page.getByTestId('weight-aesthetic').fill('1');
  await page.getByTestId('weight-clip').fill('0.5');
  await recordChartPoints(page);
  await page.getByTestId('tune-start').click();
  await expect(page.getByTestId('img-raw')).toHaveAttribute('data-filled', 'true', { timeout: 300_000 });
  await expect(page.getByTestId('tune-status')).toHaveAttribute('data-status', 'done', { timeout: 600_000 });
  // the view updated while the run streamed: the rewards curve point by point, the images, the epoch table
  expect(await page.evaluate(() => (window as unknown as { chartPoints: string[] }).chartPoints))
    .toEqual(Array.from({ length: EPOCHS }, (_, e) => String(e + 1)));
  await expect(page.getByTestId('img-current')).toHaveAttribute('data-filled', 'true');
  await expect(page.getByTestId('img-best')).toHaveAttribute('data-filled', 'true');
  await expect(page.getByTestId('epoch-table').locator('tbody tr')).toHaveCount(EPOCHS);

  const download = page.waitForEvent('download');
  await page.getByTestId('tokens-export').click();
  const file = test.info().outputPath(`tokens-${backend}.json`);
  await (await download).saveAs(file);
  const exported = JSON.parse(fs.readFileSync(file, 'utf8')) as { history: HistoryRecord[] };
  expect(tokensSchemaViolations(exported)).toEqual([]);
  const { history } = exported;
  const paramsAfter = await page.evaluate(() => (window as unknown as { savedCheckpoints: Record<number, EncodedParams> }).savedCheckpoints);
  return { history, paramsAfter };
}

const relativeTo = (got: number, want: number): number => Math.abs(got - want) / Math.max(1, Math.abs(want));

function decoded(t: EncodedTensor): Float32Array {
  const bytes = Buffer.from(t.data, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function relativeL2(got: EncodedTensor, want: EncodedTensor): number {
  expect(got.shape).toEqual(want.shape);
  const [a, b] = [decoded(got), decoded(want)];
  let diff = 0, norm = 0;
  for (let i = 0; i < b.length; i++) { diff += (a[i]! - b[i]!) ** 2; norm += b[i]! ** 2; }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

/** Every compared quantity as [name, measured difference, tolerance], printed before any assertion. */
function differences(gpu: TunedRun, cpu: TunedRun): [string, number, number][] {
  const rows: [string, number, number][] = [];
  for (const [e, want] of cpu.history.entries()) {
    const got = gpu.history[e]!;
    rows.push([`epoch ${e} loss`, relativeTo(got.loss, want.loss), VALUE_TOLERANCE]);
    rows.push([`epoch ${e} reward`, relativeTo(got.weightedReward, want.weightedReward), VALUE_TOLERANCE]);
    rows.push([`epoch ${e} gradient norm`, Math.abs(got.gradNorm - want.gradNorm) / want.gradNorm, GRAD_NORM_TOLERANCE]);
  }
  for (let updates = 1; updates <= EPOCHS; updates++) {
    for (const [name, want] of Object.entries(cpu.paramsAfter[updates]!)) {
      rows.push([`${name} after ${updates} update(s), rel. L2`, relativeL2(gpu.paramsAfter[updates]![name]!, want), PARAM_TOLERANCE]);
    }
  }
  return rows;
}

test('two IPGO epochs on WebGPU match the same epochs on WASM: losses, gradient norms and updated parameters', async ({ page, consoleProblems }) => {
  test.setTimeout(25 * 60_000);
  void consoleProblems;
  await keepSavedCheckpoints(page);
  await installTinySet(page);
  await page.goto('/?backend=wasm#/models');
  // the GPU bytes each precision would take, shown per model; a change is kept and reported in bytes
  const deviceBytes = async () => Number(await page.getByTestId('device-tiny-sd').getAttribute('data-bytes'));
  await expect(page.getByTestId('precision-panel')).toBeVisible();
  await expect(page.getByTestId('precision-unet')).toHaveValue('int8');
  const atDefault = await deviceBytes();
  await page.getByTestId('precision-unet').selectOption('fp32');
  await expect.poll(deviceBytes).toBeGreaterThan(atDefault);
  await page.getByTestId('precision-unet').selectOption('int8');
  await expect.poll(deviceBytes).toBe(atDefault);

  const gpu = await tune(page, 'webgpu');
  await expect(page.getByTestId('img-best')).toHaveAttribute('data-filled', 'true');
  // the worker logged what the load put on the GPU, at the default precision (packed int8 UNet)
  await page.goto('/?backend=webgpu#/diagnostics');
  await expect(page.getByTestId('log')).toContainText(/loaded \(UNet int8, VAE decoder fp16, text encoder fp16, CLIP-L fp16, ViT-H int8\): .* on the device/);
  await page.screenshot({ path: 'e2e/artifacts/screenshots/tune-webgpu.png', fullPage: true });
  const cpu = await tune(page, 'wasm');

  for (const run of [gpu, cpu]) {
    expect(run.history.map((r) => [r.epoch, r.applied])).toEqual(Array.from({ length: EPOCHS }, (_, e) => [e, true]));
    expect(run.history.every((r) => Number.isFinite(r.loss) && r.gradNorm > 0)).toBe(true);
    expect(Object.keys(run.paramsAfter).map(Number).sort()).toEqual(Array.from({ length: EPOCHS }, (_, e) => e + 1));
  }
  console.log(`gradient norms: webgpu ${gpu.history.map((r) => r.gradNorm)}, wasm ${cpu.history.map((r) => r.gradNorm)}`);
  const rows = differences(gpu, cpu);
  console.log(rows.map(([what, d, tol]) => `${d <= tol ? 'ok  ' : 'FAIL'} ${what}: ${d.toExponential(2)} (tolerance ${tol})`).join('\n'));
  expect(rows.filter(([, d, tol]) => !(d <= tol)).map(([what, d]) => `${what}: ${d.toExponential(2)}`)).toEqual([]);
});
