/**
 * The IPGO objective and its gradient, with memory that does not grow with K.
 *
 * Forward: tokens → C = [prefix, H, suffix] → N guided sampler steps → z_N → image → rewards;
 * loss = −Σ_k w_k·reward_k + λ·penalty(C, H).
 *
 * Backward (what `.detach()` on the first N − K noise predictions means): the exact gradient of the loss with
 * the early noise predictions frozen. Instead of one autodiff graph over K UNet calls, we run the adjoint by
 * hand from the end, with recomputation (checkpointing):
 *   λ_N = ∂loss/∂z_N                   (rewards on one tape, then the VAE decoder's vjp one stage at a time)
 *   for i = N−1 … N−K:
 *     step vjp:  z_{i+1}, item_i = step_i(z_i, ε_i, items<i)   →  λ_{z_i}, λ_{ε_i}, λ_{item_j} (j ≥ N−K)
 *     UNet vjp:  ε_i = guided UNet(scale(z_i), t_i, C)      →  λ_{z_i} += …, λ_C += …   (recomputed, one tape per
 *                guidance branch; at i = N−K only λ_C, through the conditional branch)
 *   tokens:    ∂/∂params of Σ ⟨tokens, λ_C⟩ + λ·penalty   (one small tape)
 * Only the K input latents, their noise predictions and the scheduler history are stored between steps, so the
 * peak is one batch-1 UNet forward+backward, or one decoder stage's plus the rewards', whichever is larger.
 * With `memory` (the memory plan on WebGPU) the GPU's buffer pool is returned between phases and units.
 */
import * as tf from '@tensorflow/tfjs';
import type { PhaseMemory } from '../model/gpu-memory';
import { denoise, guidedNoise, decodeLatents, SamplingCancelled, type StableDiffusion } from '../model/pipeline';
import { leanGrads } from '../model/lean-grad';
import { stagedValueAndGrad } from '../model/staged-vjp';
import type { BoundaryShape } from './config';
import { boundaryTokens } from './boundary-tokens';
import { buildConditioning, conformityPenalty } from './conformity';
import { PARAM_NAMES, sideParams, type ParamName } from './params';
import type { SamplerSteps } from '../model/schedulers';

/**
 * Raw reward values [1] by id, differentiable in the image. `cache` memoises image features shared by several
 * rewards (kept tensors); the objective frees it only after the backward pass, which still reads them.
 */
export type RewardTerms = (image01: tf.Tensor4D, cache: Map<string, tf.Tensor>) => Record<string, tf.Tensor>;

export interface ObjectiveSetup {
  sd: StableDiffusion;
  /** H: the prompt's encoder states [1, L, D] (unpadded). */
  promptStates: tf.Tensor3D;
  /** text_encoder("" padded to L + 2n): [1, L + 2n, D]. */
  uncond: tf.Tensor3D;
  /** Unit-normal initial noise [1, h, w, C], the same every epoch. */
  initNoise: tf.Tensor4D;
  steps: SamplerSteps;
  guidance: number;
  /** K: UNet calls that carry gradient (1 ≤ K ≤ N). */
  gradLastK: number;
  penaltyWeight: number;
  shape: BoundaryShape;
  rewards: RewardTerms;
  /** Weight of each reward id in the loss (the paper: one-hot). */
  weights: Record<string, number>;
}

export interface ObjectiveHooks {
  /** After each sampling step, with the new latents (valid during the call only). */
  onStep?: (step: number, total: number, latents: tf.Tensor4D) => void | Promise<void>;
  isCancelled?: () => boolean;
  /**
   * Wall time of each phase, for benchmarks: 'sampling' (the N guided steps), 'reward' (VAE decode + rewards,
   * with their vjp ∂loss/∂z_N when training), 'backward' (the K replayed steps + the token map's vjp). Exact on
   * synchronous backends (wasm, cpu); on WebGPU it measures dispatch, not completion.
   */
  onPhase?: (phase: 'sampling' | 'reward' | 'backward', ms: number) => void;
  /** The memory plan: records each phase's peak and returns the GPU's buffer pool at each phase boundary. */
  memory?: PhaseMemory;
}

export interface ObjectiveResult {
  loss: number;
  /** Σ_k w_k·reward_k. */
  weightedReward: number;
  rewards: Record<string, number>;
  penalty: number;
  /** The generated image [1, H, W, 3] in [0, 1]; the caller disposes it. */
  image: tf.Tensor4D;
  /** d loss / d parameter (caller disposes), present when asked for. */
  grads?: Record<ParamName, tf.Tensor>;
}

type Params = Record<ParamName, tf.Tensor>;

/** Tokens of both sides and the conditioning C (differentiable in the parameters). */
export function conditioningOf(params: Params, promptStates: tf.Tensor3D, shape: BoundaryShape): tf.Tensor3D {
  return tf.tidy(() => buildConditioning(
    boundaryTokens(sideParams(params, 'prefix'), shape), promptStates, boundaryTokens(sideParams(params, 'suffix'), shape)));
}

const dot = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(a, b));

export async function evaluateObjective(setup: ObjectiveSetup, params: Params, opts: { withGradient: boolean } & ObjectiveHooks): Promise<ObjectiveResult> {
  const { sd, steps, shape } = setup;
  const n = steps.timesteps.length;
  const k = Math.min(Math.max(1, Math.floor(setup.gradLastK)), n);
  const first = n - k; // first step whose UNet call carries gradient
  const cond = tf.keep(conditioningOf(params, setup.promptStates, shape));
  const kept: tf.Tensor[] = [cond];
  try {
    // ---- forward: the sampler, storing only what the backward pass replays.
    opts.memory?.begin();
    let phaseStart = performance.now();
    const phaseDone = (phase: 'sampling' | 'reward' | 'backward') => {
      opts.memory?.end(phase);
      const now = performance.now();
      opts.onPhase?.(phase, now - phaseStart);
      phaseStart = now;
    };
    const forward = await denoise({
      steps, initNoise: setup.initNoise,
      predictNoise: (scaled, t) => guidedNoise(sd.unet, scaled, t, setup.uncond, cond, setup.guidance),
      keepInputs: (i) => i >= first,
      isCancelled: opts.isCancelled,
      onStep: (i, total, _t, latents) => opts.onStep?.(i, total, latents),
    });
    const { inputs: zIn, noises: epsIn, items, latents: z } = forward;
    kept.push(z, ...zIn.filter(Boolean), ...epsIn.filter(Boolean), ...items.filter((x): x is tf.Tensor => x !== null));
    phaseDone('sampling');

    // ---- the tail: decode + rewards, with ∂loss/∂z_N when training.
    const captured: Record<string, tf.Tensor> = {};
    const featureCache = new Map<string, tf.Tensor>();
    // the rewards of the decoded image; the decoder's vjp runs stage by stage (stagedValueAndGrad)
    const head = ([image]: tf.Tensor[]): tf.Scalar => {
      captured.image = tf.keep(image!.clone());
      const terms = setup.rewards(image as tf.Tensor4D, featureCache);
      let total: tf.Tensor = tf.scalar(0);
      for (const [id, r] of Object.entries(terms)) {
        captured[`reward.${id}`] = tf.keep(r.clone());
        total = tf.add(total, tf.mul(tf.sum(r), setup.weights[id] ?? 0));
      }
      return tf.neg(total) as tf.Scalar;
    };
    let lambdaZ: tf.Tensor | null = null;
    try {
      if (opts.withGradient) {
        const { value, grads } = stagedValueAndGrad(sd.vae.imageStages(), [z], head, () => opts.memory?.release());
        value.dispose();
        lambdaZ = grads[0]!;
      } else {
        tf.tidy(() => head([decodeLatents(sd, z)])).dispose();
      }
    } finally {
      for (const t of featureCache.values()) t.dispose();
    }
    phaseDone('reward');
    const image = captured.image as tf.Tensor4D;
    const rewardIds = Object.keys(captured).filter((key) => key.startsWith('reward.'));
    const rewards: Record<string, number> = {};
    for (const key of rewardIds) {
      rewards[key.slice(7)] = (await captured[key]!.data())[0]!;
      captured[key]!.dispose();
    }
    const weightedReward = Object.entries(rewards).reduce((s, [id, r]) => s + (setup.weights[id] ?? 0) * r, 0);
    const penaltyT = conformityPenalty(cond, setup.promptStates);
    const penalty = (await penaltyT.data())[0]!;
    penaltyT.dispose();
    const result: ObjectiveResult = { loss: -weightedReward + setup.penaltyWeight * penalty, weightedReward, rewards, penalty, image };
    if (!lambdaZ) return result;

    // ---- backward through the last K steps, one replayed step at a time.
    let lambdaC: tf.Tensor = tf.zerosLike(cond);
    const lambdaItem = new Map<number, tf.Tensor>();
    try {
      for (let i = n - 1; i >= first; i--) {
        if (opts.isCancelled?.()) throw new SamplingCancelled();
        const history = items.slice(0, i).filter((x): x is tf.Tensor => x !== null);
        const histIndex = items.slice(0, i).map((x, j) => (x ? j : -1)).filter((j) => j >= 0);
        const used = histIndex.slice(histIndex.length - steps.historyUsed(i)).filter((j) => j >= first);
        const lz: tf.Tensor = lambdaZ!;
        const li = lambdaItem.get(i);
        // Step vjp: inputs z_i, ε_i and the window's history items it reads.
        const stepGrads = tf.grads((zi: tf.Tensor, ei: tf.Tensor, ...hw: tf.Tensor[]) => {
          const hist = history.map((h, idx) => {
            const w = used.indexOf(histIndex[idx]!);
            return w >= 0 ? hw[w]! : h;
          });
          const { next, item } = steps.step(i, zi, ei, hist);
          let s = dot(next, lz);
          if (item && li) s = tf.add(s, dot(item, li));
          return s;
        })([zIn[i]!, epsIn[i]!, ...used.map((j) => items[j]!)]);
        const [gz, geps, ...gh] = stepGrads;
        used.forEach((j, w) => {
          const prev = lambdaItem.get(j);
          lambdaItem.set(j, prev ? tf.add(prev, gh[w]!) : gh[w]!);
          if (prev) {
            prev.dispose();
            gh[w]!.dispose();
          }
        });
        // UNet vjp (recomputed), one branch of the guided call at a time (ε = ε_u + g·(ε_c − ε_u) is linear in the
        // two, so each batch-1 vjp holds half the activations of the batched call): ε_i depends on z_i (through the
        // scaled input) and on C. The window's first latent does not depend on the tokens (the earlier noise
        // predictions are detached), so there only C carries a gradient, through the conditional branch alone.
        const t = steps.timesteps[i]!;
        const branch = (zi: tf.Tensor, states: tf.Tensor, weight: number) =>
          dot(tf.mul(sd.unet.forward(steps.scale(i, zi) as tf.Tensor4D, t, states as tf.Tensor3D), weight), geps!);
        const [gzC, gC] = i === first
          ? [null, leanGrads((c) => branch(zIn[i]!, c!, setup.guidance), [cond])[0]]
          : leanGrads((zi, c) => branch(zi!, c!, setup.guidance), [zIn[i]!, cond]);
        opts.memory?.release();
        const gzU = i === first ? null : leanGrads((zi) => branch(zi!, setup.uncond, 1 - setup.guidance), [zIn[i]!])[0]!;
        const nextLambdaZ = gzU ? tf.addN([gz!, gzC!, gzU]) : gz!;
        const nextLambdaC = tf.add(lambdaC, gC!);
        tf.dispose([geps!, gC!, lambdaC, lz, ...(gzU ? [gz!, gzC!, gzU] : [])]);
        opts.memory?.release();
        li?.dispose();
        lambdaItem.delete(i);
        lambdaZ = nextLambdaZ;
        lambdaC = nextLambdaC;
      }
      result.grads = parameterGrads(params, setup, lambdaC);
      phaseDone('backward');
    } finally {
      lambdaZ?.dispose();
      lambdaC.dispose();
      for (const t of lambdaItem.values()) t.dispose();
    }
    return result;
  } finally {
    for (const t of kept) t.dispose();
    opts.memory?.finish();
  }
}

/** d loss/d params = vjp of the token map with λ_C, plus the penalty's own gradient. */
function parameterGrads(params: Params, setup: ObjectiveSetup, lambdaC: tf.Tensor): Record<ParamName, tf.Tensor> {
  const names = [...PARAM_NAMES];
  const grads = tf.grads((...xs: tf.Tensor[]) => {
    const p = Object.fromEntries(names.map((name, i) => [name, xs[i]!])) as Params;
    const c = conditioningOf(p, setup.promptStates, setup.shape);
    return tf.add(dot(c, lambdaC), tf.mul(conformityPenalty(c, setup.promptStates), setup.penaltyWeight)) as tf.Scalar;
  })(names.map((name) => params[name]));
  return Object.fromEntries(names.map((name, i) => [name, grads[i]!])) as Record<ParamName, tf.Tensor>;
}
