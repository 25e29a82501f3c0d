/**
 * The memory check before a run, then a GPU device lost in the middle of the run (Diagnostics' fault injection destroys the worker's WebGPU
 * device, as a driver reset would): the run stops with a clear message and its last per-epoch checkpoint, and
 * Resume finishes it on a new device that the worker creates.
 */
import { test, expect, installTinySet, waitForBackend } from './fixtures';

test.use({ allowConsole: [/destroyed|device (was )?lost|GPU device|Device is lost|Instance dropped|mapAsync/i] });

test('the memory check refuses a run over budget; a lost GPU device ends the run with its checkpoint, and Resume completes it', async ({ page, consoleProblems }) => {
  test.setTimeout(15 * 60_000);
  void consoleProblems;
  await installTinySet(page);

  await page.goto('/?backend=webgpu#/tune');
  expect(await waitForBackend(page)).toBe('webgpu');
  for (const [key, value] of [['steps', '2'], ['gradLastK', '1'], ['epochs', '3'], ['width', '32'], ['height', '32'], ['seed', '4']] as const) {
    await page.getByTestId(`setting-${key}`).fill(value);
  }
  await page.getByTestId('weight-aesthetic').fill('1');
  await page.getByTestId('weight-clip').fill('0');

  // the memory check: over a budget too small for the weights, Start refuses with advice; within it, it starts
  const result = page.getByTestId('preflight-result');
  await page.getByTestId('gpu-budget').fill('0.001');
  await page.getByTestId('preflight-run').click();
  await expect(result).toHaveAttribute('data-ok', 'false', { timeout: 180_000 });
  await expect(result).toContainText(/over the 1\.0 MiB budget/);
  await expect(result.locator('li').first()).toBeVisible();
  await page.getByTestId('tune-start').click();
  await expect(page.getByTestId('tune-status')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('error').first()).toContainText(/not started: one update is predicted to need/);
  await page.getByTestId('error').first().getByRole('button', { name: /Dismiss/ }).click();
  await page.getByTestId('gpu-budget').fill('6');
  await page.getByTestId('preflight-run').click();
  await expect(result).toHaveAttribute('data-ok', 'true');
  expect(Number(await result.getAttribute('data-peak'))).toBeGreaterThan(1e6);
  await page.getByTestId('tune-start').click();
  const rows = page.getByTestId('epoch-table').locator('tbody tr');
  await expect(rows).toHaveCount(1, { timeout: 600_000 });

  // the fault, from another view while the run goes on
  await page.getByRole('link', { name: 'Diagnostics' }).click();
  await page.getByText('Fault injection').click();
  await page.getByTestId('fault-lose-device').click();
  await page.getByRole('link', { name: 'Tune' }).click();
  const status = page.getByTestId('tune-status');
  await expect(status).toHaveAttribute('data-status', 'paused', { timeout: 300_000 });
  await expect(status).toContainText('GPU device lost');
  await expect(page.getByTestId('error').first()).toContainText(/GPU device was destroyed.*checkpoint is kept.*Resume/);
  const kept = await rows.count();
  expect(kept).toBeGreaterThanOrEqual(1);
  expect(kept).toBeLessThan(3);

  await page.getByTestId('tune-resume').click();
  await expect(status).toHaveAttribute('data-status', 'done', { timeout: 600_000 });
  await expect(rows).toHaveCount(3);
  for (const row of await rows.all()) expect(Number.isFinite(Number(await row.getAttribute('data-loss')))).toBe(true);
  await page.getByRole('link', { name: 'Diagnostics' }).click();
  await page.getByText(/^Worker log/).click();
  await expect(page.getByTestId('log')).toContainText('WebGPU backend re-created on a new device');
  await page.screenshot({ path: 'e2e/artifacts/screenshots/device-loss.png', fullPage: true });
});
