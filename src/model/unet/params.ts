import type * as tf from '@tensorflow/tfjs';
import { loadConv, loadLinear, loadNorm, type ConvParams, type LinearParams, type NormParams } from '../nn';
import type { WeightScope, WeightStore } from '../weights';

/**
 * Where UNet modules get their parameters. Modules declare each parameter with its torch key and shape, so the
 * same constructors serve three purposes:
 * - `StoreParams`: load from a checkpoint (WeightStore), checking every shape;
 * - `DryParams`: list the keys and shapes a config needs, allocating nothing (a dry bind of a real-size model);
 * - any other source, e.g. the benchmark's shared random weights.
 */
export interface ParamSource {
  /** torch nn.Linear(inF, outF): `key.weight` [outF, inF] (+ `key.bias` [outF]). */
  linear(key: string, inF: number, outF: number, bias: boolean): LinearParams;
  /** torch nn.Conv2d(inC, outC, k, stride, pad) with bias: `key.weight` [outC, inC, k, k], `key.bias` [outC]. */
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number): ConvParams;
  /** torch LayerNorm / GroupNorm affine parameters: `key.weight`, `key.bias` [channels]. */
  norm(key: string, channels: number, eps: number): NormParams;
  sub(prefix: string): ParamSource;
}

export interface ParamSpec { key: string; shape: number[] }

/** The torch keys and shapes a module declaration implies (shared by every ParamSource). */
export const paramSpecs = {
  linear: (key: string, inF: number, outF: number, bias: boolean): ParamSpec[] => [
    { key: `${key}.weight`, shape: [outF, inF] },
    ...(bias ? [{ key: `${key}.bias`, shape: [outF] }] : []),
  ],
  conv: (key: string, inC: number, outC: number, k: number): ParamSpec[] => [
    { key: `${key}.weight`, shape: [outC, inC, k, k] },
    { key: `${key}.bias`, shape: [outC] },
  ],
  norm: (key: string, channels: number): ParamSpec[] => [
    { key: `${key}.weight`, shape: [channels] },
    { key: `${key}.bias`, shape: [channels] },
  ],
};

/** Loads from a WeightStore; every declared key must exist with exactly the declared shape. */
export class StoreParams implements ParamSource {
  private readonly ws: WeightScope;
  constructor(store: WeightStore | WeightScope) {
    this.ws = 'prefix' in store ? store : store.sub('');
  }
  private check(specs: ParamSpec[]): void {
    for (const s of specs) this.ws.take(s.key, s.shape);
  }
  linear(key: string, inF: number, outF: number, bias: boolean): LinearParams {
    this.check(paramSpecs.linear(key, inF, outF, bias));
    return loadLinear(this.ws, key, { bias });
  }
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number): ConvParams {
    this.check(paramSpecs.conv(key, inC, outC, k));
    return loadConv(this.ws, key, stride, pad);
  }
  norm(key: string, channels: number, eps: number): NormParams {
    this.check(paramSpecs.norm(key, channels));
    return loadNorm(this.ws, key, eps);
  }
  sub(prefix: string): ParamSource {
    return new StoreParams(this.ws.sub(prefix));
  }
}

/**
 * Records keys and shapes without allocating any tensor. The module objects built from it hold shape-only
 * placeholders and must never run: they exist only so the real constructors enumerate their parameters.
 */
export class DryParams implements ParamSource {
  constructor(readonly specs: ParamSpec[] = [], private readonly prefix = '') {}
  private record(specs: ParamSpec[]): void {
    for (const s of specs) this.specs.push({ key: this.prefix + s.key, shape: s.shape });
  }
  linear(key: string, inF: number, outF: number, bias: boolean): LinearParams {
    this.record(paramSpecs.linear(key, inF, outF, bias));
    return { w: placeholder([inF, outF]) as tf.Tensor2D, b: bias ? (placeholder([outF]) as tf.Tensor1D) : undefined };
  }
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number): ConvParams {
    this.record(paramSpecs.conv(key, inC, outC, k));
    return { w: placeholder([k, k, inC, outC]) as tf.Tensor4D, b: placeholder([outC]) as tf.Tensor1D, stride, pad };
  }
  norm(key: string, channels: number, eps: number): NormParams {
    this.record(paramSpecs.norm(key, channels));
    return { gamma: placeholder([channels]) as tf.Tensor1D, beta: placeholder([channels]) as tf.Tensor1D, eps };
  }
  sub(prefix: string): ParamSource {
    return new DryParams(this.specs, this.prefix + prefix);
  }
}

/** A shape-only stand-in for a tensor (not a tf.Tensor, so paramsOf/disposeParams skip it). */
function placeholder(shape: number[]): tf.Tensor {
  return { shape, dryBind: true } as unknown as tf.Tensor;
}
