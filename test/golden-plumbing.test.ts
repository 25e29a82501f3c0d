import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { casesOf, missingReason, relL2 } from './golden';

describe('golden plumbing', () => {
  it('discovers cases from tensor names in natural order', () => {
    const names = new Map(['case10.out', 'case2.out', 'case2.sample', 'inputs.x', 'case0.out'].map((k) => [k, 0]));
    expect(casesOf(names, /^(case\d+)\./)).toEqual(['case0', 'case2', 'case10']);
  });

  it('explains what is missing', () => {
    expect(missingReason([])).toBeNull();
    expect(missingReason(['/nonexistent/golden/unet.safetensors'])).toMatch(/golden data absent .*GOLDEN_DIR/);
  });

  it('computes the relative L2 error', () => {
    expect(relL2([1, 2, 2], [1, 2, 2])).toBe(0);
    expect(relL2([1, 2, 3], [1, 2, 2])).toBeCloseTo(1 / 3, 12);
    expect(() => relL2([1], [1, 2])).toThrow(/length mismatch/);
  });

  it('npm run test:golden counts cases and skips clearly when the folders are absent', () => {
    const run = spawnSync('npx', ['tsx', 'tools/run-golden.ts'], {
      env: { ...process.env, GOLDEN_DIR: '/nonexistent/golden', FIXTURES_DIR: '/nonexistent/fixtures' },
      encoding: 'utf8',
    });
    const summary = /golden: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(run.stdout);
    expect(summary, run.stdout + run.stderr).not.toBeNull();
    expect(Number(summary![1])).toBe(0);
    expect(Number(summary![2])).toBe(0);
    expect(Number(summary![3])).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/skipped: golden data absent/);
    expect(run.status).toBe(0);
  }, 300_000);
});
