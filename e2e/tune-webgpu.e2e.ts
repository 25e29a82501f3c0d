/**
 * IPGO on WebGPU (SwiftShader) in the built app: one tuning epoch of the built-in tiny model on the WebGPU
 * backend, then the same epoch on WASM: the loss must agree (same noise, same init) — the WGSL kernels,
 * including every gradient kernel the checkpointed backward uses, compute what the WASM kernels compute.
 */
import type { Page } from '@playwright/test';
import { test, expect, waitForBackend } from './fixtures';

async function tuneOneEpoch(page: Page, backend: 'webgpu' | 'wasm'): Promise<{ loss: number; reward: number }> {
  await page.goto(`/?backend=${backend}#/tune`);
  expect(await waitForBackend(page)).toBe(backend);
  for (const [key, value] of [['steps', '2'], ['gradLastK', '1'], ['epochs', '1'], ['width', '32'], ['height', '32'], ['seed', '4']] as const) {
    await page.getByTestId(`setting-${key}`).fill(value);
  }
  await page.getByTestId('weight-aesthetic').fill('1');
  await page.getByTestId('weight-clip').fill('0.5');
  await page.getByTestId('tune-start').click();
  await expect(page.getByTestId('tune-status')).toHaveAttribute('data-status', 'done', { timeout: 600_000 });
  const row = page.getByTestId('epoch-table').locator('tbody tr').first();
  return { loss: Number(await row.getAttribute('data-loss')), reward: Number(await row.getAttribute('data-reward')) };
}

test('one IPGO epoch on WebGPU matches the same epoch on WASM', async ({ page, consoleProblems }) => {
  test.setTimeout(15 * 60_000);
  void consoleProblems;
  await page.goto('/?backend=wasm#/models');
  await waitForBackend(page);
  await page.getByTestId('set-install-tiny').click();
  for (const id of ['tiny-sd', 'tiny-clip', 'tiny-aesthetic']) {
    await expect(page.getByTestId(`model-${id}`)).toHaveAttribute('data-state', 'installed', { timeout: 180_000 });
  }
  const gpu = await tuneOneEpoch(page, 'webgpu');
  await expect(page.getByTestId('img-best')).toHaveAttribute('data-filled', 'true');
  await page.screenshot({ path: 'e2e/artifacts/screenshots/tune-webgpu.png', fullPage: true });
  const cpu = await tuneOneEpoch(page, 'wasm');
  expect(Number.isFinite(gpu.loss)).toBe(true);
  expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
  expect(Math.abs(gpu.reward - cpu.reward)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.reward)));
});
