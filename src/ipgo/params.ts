/**
 * The named IPGO parameter set: x, W, b for the prefix and the suffix, as tf.Variables (the optimizer updates them
 * in place; checkpoints and token files read and write them by name).
 */
import * as tf from '@tensorflow/tfjs';
import { sideShapes, type BoundaryShape } from './config';
import { initSideHost, type SideHost, type SideParams } from './boundary-tokens';
import type { Rng } from './rng';

export const PARAM_NAMES = ['x_prefix', 'W_prefix', 'b_prefix', 'x_suffix', 'W_suffix', 'b_suffix'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];
export type Side = 'prefix' | 'suffix';

export type IpgoParams = Record<ParamName, tf.Variable>;
/** Host copies by name (row-major float32). */
export type HostParams = Record<ParamName, Float32Array>;

/** Names of the W matrices, which live on the Stiefel manifold (retracted after each step). */
export const STIEFEL_PARAMS: readonly ParamName[] = ['W_prefix', 'W_suffix'];

export function paramShape(name: ParamName, shape: BoundaryShape): number[] {
  const s = sideShapes(shape);
  return name.startsWith('x_') ? s.x : name.startsWith('W_') ? s.W : s.b;
}

export function hostFromSides(prefix: SideHost, suffix: SideHost): HostParams {
  return { x_prefix: prefix.x, W_prefix: prefix.W, b_prefix: prefix.b, x_suffix: suffix.x, W_suffix: suffix.W, b_suffix: suffix.b };
}

/** Seeded initialisation of both sides (prefix drawn first, then suffix, from the same stream). */
export function initHostParams(shape: BoundaryShape, rng: Rng): HostParams {
  const prefix = initSideHost(shape, rng);
  const suffix = initSideHost(shape, rng);
  return hostFromSides(prefix, suffix);
}

/** Checks every array's length against the shape (all names first, so nothing is created on error). */
export function checkHostParams(host: HostParams, shape: BoundaryShape): void {
  for (const name of PARAM_NAMES) {
    const want = paramShape(name, shape).reduce((a, b) => a * b, 1);
    const got = host[name]?.length;
    if (got !== want) throw new Error(`parameter ${name}: expected ${want} values [${paramShape(name, shape)}], got ${got}`);
  }
}

let variableCounter = 0;

export function createParams(host: HostParams, shape: BoundaryShape): IpgoParams {
  checkHostParams(host, shape);
  const out = {} as IpgoParams;
  for (const name of PARAM_NAMES) {
    // Unique names: several runs (or tests) may coexist; tidy frees the initial tensor, the variable keeps the data.
    out[name] = tf.tidy(() => tf.variable(tf.tensor(host[name], paramShape(name, shape), 'float32'), true, `ipgo/${name}/${variableCounter++}`));
  }
  return out;
}

/** Overwrites every variable with host values; validates all of them before assigning any. */
export function assignParams(params: IpgoParams, host: HostParams, shape: BoundaryShape): void {
  checkHostParams(host, shape);
  for (const name of PARAM_NAMES) {
    const want = paramShape(name, shape);
    if (params[name].shape.join() !== want.join()) {
      throw new Error(`parameter ${name}: variable is [${params[name].shape}], the shape needs [${want}]`);
    }
  }
  for (const name of PARAM_NAMES) {
    tf.tidy(() => params[name].assign(tf.tensor(host[name], params[name].shape, 'float32')));
  }
}

export async function readParams(params: IpgoParams): Promise<HostParams> {
  const out = {} as HostParams;
  for (const name of PARAM_NAMES) out[name] = (await params[name].data()) as Float32Array;
  return out;
}

export function sideParams(params: Record<ParamName, tf.Tensor>, side: Side): SideParams {
  return {
    x: params[`x_${side}`] as tf.Tensor2D,
    W: params[`W_${side}`] as tf.Tensor2D,
    b: params[`b_${side}`] as tf.Tensor1D,
  };
}

export function sideHost(host: HostParams, side: Side): SideHost {
  return { x: host[`x_${side}`], W: host[`W_${side}`], b: host[`b_${side}`] };
}

export function disposeIpgoParams(params: IpgoParams): void {
  for (const name of PARAM_NAMES) params[name].dispose();
}
