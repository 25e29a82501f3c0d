import type * as tf from '@tensorflow/tfjs';
import type { WeightScope } from './weights';

/**
 * Checkpoint binding driven by one declared parameter list per model.
 *
 * Each tower declares the keys and torch shapes it expects for a given config (`ParamSpec[]`). The same list is
 * used twice: a *dry bind* compares it with a key/shape listing (no tensors, so a 1B-parameter layout can be
 * checked in a unit test), and the real builder binds a WeightStore through it, reading tensors only via
 * `BoundWeights.get`, which refuses keys outside the list and, at `finish()`, reports declared keys the builder
 * never read. So the declaration and the builder cannot drift apart.
 */
export interface ParamSpec {
  key: string;
  shape: number[];
  /** May be absent from a checkpoint (e.g. `logit_scale`, the legacy `position_ids` buffer); read but never used. */
  optional?: boolean;
}

export interface KeyShape {
  key: string;
  shape: number[];
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

/** Dry bind: what `strict=True` loading would say, from key/shape lists only. */
export function compareKeys(spec: ParamSpec[], listing: KeyShape[]): BindReport {
  const have = new Map(listing.map((k) => [k.key, k.shape]));
  const declared = new Set(spec.map((s) => s.key));
  const report: BindReport = { missing: [], unexpected: [], wrongShape: [] };
  for (const s of spec) {
    const got = have.get(s.key);
    if (got === undefined) {
      if (!s.optional) report.missing.push(s.key);
    } else if (!sameShape(got, s.shape)) {
      report.wrongShape.push({ key: s.key, expected: s.shape, got });
    }
  }
  for (const k of have.keys()) if (!declared.has(k)) report.unexpected.push(k);
  return report;
}

export function formatBindReport(r: BindReport, max = 5): string {
  const part = (name: string, xs: string[]) =>
    xs.length ? `${xs.length} ${name} (${xs.slice(0, max).join(', ')}${xs.length > max ? ', …' : ''})` : '';
  return [
    part('missing', r.missing),
    part('unexpected', r.unexpected),
    part('wrong shape', r.wrongShape.map((w) => `${w.key}: [${w.got}] vs [${w.expected}]`)),
  ].filter(Boolean).join('; ');
}

/**
 * A scope checked against a spec; the builder reads tensors by key through `get`. Presence of every required key
 * is checked up front (all missing keys in one error); tensors are taken, with their shape checked, only when the
 * builder reads them, so a store that materialises tensors on demand keeps at most one raw tensor alive.
 */
export class BoundWeights {
  private readonly declared: Map<string, ParamSpec>;
  private readonly read = new Set<string>();

  constructor(readonly scope: WeightScope, readonly spec: ParamSpec[]) {
    this.declared = new Map(spec.map((s) => [s.key, s]));
    const missing = spec.filter((s) => !s.optional && !scope.has(s.key)).map((s) => scope.prefix + s.key);
    if (missing.length) {
      throw new Error(`missing ${missing.length} weight(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`);
    }
  }

  has(key: string): boolean {
    return this.declared.has(key) && this.scope.has(key);
  }

  get(key: string): tf.Tensor {
    const s = this.declared.get(key);
    if (!s) throw new Error(`"${this.scope.prefix}${key}" is not a declared parameter of this model`);
    this.read.add(key);
    return this.scope.take(key, s.shape);
  }

  /** Marks a declared optional key as deliberately ignored (still recorded as used in the store). */
  ignore(key: string): void {
    if (!this.declared.has(key)) throw new Error(`"${key}" is not a declared parameter of this model`);
    this.read.add(key);
    if (this.scope.has(key)) this.scope.take(key);
  }

  /** Throws when the builder did not read every declared key (the spec lists a key the model does not use). */
  finish(): void {
    const unread = this.spec.filter((s) => !this.read.has(s.key)).map((s) => s.key);
    if (unread.length) throw new Error(`declared but unused parameters: ${unread.slice(0, 5).join(', ')}`);
  }
}

/** A scope-like adapter so the nn.ts loaders (`loadLinear`, `loadNorm`) read through a BoundWeights. */
export function boundScope(b: BoundWeights, prefix = ''): WeightScope {
  const scope = {
    prefix: b.scope.prefix + prefix,
    store: b.scope.store,
    take: (key: string) => b.get(prefix + key),
    has: (key: string) => b.has(prefix + key),
    sub: (p: string) => boundScope(b, prefix + p),
  };
  return scope as unknown as WeightScope;
}

/** Spec helpers for the torch module kinds CLIP uses. */
export const specLinear = (name: string, inDim: number, outDim: number, bias = true): ParamSpec[] => [
  { key: `${name}.weight`, shape: [outDim, inDim] },
  ...(bias ? [{ key: `${name}.bias`, shape: [outDim] }] : []),
];
export const specNorm = (name: string, dim: number): ParamSpec[] => [
  { key: `${name}.weight`, shape: [dim] },
  { key: `${name}.bias`, shape: [dim] },
];
