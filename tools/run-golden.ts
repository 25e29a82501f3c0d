/**
 * `npm run test:golden`: runs the golden suites alone (test/golden/*.golden.test.ts, against whatever
 * GOLDEN_DIR / FIXTURES_DIR say), then prints one line
 *   golden: <P> passed, <F> failed, <S> skipped
 * counting golden cases (each suite registers one test per input/output record discovered in the files),
 * and exits non-zero when any case failed or the run itself broke.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface JsonReport {
  testResults: { name: string; assertionResults: { status: string; fullName: string; title: string }[]; message?: string; status: string }[];
}

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'golden-')), 'report.json');
const args = ['vitest', 'run', 'test/golden/', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const run = spawnSync('npx', args, { stdio: 'inherit', env: process.env });

if (!fs.existsSync(out)) {
  console.log('golden: 0 passed, 0 failed, 0 skipped');
  console.error(`vitest produced no report (exit ${run.status}): the golden run broke before any case ran`);
  process.exit(run.status || 1);
}
const report = JSON.parse(fs.readFileSync(out, 'utf8')) as JsonReport;
let passed = 0, failed = 0, skipped = 0;
const brokenFiles: string[] = [];
const skipReasons = new Set<string>();
for (const file of report.testResults) {
  // A suite file that failed to load (syntax error, missing module) counts as a failure with no cases.
  if (file.assertionResults.length === 0 && file.status === 'failed') brokenFiles.push(path.relative(process.cwd(), file.name));
  for (const a of file.assertionResults) {
    if (a.status === 'passed') passed++;
    else if (a.status === 'failed') failed++;
    else {
      skipped++;
      if (a.title.startsWith('skipped: ')) skipReasons.add(a.fullName);
    }
  }
}
for (const r of skipReasons) console.log(`golden suite ${r}`);
for (const f of brokenFiles) console.error(`golden suite failed to load: ${f}`);
console.log(`golden: ${passed} passed, ${failed + brokenFiles.length} failed, ${skipped} skipped`);
process.exit(failed + brokenFiles.length > 0 || (run.status !== 0 && passed + skipped === 0) ? 1 : 0);
