import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'tools/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/*.webgpu.test.ts'],
    setupFiles: ['test/setup-node.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The model suites are CPU-bound; two workers match the CI machines' two cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
