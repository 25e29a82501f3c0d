/**
 * `npm run smoke:runner-webgpu`: tools/ipgo-run on the built-in tiny model, batch mode, one prompt, 2 epochs, once
 * on Node WebGPU (Dawn over Mesa's lavapipe, tools/with-node-webgpu.sh --lavapipe)
 * and once on wasm, each in its own process as a user runs it; the two final token sets must agree within a
 * relative L2 of 1e-3. Ends with one line `runner webgpu: ok (rel L2 …)` or `runner webgpu: FAILED (…)`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseTokensFile } from '../src/ipgo/tokens-json';
import { BUILTIN_TINY } from './lib/ipgo-models';

const TOLERANCE = 1e-3;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'smoke-runner-webgpu-'));
class SmokeFailure extends Error {}
const fail = (why: string): never => {
  throw new SmokeFailure(why);
};

try {
  fs.writeFileSync(path.join(root, 'prompts.txt'), 'a red fox in the snow\n');
  const config = path.join(root, 'run.json');
  fs.writeFileSync(config, JSON.stringify({
    mode: 'batch', model: BUILTIN_TINY, rewardModels: BUILTIN_TINY, rewards: { aesthetic: 1 }, heldOut: 0, images: false,
    ipgo: { epochs: 2, inferenceSteps: 4, gradLastK: 2, tokens: { numTokens: 2, rank: 4 }, adam: { lr: 0.01 } },
    sampling: { scheduler: 'lms', height: 32, width: 32, noiseSeed: 1 }, prompts: 'prompts.txt', outDir: 'out',
  }));
  const run = (backend: string, launcher: string[]) => {
    const out = path.join(root, backend);
    const started = performance.now();
    // One wasm thread: this compares backends, and threads only slow a model this small (tools/lib/tf-node.test.ts covers them).
    const env = { ...process.env, IPGO_WASM_THREADS: process.env.IPGO_WASM_THREADS ?? '1' };
    const r = spawnSync(launcher[0]!, [...launcher.slice(1), 'tsx', 'tools/ipgo-run.ts', 'run', config, '--backend', backend, '--out', out], { encoding: 'utf8', env });
    const tail = (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    if (r.status !== 0) fail(`${backend} run exited ${r.status}: ${tail}`);
    if (!(r.stderr ?? '').includes(`backend ${backend}`)) fail(`the ${backend} run did not report running on ${backend}`);
    console.log(`${backend}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return parseTokensFile(fs.readFileSync(path.join(out, 'tokens.json'), 'utf8'), { textDim: 32 }).tokens;
  };
  const gpu = run('webgpu', ['tools/with-node-webgpu.sh', '--lavapipe']);
  const cpu = run('wasm', ['npx']);
  let diff = 0, norm = 0;
  for (const side of Object.keys(cpu) as (keyof typeof cpu)[]) {
    cpu[side].forEach((v, i) => { diff += (v - gpu[side][i]!) ** 2; norm += v * v; });
  }
  const rel = Math.sqrt(diff / norm);
  if (!(rel <= TOLERANCE)) fail(`rel L2 ${rel.toExponential(2)} > ${TOLERANCE} between the final tokens`);
  console.log(`runner webgpu: ok (rel L2 ${rel.toExponential(2)})`);
} catch (e) {
  console.log(`runner webgpu: FAILED (${e instanceof SmokeFailure ? e.message : (e as Error).stack})`);
  process.exitCode = 1;
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
