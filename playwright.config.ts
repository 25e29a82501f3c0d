import { defineConfig } from '@playwright/test';
import { CHROMIUM_PATH, E2E_BASE_URL, E2E_PORT, NO_WEBGPU_FLAGS, QUIET_NETWORK_FLAGS, WEBGPU_FLAGS } from './e2e/chromium';

export default defineConfig({
  testDir: 'e2e',
  testMatch: /.*\.e2e\.ts/,
  outputDir: 'e2e/artifacts/results',
  timeout: 120_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['html', { outputFolder: 'e2e/artifacts/report', open: 'never' }]],
  use: {
    baseURL: E2E_BASE_URL,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
  webServer: {
    // The built app, as users get it (npm run build runs first in `npm run test:e2e`).
    command: `npx vite preview --host 127.0.0.1 --port ${E2E_PORT} --strictPort`,
    url: E2E_BASE_URL,
    reuseExistingServer: false,
    timeout: 60_000,
  },
  projects: [
    {
      name: 'webgpu',
      use: { browserName: 'chromium', launchOptions: { executablePath: CHROMIUM_PATH, args: [...QUIET_NETWORK_FLAGS, ...WEBGPU_FLAGS] } },
      grepInvert: /@no-webgpu/,
    },
    {
      name: 'no-webgpu',
      use: { browserName: 'chromium', launchOptions: { executablePath: CHROMIUM_PATH, args: [...QUIET_NETWORK_FLAGS, ...NO_WEBGPU_FLAGS] } },
      grep: /@no-webgpu|@any-backend/,
    },
  ],
});
