/**
 * The runner's deployment files (deploy/runner) kept consistent with the runner: the Indexed Job's shards, the merge
 * Job's folders and the Dockerfile's entry point; its run config parsed by the runner's own parser.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { parseRunConfig } from '../tools/lib/run-config';

interface Container { args: string[]; env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }
interface Doc { kind: string; spec?: { completionMode?: string; completions?: number; parallelism?: number; template: { spec: { containers: Container[] } } }; data?: Record<string, string> }

const docs = parseAllDocuments(fs.readFileSync('deploy/runner/indexed-job.yaml', 'utf8')).map((d) => d.toJS() as Doc);
const job = docs.find((d) => d.kind === 'Job')!;
const merge = parse(fs.readFileSync('deploy/runner/merge-job.yaml', 'utf8')) as Doc;

describe('deploy/runner', () => {
  it('the Indexed Job runs shard i/N of N on WebGPU, i from the completion index', () => {
    expect(job.spec!.completionMode).toBe('Indexed');
    const n = job.spec!.completions!;
    expect(job.spec!.parallelism).toBe(n);
    const c = job.spec!.template.spec.containers[0]!;
    const index = c.env!.find((e) => e.valueFrom?.fieldRef?.fieldPath === "metadata.annotations['batch.kubernetes.io/job-completion-index']")!;
    expect(c.args.slice(0, 2)).toEqual(['run', '/config/run.json']);
    expect(c.args[c.args.indexOf('--shard') + 1]).toBe(`$(${index.name})/${n}`);
    expect(c.args[c.args.indexOf('--backend') + 1]).toBe('webgpu');
    expect(c.args[c.args.indexOf('--out') + 1]).toBe(`/results/shard-$(${index.name})`);
  });

  it('the merge Job joins exactly the N shard folders', () => {
    const n = job.spec!.completions!;
    const args = merge.spec!.template.spec.containers[0]!.args;
    expect(args.slice(0, 3)).toEqual(['merge', '--out', '/results/merged']);
    expect(args.slice(3)).toEqual(Array.from({ length: n }, (_, i) => `/results/shard-${i}`));
  });

  it('its run config is one the runner accepts', () => {
    const data = docs.find((d) => d.kind === 'ConfigMap')!.data!;
    const cfg = parseRunConfig(JSON.parse(data['run.json']!), '/config', 'run.json');
    expect(cfg.prompts).toBe('/config/prompts.txt');
    expect(data['prompts.txt']!.trim().split('\n').length).toBeGreaterThan(0);
  });

  it('the image runs tools/ipgo-run.ts after npm ci', () => {
    const dockerfile = fs.readFileSync('deploy/runner/Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/ENTRYPOINT \["npx", "tsx", "tools\/ipgo-run.ts"\]/);
    expect(fs.existsSync('tools/ipgo-run.ts')).toBe(true);
  });
});
