/**
 * Vitest reporter for `npm run test:golden` (tools/run-golden.ts): writes what the run-golden summary needs to
 * the JSON file named by GOLDEN_SUMMARY — every case's state, and every error raised outside a case (a failing
 * beforeAll/afterAll hook such as a tensor-leak check, a suite that failed to load, an unhandled rejection).
 * Vitest's own JSON reporter drops the message of a failing hook inside a describe block, so it cannot be used.
 */
import fs from 'node:fs';
import type { Reporter, TestModule, TestSuite } from 'vitest/node';

export interface GoldenCase { file: string; fullName: string; name: string; state: string }
/** An error raised outside any case: `where` is the file, plus the suite when a describe block's hook threw. */
export interface OutsideError { where: string; message: string }
export interface GoldenSummary { cases: GoldenCase[]; outside: OutsideError[]; unhandled: string[]; reason: string }

type SerializedError = { name?: string; message?: string };
const describeError = (e: SerializedError): string => `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(e)}`;

function outsideErrors(module: TestModule): OutsideError[] {
  const file = module.relativeModuleId;
  const out = module.errors().map((e) => ({ where: file, message: describeError(e) }));
  const suites: TestSuite[] = [...module.children.allSuites()];
  for (const suite of suites) out.push(...suite.errors().map((e) => ({ where: `${file} > ${suite.fullName}`, message: describeError(e) })));
  return out;
}

export default class GoldenReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>, reason: string): void {
    const target = process.env.GOLDEN_SUMMARY;
    if (!target) throw new Error('golden-reporter: set GOLDEN_SUMMARY to the JSON file to write');
    const summary: GoldenSummary = {
      cases: modules.flatMap((m) => [...m.children.allTests()].map((t) => ({ file: m.relativeModuleId, fullName: t.fullName, name: t.name, state: t.result().state }))),
      outside: modules.flatMap(outsideErrors),
      unhandled: unhandled.map(describeError),
      reason,
    };
    fs.writeFileSync(target, JSON.stringify(summary, null, 2));
  }
}
