/**
 * `npm run test:golden`: runs the golden suites alone (test/golden/*.golden.test.ts, against whatever
 * GOLDEN_DIR / FIXTURES_DIR say), then prints one line
 *   golden: <P> passed, <F> failed, <S> skipped
 * counting golden cases (each suite registers one test per input/output record discovered in the files),
 * and exits non-zero when any case failed, anything failed outside a case (a beforeAll/afterAll hook such as a
 * leak check, a suite that did not load, an unhandled error: each printed with its file and message), or vitest
 * itself failed. `npm run test:golden -- test/golden/vae.golden.test.ts` runs only the files named; other
 * arguments (options) go to vitest.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GoldenSummary } from './golden-reporter';

const forwarded = process.argv.slice(2);
const named = forwarded.filter((a) => !a.startsWith('-'));
const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'golden-')), 'summary.json');
const args = ['vitest', 'run', ...(named.length ? [] : ['test/golden/']), '--reporter=default', '--reporter=./tools/golden-reporter.ts', ...forwarded];
const run = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, GOLDEN_SUMMARY: out } });

if (!fs.existsSync(out)) {
  console.log('golden: 0 passed, 0 failed, 0 skipped');
  console.error(`vitest produced no report (exit ${run.status}): the golden run broke before any case ran`);
  process.exit(run.status || 1);
}
const summary = JSON.parse(fs.readFileSync(out, 'utf8')) as GoldenSummary;
let passed = 0, failed = 0, skipped = 0;
const skipReasons = new Set<string>();
for (const c of summary.cases) {
  if (c.state === 'passed') passed++;
  else if (c.state === 'failed') failed++;
  else {
    skipped++;
    if (c.name.startsWith('skipped: ')) skipReasons.add(c.fullName);
  }
}
for (const r of skipReasons) console.log(`golden suite ${r}`);
for (const e of summary.outside) console.error(`golden suite failed outside its cases: ${e.where}: ${e.message}`);
for (const m of summary.unhandled) console.error(`golden run: unhandled error: ${m}`);
const failures = failed + summary.outside.length + summary.unhandled.length;
console.log(`golden: ${passed} passed, ${failures} failed, ${skipped} skipped`);
if (failures === 0 && run.status !== 0) console.error(`vitest exited with ${run.status} (run ${summary.reason}) although every case passed or was skipped`);
process.exit(failures > 0 || run.status !== 0 ? 1 : 0);
