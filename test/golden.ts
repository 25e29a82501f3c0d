/**
 * Golden-data plumbing. Locates the reference folders (GOLDEN_DIR / FIXTURES_DIR, default ../shared/golden and
 * ../shared/fixtures), reads safetensors / JSON / JSONL cases by discovering what the files hold, and makes golden
 * suites skip with a clear message when the data is absent (a user's fresh clone).
 *
 * Convention: every test inside a `describeGolden` block is ONE golden case (one input/output record), so
 * `npm run test:golden` can count passed / failed / skipped cases from the test results.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';
import { parseSafetensors, type HostTensor } from '../src/weights/formats/safetensors';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export const GOLDEN_DIR = path.resolve(repoRoot, process.env.GOLDEN_DIR ?? '../shared/golden');
export const FIXTURES_DIR = path.resolve(repoRoot, process.env.FIXTURES_DIR ?? '../shared/fixtures');

export const goldenPath = (...p: string[]): string => path.join(GOLDEN_DIR, ...p);
export const fixturePath = (...p: string[]): string => path.join(FIXTURES_DIR, ...p);

/** Why a golden suite cannot run (missing files), or null when everything it needs is present. */
export function missingReason(files: string[]): string | null {
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length === 0) return null;
  return `golden data absent (${missing.join(', ')}): ` +
    'set GOLDEN_DIR / FIXTURES_DIR to the reference folders to run this suite';
}

/**
 * A golden suite: `needs` are the files it reads; `body` discovers the cases and registers one `it` per case.
 * When a file is missing, the suite registers a single skipped test whose name says why.
 */
export function describeGolden(name: string, needs: string[], body: () => void): void {
  const reason = missingReason(needs);
  describe(`[golden] ${name}`, () => {
    if (reason) it.skip(`skipped: ${reason}`, () => {});
    else body();
  });
}

const cache = new Map<string, Map<string, HostTensor>>();
export function readSafetensors(file: string): Map<string, HostTensor> {
  let m = cache.get(file);
  if (!m) {
    m = parseSafetensors(new Uint8Array(fs.readFileSync(file)));
    cache.set(file, m);
  }
  return m;
}

export const readJson = <T = unknown>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

export function readJsonl<T = unknown>(file: string): T[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

/**
 * Distinct values of the first capture group of `pattern` over the tensor names, in natural order.
 * e.g. casesOf(unet, /^(case\d+)\./) → ['case0', 'case1', …] — cases come from the file, never from a list here.
 */
export function casesOf(tensors: Map<string, unknown>, pattern: RegExp): string[] {
  const found = new Set<string>();
  for (const k of tensors.keys()) {
    const m = pattern.exec(k);
    if (m?.[1] !== undefined) found.add(m[1]);
  }
  return [...found].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export function tensorOf(tensors: Map<string, HostTensor>, key: string): HostTensor {
  const t = tensors.get(key);
  if (!t) throw new Error(`golden tensor "${key}" not found`);
  return t;
}

/** ‖got − ref‖₂ / ‖ref‖₂ (with ‖ref‖ floored at 1e-30 so an all-zero reference still compares). */
export function relL2(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) throw new Error(`length mismatch: got ${got.length}, ref ${ref.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = got[i]! - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

export function maxAbsDiff(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i]! - ref[i]!));
  return m;
}
