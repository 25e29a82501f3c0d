import { defineConfig } from 'vitest/config';

/** Kernel suites on WebGPU in Node (Dawn + a software Vulkan driver): `npm run test:webgpu`. */
export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.webgpu.test.ts', 'test/**/*.webgpu.test.ts'],
    setupFiles: ['test/setup-webgpu.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
