import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeWasmThreads } from './tf-node';

describe('nodeWasmThreads', () => {
  it('takes IPGO_WASM_THREADS, else the caller default; "all" is every core; 1…8', () => {
    expect(nodeWasmThreads(1, undefined)).toBe(1);
    expect(nodeWasmThreads(1, '')).toBe(1);
    expect(nodeWasmThreads(1, '2')).toBe(2);
    expect(nodeWasmThreads(1, '64')).toBe(8);
    expect(nodeWasmThreads('all', undefined)).toBeGreaterThanOrEqual(1);
    expect(() => nodeWasmThreads(1, 'two')).toThrow(/IPGO_WASM_THREADS/);
    expect(() => nodeWasmThreads(1, '0')).toThrow(/IPGO_WASM_THREADS/);
  });
});

describe('threaded tfjs-wasm in Node', () => {
  it('runs a conv and a matmul on 2 threads, matches 1 thread, frees its tensors and lets the process exit', () => {
    const run = (threads: number) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('test/wasm-threads-probe.ts')], {
        env: { ...process.env, IPGO_WASM_THREADS: String(threads) }, encoding: 'utf8', timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0); // a pool thread keeping the process alive would end in the timeout
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { threads: number; values: number[]; leaked: number };
    };
    const one = run(1), two = run(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.leaked).toBe(0);
    const scale = Math.max(...one.values.map(Math.abs));
    two.values.forEach((v, i) => expect(Math.abs(v - one.values[i]!)).toBeLessThan(1e-5 * scale));
  });
});
