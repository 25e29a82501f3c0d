/**
 * IPGO on WebGPU (SwiftShader) in the built app: one tuning epoch of the built-in tiny model on the WebGPU
 * backend, then the same epoch on WASM: the loss must agree (same noise, same init) — the WGSL kernels,
 * including every gradient kernel the checkpointed backward uses and the packed int8 / fp16 weight kernels of the
 * default precision policy, compute what the WASM kernels compute.
 */
import type { Page } from '@playwright/test';
import { test, expect, installTinySet, waitForBackend } from './fixtures';

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
  await installTinySet(page);
  // the GPU bytes each precision would take, shown per model; a change is kept and reported in bytes
  const deviceBytes = async () => Number(await page.getByTestId('device-tiny-sd').getAttribute('data-bytes'));
  await expect(page.getByTestId('precision-panel')).toBeVisible();
  await expect(page.getByTestId('precision-unet')).toHaveValue('int8');
  const atDefault = await deviceBytes();
  await page.getByTestId('precision-unet').selectOption('fp32');
  await expect.poll(deviceBytes).toBeGreaterThan(atDefault);
  await page.getByTestId('precision-unet').selectOption('int8');
  await expect.poll(deviceBytes).toBe(atDefault);

  const gpu = await tuneOneEpoch(page, 'webgpu');
  await expect(page.getByTestId('img-best')).toHaveAttribute('data-filled', 'true');
  // the worker logged what the load put on the GPU, at the default precision (packed int8 UNet)
  await page.goto('/?backend=webgpu#/diagnostics');
  await expect(page.getByTestId('log')).toContainText(/loaded \(UNet int8, VAE decoder fp16, text encoder fp16\): .* on the device/);
  await page.screenshot({ path: 'e2e/artifacts/screenshots/tune-webgpu.png', fullPage: true });
  const cpu = await tuneOneEpoch(page, 'wasm');
  expect(Number.isFinite(gpu.loss)).toBe(true);
  expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
  expect(Math.abs(gpu.reward - cpu.reward)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.reward)));
});
