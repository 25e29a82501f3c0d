import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam } from './adam';
import { decodeCheckpoint, restoreCheckpoint, saveCheckpoint } from './checkpoint';
import { runFromCheckpoint, type RunState } from './run-state';
import { promptWiseConfig } from './config';
import { StepLR } from './lr-schedule';
import { createParams, disposeIpgoParams, initHostParams, PARAM_NAMES, readParams, type ParamName } from './params';
import { Rng } from './rng';
import { applyUpdate } from './update';

const config = promptWiseConfig(16, { tokens: { numTokens: 2, rank: 3, textDim: 16, bound: 1, rotation: 'intended' }, seed: 5 });

function newRun(): RunState {
  const rng = new Rng(config.seed);
  const params = createParams(initHostParams(config.tokens, rng), config.tokens);
  return { config, epoch: 0, params, adam: new Adam<ParamName>(params, config.adam), scheduler: new StepLR(config.adam.lr, config.stepLR), rng, best: null };
}

/** One "epoch" whose gradients come from the run's own RNG (so RNG state matters for exactness). */
async function epoch(run: RunState): Promise<void> {
  const grads = {} as Record<ParamName, tf.Tensor>;
  for (const n of PARAM_NAMES) grads[n] = tf.tensor(Float32Array.from(run.rng.normalArray(run.params[n].size)), run.params[n].shape);
  await applyUpdate(run.params, grads, run.adam, config.maxGradNorm);
  tf.dispose(Object.values(grads));
  run.adam.lr = run.scheduler.step();
  run.epoch += 1;
}

const dispose = (r: RunState): void => {
  r.adam.dispose();
  disposeIpgoParams(r.params);
};

describe('run checkpoint', () => {
  it('resumes bit-exactly through JSON (params, Adam moments and step, scheduler, RNG incl. Box–Muller spare)', async () => {
    const a = newRun();
    for (let i = 0; i < 11; i++) await epoch(a); // crosses a StepLR boundary
    a.rng.normal(); // leave a cached spare in the RNG state
    a.best = { reward: 4.5, epoch: 7, params: await readParams(a.params) };
    const json = JSON.stringify(await saveCheckpoint(a));
    const b = runFromCheckpoint(decodeCheckpoint(json));
    expect(b.epoch).toBe(11);
    expect(b.adam.lr).toBe(a.adam.lr);
    expect(b.best?.params.W_prefix).toEqual(a.best.params.W_prefix);
    for (let i = 0; i < 3; i++) {
      await epoch(a);
      await epoch(b);
    }
    expect(await readParams(b.params)).toEqual(await readParams(a.params));
    expect(await b.adam.getState()).toEqual(await a.adam.getState());
    expect(b.scheduler.getState()).toEqual(a.scheduler.getState());
    expect(b.rng.getState()).toEqual(a.rng.getState());

    // Restoring into an existing run works the same way.
    const c = newRun();
    const restored = restoreCheckpoint(decodeCheckpoint(await saveCheckpoint(a)), c);
    expect(await readParams(restored.params)).toEqual(await readParams(a.params));
    expect(restored.epoch).toBe(14);
    [a, b, c].forEach(dispose);
  });

  it('rejects malformed checkpoints with precise messages and applies nothing', async () => {
    const a = newRun();
    const good = await saveCheckpoint(a);
    const bad = (patch: (o: Record<string, unknown>) => void): unknown => {
      const o = JSON.parse(JSON.stringify(good));
      patch(o);
      return o;
    };
    expect(() => decodeCheckpoint(bad((o) => { o.version = 2; }))).toThrow(/unsupported version 2/);
    expect(() => decodeCheckpoint(bad((o) => { o.format = 'x'; }))).toThrow(/format must be "ipgo-checkpoint"/);
    expect(() => decodeCheckpoint(bad((o) => { (o.params as Record<string, { shape: number[] }>).W_suffix!.shape = [16, 5]; })))
      .toThrow(/checkpoint.params.W_suffix: shape must be \[16,6\], got \[16,5\]/);
    expect(() => decodeCheckpoint(bad((o) => { (o.adam as Record<string, unknown>).step = -1; }))).toThrow(/adam.step/);
    expect(() => decodeCheckpoint(bad((o) => { (o.rng as Record<string, unknown>).s = [0, 0, 0, 0]; }))).toThrow(/rng:.*not all zero/);

    // A checkpoint of another shape is refused by restore before anything is assigned.
    const other = promptWiseConfig(16, { tokens: { numTokens: 1, rank: 3, textDim: 16, bound: 1, rotation: 'off' } });
    const rng = new Rng(1);
    const p2 = createParams(initHostParams(other.tokens, rng), other.tokens);
    const small: RunState = { config: other, epoch: 0, params: p2, adam: new Adam<ParamName>(p2), scheduler: new StepLR(1e-3, other.stepLR), rng, best: null };
    const hostBefore = await readParams(a.params);
    const smallCkpt = decodeCheckpoint(await saveCheckpoint(small));
    expect(() => restoreCheckpoint(smallCkpt, a)).toThrow(/run parameter x_prefix is \[2,8\], checkpoint has \[1,5\]/);
    expect(await readParams(a.params)).toEqual(hostBefore);
    [a, small].forEach(dispose);
  });
});
