import * as tf from '@tensorflow/tfjs';
import type { ConvParams, EmbeddingTable, LinearParams, NormParams } from './nn';
import { type DeviceParam, type HostWeight, type WeightPrecision, disposeDeviceParam, prepareParam } from './precision';
import { WeightStore, type WeightScope } from './weights';

/**
 * Where every model (CLIP text, UNet, VAE, CLIP / open_clip vision, reward heads) gets its parameters. A module's
 * constructor declares each parameter with its checkpoint key and torch shape, so the same builder serves:
 * - `loadFromStore` / `loadFromSource`: bind a checkpoint, every shape checked, each tensor put on the device in
 *   the layout and precision its layer reads (precision.ts `prepareParam`);
 * - `DryParams`: list the keys and shapes a config implies, allocating nothing (a dry bind of a real-size model);
 * - any other source (the benchmarks' shared random weights).
 * Loading runs the dry bind first, so every problem of a checkpoint is reported at once, as torch's
 * `load_state_dict(strict=True)` would, before a single tensor is read.
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
  /** A lookup table [rows, dim] (token embeddings), split into row blocks where it is too large for one tensor. */
  embedding(key: string, rows: number, dim: number): EmbeddingTable;
  /** Any other parameter (position embeddings, class token), as stored. */
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
  /** How a weight matrix is laid out for the layer that reads it (absent: used as stored, float32). */
  kind?: WeightKind;
}

/**
 * `linear`: torch [out, in]; `linearInOut`: stored [in, out] (open_clip projections, applied as x @ proj);
 * `conv`: torch [out, in, kh, kw]; `patch`: a patch-embedding conv [out, c, p, p] run as a Linear over patches.
 */
export type WeightKind = 'linear' | 'linearInOut' | 'conv' | 'patch' | 'embedding';

export interface KeyShape {
  key: string;
  shape: number[];
}

/** The torch keys and shapes a module declaration implies (shared by every ParamSource). */
export const paramSpecs = {
  linear: (key: string, inF: number, outF: number, bias: boolean, names: LinearNames = {}): ParamSpec[] => [
    { key: names.weight ?? `${key}.weight`, shape: names.inOut ? [inF, outF] : [outF, inF], kind: names.inOut ? 'linearInOut' : 'linear' },
    ...(bias ? [{ key: names.bias ?? `${key}.bias`, shape: [outF] }] : []),
  ],
  conv: (key: string, inC: number, outC: number, k: number, bias = true, kind: WeightKind = 'conv'): ParamSpec[] => [
    { key: `${key}.weight`, shape: [outC, inC, k, k], kind },
    ...(bias ? [{ key: `${key}.bias`, shape: [outC] }] : []),
  ],
  norm: (key: string, channels: number): ParamSpec[] => [
    { key: `${key}.weight`, shape: [channels] },
    { key: `${key}.bias`, shape: [channels] },
  ],
};

/**
 * Hands out parameters already on the device, by key, to the builder that declared them (loadFromStore and
 * loadFromSource prepare them first, one tensor at a time). Ownership passes to the module.
 */
class PreparedParams implements ParamSource {
  constructor(private readonly prepared: Map<string, DeviceParam>, private readonly prefix = '') {}
  private get<T extends DeviceParam>(spec: ParamSpec): T {
    const p = this.prepared.get(this.prefix + spec.key);
    if (p === undefined) throw new Error(`parameter "${this.prefix + spec.key}" was not prepared`);
    return p as T;
  }
  linear(key: string, inF: number, outF: number, bias: boolean, names: LinearNames = {}): LinearParams {
    const [w, b] = paramSpecs.linear(key, inF, outF, bias, names);
    return { w: this.get(w!), b: b ? this.get<tf.Tensor1D>(b) : undefined };
  }
  conv(key: string, inC: number, outC: number, k: number, stride: number, pad: number, bias = true): ConvParams {
    const [w, b] = paramSpecs.conv(key, inC, outC, k, bias);
    return { w: this.get(w!), b: b ? this.get<tf.Tensor1D>(b) : undefined, stride, pad };
  }
  patchLinear(key: string, inC: number, outC: number, k: number): LinearParams {
    return { w: this.get(paramSpecs.conv(key, inC, outC, k, false, 'patch')[0]!) };
  }
  norm(key: string, channels: number, eps: number): NormParams {
    const [g, b] = paramSpecs.norm(key, channels);
    return { gamma: this.get<tf.Tensor1D>(g!), beta: this.get<tf.Tensor1D>(b!), eps };
  }
  embedding(key: string, rows: number, dim: number): EmbeddingTable {
    return this.get<EmbeddingTable>({ key, shape: [rows, dim] });
  }
  tensor(key: string, shape: number[]): tf.Tensor {
    return this.get<tf.Tensor>({ key, shape });
  }
  ignore(): void {}
  sub(prefix: string): ParamSource {
    return new PreparedParams(this.prepared, this.prefix + prefix);
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
    this.record(paramSpecs.conv(key, inC, outC, k, false, 'patch'));
    return { w: placeholder([outC, k * k * inC]) as tf.Tensor2D };
  }
  norm(key: string, channels: number, eps: number): NormParams {
    this.record(paramSpecs.norm(key, channels));
    return { gamma: placeholder([channels]) as tf.Tensor1D, beta: placeholder([channels]) as tf.Tensor1D, eps };
  }
  embedding(key: string, rows: number, dim: number): EmbeddingTable {
    this.record([{ key, shape: [rows, dim], kind: 'embedding' }]);
    return { parts: [placeholder([rows, dim]) as tf.Tensor2D], rowsPerPart: rows };
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
  /** Key prefixes of the checkpoint this binding leaves on purpose (a tower not bound, the VAE's encoder). */
  leaves?: string[];
  /** Declared key → another name a checkpoint may use for it. */
  aliases?: Record<string, string>;
  /** What the device holds for Linear / Conv2d weights (default fp32). */
  precision?: WeightPrecision;
}

/** How one model binds a checkpoint: its builder and the loading rules (strictness, aliases, precision). */
export interface ModelBinding<T> {
  build: (src: ParamSource) => T;
  opts: LoadOptions;
}

/**
 * A checkpoint read one tensor at a time (a safetensors file on disk, a model in IndexedDB): its key/shape listing,
 * and each tensor's host values on request (int8 ones may come as their stored codes).
 */
export interface WeightSource {
  listing: KeyShape[];
  read(key: string): Promise<HostWeight>;
  /** Called once the load is over (finished or failed). */
  close?(): void;
}

/**
 * Why a checkpoint listing cannot bind to a builder's declared specs under the loading rules (missing keys, wrong
 * shapes, and under `strict` unexpected keys), as one line; '' when it binds. The dry bind every load starts with.
 */
export function bindProblems(specs: ParamSpec[], listing: KeyShape[], opts: LoadOptions, max = 5): string {
  const leaves = opts.leaves ?? [];
  const report = compareKeys(specs, listing.filter((k) => !leaves.some((p) => k.key.startsWith(p))), opts.aliases);
  const strict = opts.strict ?? false;
  return report.missing.length || report.wrongShape.length || (strict && report.unexpected.length) ? formatBindReport(report, max, strict) : '';
}

/** The specs a builder declares that the checkpoint holds, in build order, each with the key it is stored under. */
function planBind(build: (src: ParamSource) => unknown, listing: KeyShape[], opts: LoadOptions): { spec: ParamSpec; stored: string }[] {
  // optional keys the checkpoint holds are planned too (and never read), so that every stored key is accounted for
  const specs = declaredParams(build);
  const problems = bindProblems(specs, listing, opts, 8);
  if (problems) throw new Error(`weights do not match the config: ${problems}`);
  const have = new Set(listing.map((k) => k.key));
  return specs.flatMap((spec) => {
    const stored = have.has(spec.key) ? spec.key : opts.aliases?.[spec.key];
    return stored !== undefined && have.has(stored) ? [{ spec, stored }] : [];
  });
}

/** Frees every parameter prepared so far, when a load fails part-way (nothing is left on the device). */
function freeAll(prepared: Map<string, DeviceParam>): void {
  for (const p of prepared.values()) disposeDeviceParam(p);
}

function buildPrepared<T>(build: (src: ParamSource) => T, prepared: Map<string, DeviceParam>): T {
  try {
    return build(new PreparedParams(prepared));
  } catch (e) {
    freeAll(prepared);
    throw e;
  }
}

/**
 * Binds a checkpoint held in a WeightStore through a builder: a dry bind first checks every declared key and shape
 * (all problems in one error), then each tensor is put on the device in the layout and precision its layer reads.
 */
export function loadFromStore<T>(store: WeightStore | WeightScope, build: (src: ParamSource) => T, opts: LoadOptions = {}): T {
  const scope = store instanceof WeightStore ? store.sub('') : store;
  const listing = scope.store.keys().filter((k) => k.startsWith(scope.prefix))
    .map((k) => ({ key: k.slice(scope.prefix.length), shape: scope.store.shapeOf(k) }));
  const plan = planBind(build, listing, { ...opts, aliases: scopedAliases(opts.aliases, scope.prefix) });
  const prepared = new Map<string, DeviceParam>();
  try {
    for (const { spec, stored } of plan) {
      const t = scope.take(stored);
      if (!spec.optional) prepared.set(spec.key, prepareParam(spec, { shape: t.shape, data: t.dataSync() as Float32Array | Int32Array }, opts.precision ?? 'fp32'));
    }
  } catch (e) {
    freeAll(prepared);
    throw e;
  }
  return buildPrepared(build, prepared);
}

/**
 * The same from a WeightSource, streaming: each tensor is read, converted (packed, transposed) on the host and
 * uploaded before the next is read, so host memory holds one tensor at a time and no float32 copy of a packed
 * weight ever exists on the device.
 */
export async function loadFromSource<T>(source: WeightSource, build: (src: ParamSource) => T, opts: LoadOptions = {}): Promise<T> {
  const prepared = new Map<string, DeviceParam>();
  try {
    for (const { spec, stored } of planBind(build, source.listing, opts)) {
      if (!spec.optional) prepared.set(spec.key, prepareParam(spec, await source.read(stored), opts.precision ?? 'fp32'));
    }
  } catch (e) {
    freeAll(prepared);
    throw e;
  } finally {
    source.close?.();
  }
  return buildPrepared(build, prepared);
}

function scopedAliases(aliases: Record<string, string> | undefined, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(aliases ?? {}).flatMap(([k, v]) =>
    k.startsWith(prefix) && v.startsWith(prefix) ? [[k.slice(prefix.length), v.slice(prefix.length)]] : []));
}
