import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { promptWiseConfig } from '../src/ipgo/config';
import { PARAM_NAMES } from '../src/ipgo/params';
import { IpgoTrainer } from '../src/ipgo/trainer';
import { disposeRun, freshRun } from '../src/ipgo/run-state';
import type { StableDiffusion } from '../src/model/pipeline';
import { ClipTokenizer } from '../src/model/tokenizer/clip-tokenizer';
import { disposeRewardModels, loadRewardModels } from '../src/rewards/registry';
import { fsModelFiles, fsRewardSource } from '../tools/lib/fs-model-files';

/**
 * One IPGO evaluation with gradients on the built-in tiny model set written under `root` (tools/make-tiny-model):
 * K = 2 of `steps` LMS steps (4 unless told) at 64×64, aesthetic + CLIP score, fixed seeds. For comparing backends
 * and weight precisions.
 */
export async function tinyIpgoEvaluation(root: string, sd: StableDiffusion, steps = 4): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  const files = fsModelFiles(path.join(root, 'tiny-sd'));
  const openClipTokenizer = ClipTokenizer.fromFiles(await files.text('tokenizer/vocab.json'), await files.text('tokenizer/merges.txt'), { variant: 'openclip' });
  const rewards = await loadRewardModels(['aesthetic', 'clip'], fsRewardSource(root));
  const cfg = promptWiseConfig(32, { tokens: { numTokens: 4, rank: 6, textDim: 32, bound: 1, rotation: 'intended' }, inferenceSteps: steps, gradLastK: 2, seed: 1 });
  const trainer = new IpgoTrainer({ sd, rewards, openClipTokenizer }, cfg, { scheduler: 'lms', height: 64, width: 64, noiseSeed: 5 }, { aesthetic: 1, clip: 1 });
  const ctx = trainer.prepare('a watercolor fox');
  const run = freshRun(cfg);
  try {
    const r = await trainer.evaluate(run, ctx, true);
    const grads: Record<string, Float32Array> = {};
    for (const n of PARAM_NAMES) grads[n] = Float32Array.from(await r.grads![n].data());
    tf.dispose([r.image, ...Object.values(r.grads!)]);
    return { loss: r.loss, grads };
  } finally {
    disposeRun(run); ctx.dispose(); trainer.dispose(); disposeRewardModels(rewards);
  }
}
