/**
 * The whole studio journey on the built-in demo set (the app's default), in Debian Chromium: install the set
 * from its URL, tune a prompt for 3 epochs and watch images and curves update, export tokens (valid JSON of our
 * schema), reload, import them, apply them to a new prompt, reject an invalid tokens file without changing
 * anything, go offline and reload (app and installed model still work), and fill the batch evaluation table.
 * Settings are shrunk (32×32, 2 steps, K = 1), and the whole journey runs on the WASM backend (`?backend=wasm`),
 * as SwiftShader's software WebGPU is slow. Its tune-and-export checks run on WebGPU in tune-webgpu.e2e.ts (on the
 * random tiny set: two epochs), which also compares WebGPU's losses, gradient norms and updated tokens with WASM's.
 */
import fs from 'node:fs';
import type { Page } from '@playwright/test';
import { test, expect, waitForBackend } from './fixtures';
import { tokensSchemaViolations } from '../src/ipgo/tokens-json-schema';

const SHOTS = 'e2e/artifacts/screenshots';
const APP = '/?backend=wasm';
/** A caption in the demo set's own words (its scenes: one shape, a colour, a size, a place, a background). */
const PROMPT = 'a small red circle at the top, on a gray background';

async function shrinkSettings(page: Page, epochs: number) {
  for (const [key, value] of [['steps', '2'], ['gradLastK', '1'], ['epochs', String(epochs)], ['width', '32'], ['height', '32']] as const) {
    await page.getByTestId(`setting-${key}`).fill(value);
  }
}

/**
 * Tunes the Tune view's prompt for `epochs` epochs on the backend `app` asks for, checks that images, the rewards
 * curve (point by point, while the run streams) and the epoch table update, exports the tokens and checks the file
 * against the schema. Returns the exported file's path.
 */
async function tuneAndExport(page: Page, app: string, epochs: number, shot: string): Promise<string> {
  await page.goto(`${app}#/tune`);
  await waitForBackend(page);
  await page.getByTestId('prompt').fill(PROMPT);
  await shrinkSettings(page, epochs);
  // Record every value the rewards chart shows while the run streams (proves it updates live, epoch by epoch).
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { chartPoints: string[] }).chartPoints = seen;
    const chart = document.querySelector('[data-testid="chart-rewards"]')!;
    new MutationObserver(() => seen.push(chart.getAttribute('data-points') ?? '')).observe(chart, { attributes: true, attributeFilter: ['data-points'] });
  });
  await page.getByTestId('tune-start').click();
  await expect(page.getByTestId('img-raw')).toHaveAttribute('data-filled', 'true', { timeout: 300_000 });
  await expect(page.getByTestId('tune-status')).toHaveAttribute('data-status', 'done', { timeout: 600_000 });
  const points = Array.from({ length: epochs }, (_, e) => String(e + 1));
  expect(await page.evaluate(() => (window as unknown as { chartPoints: string[] }).chartPoints)).toEqual(points);
  await expect(page.getByTestId('img-current')).toHaveAttribute('data-filled', 'true');
  await expect(page.getByTestId('epoch-table').locator('tbody tr')).toHaveCount(epochs);
  await expect(page.getByTestId('img-best')).toHaveAttribute('data-filled', 'true');
  await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });

  const download = page.waitForEvent('download');
  await page.getByTestId('tokens-export').click();
  const tokensPath = test.info().outputPath('tokens.json');
  await (await download).saveAs(tokensPath);
  const file = JSON.parse(fs.readFileSync(tokensPath, 'utf8')) as { history: unknown[]; prompts: string[] };
  expect(tokensSchemaViolations(file)).toEqual([]);
  expect(file.prompts).toEqual([PROMPT]);
  expect(file.history).toHaveLength(epochs);
  return tokensPath;
}

test('studio journey: install, tune, export, import, apply, offline, batch @journey', async ({ page, context, consoleProblems }) => {
  test.setTimeout(12 * 60_000);
  void consoleProblems;

  await test.step('install the built-in demo set from its URL', async () => {
    await page.goto(`${APP}#/models`);
    expect(await waitForBackend(page)).toBe('wasm');
    await page.getByTestId('set-install-demo').click();
    for (const id of ['demo-sd', 'demo-clip', 'demo-aesthetic', 'demo-hps']) {
      await expect(page.getByTestId(`model-${id}`)).toHaveAttribute('data-state', 'installed', { timeout: 180_000 });
    }
    await page.screenshot({ path: `${SHOTS}/journey-models.png`, fullPage: true });
  });

  let tokensPath = '';
  await test.step('tune a prompt for 3 epochs; images and curves update live', async () => {
    tokensPath = await tuneAndExport(page, APP, 3, 'journey-tune');
  });

  await test.step('the run is in the history', async () => {
    await page.goto(`${APP}#/runs`);
    await expect(page.getByTestId('run-row').first()).toHaveAttribute('data-status', 'done');
    await page.getByTestId('run-row').first().locator('summary').click();
    await page.screenshot({ path: `${SHOTS}/journey-runs.png`, fullPage: true });
  });

  await test.step('reload, import the exported tokens, apply them to a new prompt', async () => {
    await page.goto(`${APP}#/tokens`);
    await page.reload();
    await waitForBackend(page);
    await page.getByTestId('tokens-import').setInputFiles(tokensPath);
    await expect(page.getByTestId('tokens-row')).toHaveCount(1);
    await expect(page.getByTestId('tokens-import-error')).toHaveCount(0);
    await page.getByTestId('tokens-row').first().getByRole('radio').check();
    await page.getByTestId('apply-prompt').fill('a lighthouse on a cliff at dusk');
    await page.getByTestId('apply-run').click();
    await expect(page.getByTestId('apply-tuned')).toHaveAttribute('data-filled', 'true', { timeout: 300_000 });
    await expect(page.getByTestId('apply-run')).toBeEnabled({ timeout: 300_000 });
    await expect(page.getByTestId('apply-raw')).toHaveAttribute('data-filled', 'true');
    await page.screenshot({ path: `${SHOTS}/journey-tokens.png`, fullPage: true });
  });

  await test.step('an invalid tokens file shows an error and changes nothing', async () => {
    const good = JSON.parse(fs.readFileSync(tokensPath, 'utf8')) as { numTokens: number };
    const badPath = test.info().outputPath('bad.json');
    fs.writeFileSync(badPath, JSON.stringify({ ...good, numTokens: good.numTokens + 1 }));
    await page.getByTestId('tokens-import').setInputFiles(badPath);
    await expect(page.getByTestId('tokens-import-error')).toContainText('bad.json');
    await expect(page.getByTestId('tokens-row')).toHaveCount(1);
    const notJson = test.info().outputPath('garbage.json');
    fs.writeFileSync(notJson, '{"format": "ipgo-tokens", ');
    await page.getByTestId('tokens-import').setInputFiles(notJson);
    await expect(page.getByTestId('tokens-import-error')).toContainText('not a JSON file');
    await expect(page.getByTestId('tokens-row')).toHaveCount(1);
  });

  await test.step('offline: the app and the installed model still work', async () => {
    await context.setOffline(true);
    await page.reload();
    expect(await waitForBackend(page)).toBe('wasm');
    await page.getByTestId('tokens-row').first().getByRole('radio').check();
    await page.getByTestId('apply-prompt').fill('a small boat on a calm lake');
    await page.getByTestId('apply-run').click();
    await expect(page.getByTestId('apply-run')).toBeDisabled();
    await expect(page.getByTestId('apply-run')).toBeEnabled({ timeout: 300_000 });
    await expect(page.getByTestId('apply-tuned')).toHaveAttribute('data-filled', 'true');
    await expect(page.getByTestId('error')).toHaveCount(0);
    await page.screenshot({ path: `${SHOTS}/journey-offline.png`, fullPage: true });
    await context.setOffline(false);
  });

  await test.step('a batch run over 4 prompts fills the evaluation table', async () => {
    await page.goto(`${APP}#/tune`);
    await shrinkSettings(page, 1);
    await page.goto(`${APP}#/batch`);
    await page.getByTestId('batch-prompts').fill('a cat on a windowsill\na bowl of ramen\na lighthouse at dusk\na red bicycle in the rain');
    await page.getByTestId('batch-epochs').fill('1');
    await page.getByTestId('batch-start').click();
    await expect(page.getByTestId('batch-status')).toHaveAttribute('data-status', 'done', { timeout: 600_000 });
    await expect(page.getByTestId('batch-table').locator('tbody tr')).toHaveCount(1);
    await expect(page.getByTestId('batch-winrate')).toContainText('%');
    await expect(page.getByTestId('batch-gallery').locator('canvas')).toHaveCount(8);
    await page.screenshot({ path: `${SHOTS}/journey-batch.png`, fullPage: true });
  });
});
