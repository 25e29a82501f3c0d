import * as tf from '@tensorflow/tfjs';
import type { ConvParams, LinearParams, NormParams } from './nn';
import type { PackedMatrix } from './kernels/packed-weight';
import { type WeightPrecision, hostValues, packFloatWeight } from './precision';
import { WeightStore, type WeightScope } from './weights';

/**
 * Where every model (CLIP text, UNet, VAE, CLIP / open_clip vision, reward heads) gets its parameters. A module's
 * constructor declares each parameter with its checkpoint key and torch shape, so the same builder serves:
 * - `StoreParams`: bind a checkpoint (WeightStore), every shape checked;
 * - `DryParams`: list the keys and shapes a config implies, allocating nothing (a dry bind of a real-size model);
 * - any other source (the benchmarks' shared random weights).
 * `loadFromStore` runs the dry bind first, so every problem of a checkpoint is reported at once, as torch's
 * `load_state_dict(strict=True)` would, before a single tensor is bound.
 */
export interface ParamSource {
  /** torch nn.Linear(inF, outF): `key.weight` [outF, inF] (+ `key.bias` [outF]); kept in torch layout. */
  linear(key: string, inF: number, outF: number, bias: boolean, names?: LinearNames): LinearParams;
  /** torch nn.Conv2d(inC, outC, k, stride, pad): `key.weight` [outC, inC, k, k] (+ `key.bias` [outC]). */
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number, bias?: boolean): ConvParams;
  /**
   * A bias-free torch Conv2d whose stride equals its kernel (a ViT patch embedding), as a Linear [outC, k·k·inC]
   * over patches flattened in (ky, kx, channel) order (`patchify` in clip/vision-tower.ts).
   */
  patchLinear(key: string, inC: number, outC: number, k: number): LinearParams;
  /** torch LayerNorm / GroupNorm affine parameters: `key.weight`, `key.bias` [channels]. */
  norm(key: string, channels: number, eps: number): NormParams;
  /** Any other parameter (embeddings, class token), as stored. */
  tensor(key: string, shape: number[]): tf.Tensor;
  /** A key a checkpoint may carry that the model does not use (`position_ids`, `logit_scale`): accepted, unread. */
  ignore(key: string, shape: number[]): void;
  sub(prefix: string): ParamSource;
}

/**
 * Keys of a Linear stored under other names: open_clip's fused `in_proj_weight`, or a projection stored [in, out]
 * and applied as `x @ proj` (`inOut`, turned into torch layout once, at bind time).
 */
export interface LinearNames {
  weight?: string;
  bias?: string;
  inOut?: boolean;
}

export interface ParamSpec {
  key: string;
  shape: number[];
  /** May be absent from a checkpoint; never read. */
  optional?: boolean;
}

export interface KeyShape {
  key: string;
  shape: number[];
}

/** The torch keys and shapes a module declaration implies (shared by every ParamSource). */
export const paramSpecs = {
  linear: (key: string, inF: number, outF: number, bias: boolean, names: LinearNames = {}): ParamSpec[] => [
    { key: names.weight ?? `${key}.weight`, shape: names.inOut ? [inF, outF] : [outF, inF] },
    ...(bias ? [{ key: names.bias ?? `${key}.bias`, shape: [outF] }] : []),
  ],
  conv: (key: string, inC: number, outC: number, k: number, bias = true): ParamSpec[] => [
    { key: `${key}.weight`, shape: [outC, inC, k, k] },
    ...(bias ? [{ key: `${key}.bias`, shape: [outC] }] : []),
  ],
  norm: (key: string, channels: number): ParamSpec[] => [
    { key: `${key}.weight`, shape: [channels] },
    { key: `${key}.bias`, shape: [channels] },
  ],
};

/**
 * Ownership rule: a module keeps its own handles to weights (a clone shares the data), so the caller can dispose
 * the WeightStore right after building, and `disposeParams(module)` frees exactly the module.
 */
export function own<T extends tf.Tensor>(t: T): T {
  return tf.keep(t.clone());
}

/**
 * Binds a WeightStore; every declared key must exist (directly or through `aliases`) with the declared shape.
 * At fp16 / int8 `precision`, Linear and Conv2d weights are packed for the device (kernels/packed-weight.ts) from
 * the store's host values, so no float32 copy of them ever reaches the device.
 */
export class StoreParams implements ParamSource {
  private readonly ws: WeightScope;
  constructor(store: WeightStore | WeightScope, private readonly aliases: Record<string, string> = {}, private readonly precision: WeightPrecision = 'fp32') {
    this.ws = store instanceof WeightStore ? store.sub('') : store;
  }
  private take(key: string, shape: number[]): tf.Tensor {
    const alias = this.aliases[this.ws.prefix + key];
    if (!this.ws.has(key) && alias !== undefined) return this.ws.store.take(alias, shape);
    return this.ws.take(key, shape);
  }
  /** `data` (torch layout) packed at this source's precision, or null to keep the weight float32. */
  private packed(key: string, w: tf.Tensor, torchShape: number[], data: () => Float32Array, logicalShape: number[]): PackedMatrix | null {
    if (this.precision === 'fp32' || w.dtype !== 'float32') return null;
    return packFloatWeight(this.ws.prefix + key, torchShape, data(), this.precision, logicalShape);
  }
  linear(key: string, inF: number, outF: number, bias: boolean, names: LinearNames = {}): LinearParams {
    const [w, b] = paramSpecs.linear(key, inF, outF, bias, names).map((s) => this.take(s.key, s.shape));
    const values = () => (names.inOut ? transposeHost(hostValues(w!), inF, outF) : hostValues(w!));
    const weight = this.packed(key, w!, [outF, inF], values, [outF, inF]) ?? (names.inOut ? tf.keep(tf.transpose(w!)) : own(w!));
    return { w: weight as tf.Tensor2D | PackedMatrix, b: b ? (own(b) as tf.Tensor1D) : undefined };
  }
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number, bias = true): ConvParams {
    const [w, b] = paramSpecs.conv(key, inC, outC, k, bias).map((s) => this.take(s.key, s.shape));
    // torch [out, in, kh, kw] → packed [out, (kh, kw, in)], or float in tfjs's [kh, kw, in, out]
    const weight = this.packed(key, w!, w!.shape, () => hostValues(w!), [k, k, inC, outC]) ?? tf.keep(tf.transpose(w!, [2, 3, 1, 0]));
    return { w: weight as tf.Tensor4D | PackedMatrix, b: b ? (own(b) as tf.Tensor1D) : undefined, stride, pad };
  }
  patchLinear(key: string, inC: number, outC: number, k: number): LinearParams {
    const [w] = paramSpecs.conv(key, inC, outC, k, false).map((s) => this.take(s.key, s.shape));
    return { w: tf.keep(tf.tidy(() => tf.transpose(w!, [0, 2, 3, 1]).reshape([outC, k * k * inC]))) as tf.Tensor2D };
  }
  norm(key: string, channels: number, eps: number): NormParams {
    const [gamma, beta] = paramSpecs.norm(key, channels).map((s) => own(this.take(s.key, s.shape)));
    return { gamma: gamma as tf.Tensor1D, beta: beta as tf.Tensor1D, eps };
  }
  tensor(key: string, shape: number[]): tf.Tensor {
    return own(this.take(key, shape));
  }
  ignore(key: string): void {
    if (this.ws.has(key)) this.ws.take(key);
  }
  sub(prefix: string): ParamSource {
    return new StoreParams(this.ws.sub(prefix), this.aliases, this.precision);
  }
}

/**
 * Records keys and shapes without allocating any tensor. The module objects built from it hold shape-only
 * placeholders (in the layouts a real bind produces) and must never run.
 */
export class DryParams implements ParamSource {
  constructor(readonly specs: ParamSpec[] = [], private readonly prefix = '') {}
  private record(specs: ParamSpec[]): void {
    for (const s of specs) this.specs.push({ ...s, key: this.prefix + s.key });
  }
  linear(key: string, inF: number, outF: number, bias: boolean, names: LinearNames = {}): LinearParams {
    this.record(paramSpecs.linear(key, inF, outF, bias, names));
    return { w: placeholder([outF, inF]) as tf.Tensor2D, b: bias ? (placeholder([outF]) as tf.Tensor1D) : undefined };
  }
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number, bias = true): ConvParams {
    this.record(paramSpecs.conv(key, inC, outC, k, bias));
    return { w: placeholder([k, k, inC, outC]) as tf.Tensor4D, b: bias ? (placeholder([outC]) as tf.Tensor1D) : undefined, stride, pad };
  }
  patchLinear(key: string, inC: number, outC: number, k: number): LinearParams {
    this.record(paramSpecs.conv(key, inC, outC, k, false));
    return { w: placeholder([outC, k * k * inC]) as tf.Tensor2D };
  }
  norm(key: string, channels: number, eps: number): NormParams {
    this.record(paramSpecs.norm(key, channels));
    return { gamma: placeholder([channels]) as tf.Tensor1D, beta: placeholder([channels]) as tf.Tensor1D, eps };
  }
  tensor(key: string, shape: number[]): tf.Tensor {
    this.record([{ key, shape }]);
    return placeholder(shape);
  }
  ignore(key: string, shape: number[]): void {
    this.record([{ key, shape, optional: true }]);
  }
  sub(prefix: string): ParamSource {
    return new DryParams(this.specs, this.prefix + prefix);
  }
}

/** [rows, cols] row-major → [cols, rows]. */
function transposeHost(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** A shape-only stand-in for a tensor (not a tf.Tensor, so paramsOf/disposeParams skip it). */
function placeholder(shape: number[]): tf.Tensor {
  return { shape, dryBind: true } as unknown as tf.Tensor;
}

/** Every key and torch shape a builder declares, from a dry bind (no tensor is allocated). */
export function declaredParams(build: (src: ParamSource) => unknown): ParamSpec[] {
  const dry = new DryParams();
  build(dry);
  return dry.specs;
}

export interface BindReport {
  /** Required keys of the spec that the listing lacks. */
  missing: string[];
  /** Keys of the listing that the spec does not declare. */
  unexpected: string[];
  /** Keys present on both sides with different shapes. */
  wrongShape: { key: string; expected: number[]; got: number[] }[];
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Dry bind: what strict loading would say, from key/shape lists only. `aliases` maps a declared key to the name a
 * checkpoint may store it under (e.g. the VAE's legacy attention names).
 */
export function compareKeys(spec: ParamSpec[], listing: KeyShape[], aliases: Record<string, string> = {}): BindReport {
  const have = new Map(listing.map((k) => [k.key, k.shape]));
  const claimed = new Set<string>();
  const report: BindReport = { missing: [], unexpected: [], wrongShape: [] };
  for (const s of spec) {
    const stored = have.has(s.key) ? s.key : aliases[s.key];
    const got = stored === undefined ? undefined : have.get(stored);
    if (got === undefined) {
      if (!s.optional) report.missing.push(s.key);
      continue;
    }
    claimed.add(stored!);
    if (!sameShape(got, s.shape)) report.wrongShape.push({ key: s.key, expected: s.shape, got });
  }
  for (const k of have.keys()) if (!claimed.has(k)) report.unexpected.push(k);
  return report;
}

export function formatBindReport(r: BindReport, max = 5, strict = true): string {
  const part = (name: string, xs: string[]) =>
    xs.length ? `${xs.length} ${name} (${xs.slice(0, max).join(', ')}${xs.length > max ? ', …' : ''})` : '';
  return [
    part('missing', r.missing),
    strict ? part('unexpected', r.unexpected) : '',
    part('wrong shape', r.wrongShape.map((w) => `${w.key}: [${w.got}] vs [${w.expected}]`)),
  ].filter(Boolean).join('; ');
}

export interface LoadOptions {
  /** Keys of the checkpoint that the model does not declare are an error too (torch strict=True). */
  strict?: boolean;
  /** Declared key → another name a checkpoint may use for it. */
  aliases?: Record<string, string>;
  /** What the device holds for Linear / Conv2d weights (default fp32). */
  precision?: WeightPrecision;
}

/**
 * Binds a checkpoint through a builder: a dry bind first checks every declared key and shape against the store
 * (all problems in one error), then the builder runs on the store's tensors.
 */
export function loadFromStore<T>(store: WeightStore | WeightScope, build: (src: ParamSource) => T, opts: LoadOptions = {}): T {
  const scope = store instanceof WeightStore ? store.sub('') : store;
  const listing = scope.store.keys().filter((k) => k.startsWith(scope.prefix))
    .map((k) => ({ key: k.slice(scope.prefix.length), shape: scope.store.shapeOf(k) }));
  const scopedAliases = Object.fromEntries(Object.entries(opts.aliases ?? {}).flatMap(([k, v]) =>
    k.startsWith(scope.prefix) && v.startsWith(scope.prefix) ? [[k.slice(scope.prefix.length), v.slice(scope.prefix.length)]] : []));
  const report = compareKeys(declaredParams(build), listing, scopedAliases);
  const strict = opts.strict ?? false;
  if (report.missing.length || report.wrongShape.length || (strict && report.unexpected.length)) {
    throw new Error(`weights do not match the config: ${formatBindReport(report, 8, strict)}`);
  }
  return build(new StoreParams(scope, opts.aliases, opts.precision));
}
