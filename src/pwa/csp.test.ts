import { describe, expect, it } from 'vitest';
import { CSP_DIRECTIVES, fetchableUrlProblem } from './csp';

describe('connect-src and bundle URLs', () => {
  it('lets fetch reach any https origin while scripts, workers and styles stay same-origin', () => {
    expect(CSP_DIRECTIVES['connect-src']).toContain('https:');
    for (const d of ['script-src', 'worker-src', 'style-src', 'default-src']) {
      expect(CSP_DIRECTIVES[d]!.some((s) => /^https?:|\*/.test(s)), d).toBe(false);
    }
  });

  it('accepts https anywhere and http on this machine; names the fix otherwise', () => {
    expect(fetchableUrlProblem('https://models.example.org/tiny/manifest.json')).toBeNull();
    expect(fetchableUrlProblem(' http://127.0.0.1:8000/b/ ')).toBeNull();
    expect(fetchableUrlProblem('http://localhost:9/x')).toBeNull();
    expect(fetchableUrlProblem('http://models.example.org/b/')).toMatch(/only on this machine.*serve models\.example\.org over https/);
    expect(fetchableUrlProblem('ftp://x/y')).toMatch(/ftp: URLs cannot be fetched/);
    expect(fetchableUrlProblem('models/tiny')).toMatch(/full https:\/\/ URL/);
  });
});
