/**
 * The `ipgo-tokens` v1 file: trained boundary tokens to share or reuse. It holds the raw parameters (x, W, b per
 * side, so training can continue) AND the resulting token matrices (so inference needs no re-computation), plus
 * what they were trained for. Import validates everything — version, shapes, finiteness, W's orthonormality, the
 * tokens' agreement with the parameters, D against the loaded model — before returning anything, so a bad file
 * never partially applies.
 */
import { basisWidth, sideShapes, validateBoundaryShape, type BoundaryShape, type RotationMode } from './config';
import { boundaryTokensHost } from './boundary-tokens';
import { decodeTensor, encodeTensor, type EncodedTensor } from './float32-base64';
import { orthonormalityErrorHost } from './orthonormal';
import { assignParams, hostFromSides, sideHost, type HostParams, type IpgoParams, type Side } from './params';

export const TOKENS_FORMAT = 'ipgo-tokens';
export const TOKENS_VERSION = 1;
/** Tolerance for WᵀW = I in a float32 file (training keeps ~1e-6). */
export const ORTHONORMAL_TOLERANCE = 1e-4;
/** Stored tokens vs tokens recomputed from the stored parameters (float32 storage, float64 recomputation). */
export const TOKENS_CONSISTENCY_TOLERANCE = 1e-4;

interface EncodedSide { x: EncodedTensor; W: EncodedTensor; b: EncodedTensor }

export interface IpgoTokensFile {
  format: typeof TOKENS_FORMAT;
  version: typeof TOKENS_VERSION;
  /** The diffusion model the tokens were trained with (e.g. "runwayml/stable-diffusion-v1-5"). */
  modelId: string;
  textDim: number;
  numTokens: number;
  rank: number;
  rotation: RotationMode;
  bound: number;
  params: { prefix: EncodedSide; suffix: EncodedSide };
  /** The tokens [n, D] per side: token_i = R_i(θ_i)(W·clamp(z_i) + b). */
  tokens: { prefix: EncodedTensor; suffix: EncodedTensor };
  /** Prompt(s) trained on (one for prompt-wise, the list for batch-wise). */
  prompts: string[];
  /** Reward name → weight in the objective (e.g. {"aesthetic": 1}). */
  rewardWeights: Record<string, number>;
  /** ISO 8601. */
  createdAt: string;
  /** Best reward reached, when known. */
  reward?: number;
}

export interface TokensExportInput {
  params: HostParams;
  shape: BoundaryShape;
  modelId: string;
  prompts: string[];
  rewardWeights: Record<string, number>;
  createdAt?: Date;
  reward?: number;
}

export interface ImportedTokens {
  shape: BoundaryShape;
  modelId: string;
  params: HostParams;
  tokens: Record<Side, Float32Array>;
  prompts: string[];
  rewardWeights: Record<string, number>;
  createdAt: string;
  reward?: number;
  /** Non-fatal findings (e.g. another model id with the same width). */
  warnings: string[];
}

export class TokensFileError extends Error {
  override name = 'TokensFileError';
}

const SIDES: Side[] = ['prefix', 'suffix'];
const REQUIRED_KEYS = ['format', 'version', 'modelId', 'textDim', 'numTokens', 'rank', 'rotation', 'bound', 'params', 'tokens', 'prompts', 'rewardWeights', 'createdAt'];
const OPTIONAL_KEYS = ['reward'];

export function exportTokens(input: TokensExportInput): IpgoTokensFile {
  validateBoundaryShape(input.shape);
  const s = input.shape, shapes = sideShapes(s);
  const sides = {} as IpgoTokensFile['params'];
  const tokens = {} as IpgoTokensFile['tokens'];
  for (const side of SIDES) {
    const h = sideHost(input.params, side);
    sides[side] = { x: encodeTensor(h.x, shapes.x), W: encodeTensor(h.W, shapes.W), b: encodeTensor(h.b, shapes.b) };
    tokens[side] = encodeTensor(Float32Array.from(boundaryTokensHost(h, s)), [s.numTokens, s.textDim]);
  }
  const file: IpgoTokensFile = {
    format: TOKENS_FORMAT,
    version: TOKENS_VERSION,
    modelId: input.modelId,
    textDim: s.textDim,
    numTokens: s.numTokens,
    rank: s.rank,
    rotation: s.rotation,
    bound: s.bound,
    params: sides,
    tokens,
    prompts: [...input.prompts],
    rewardWeights: { ...input.rewardWeights },
    createdAt: (input.createdAt ?? new Date()).toISOString(),
  };
  if (input.reward !== undefined) file.reward = input.reward;
  return file;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (msg: string): never => {
  throw new TokensFileError(`ipgo-tokens: ${msg}`);
};

/**
 * Parses and validates an `ipgo-tokens` file (JSON text or parsed object) for a model with text width
 * `expect.textDim`. Throws TokensFileError with a message naming the offending field.
 */
export function parseTokensFile(input: unknown, expect: { textDim: number; modelId?: string }): ImportedTokens {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObj(raw)) return fail('expected a JSON object');
  if (raw.format !== TOKENS_FORMAT) fail(`format must be "${TOKENS_FORMAT}", got ${JSON.stringify(raw.format)}`);
  if (raw.version !== TOKENS_VERSION) fail(`unsupported version ${JSON.stringify(raw.version)} (this app reads version ${TOKENS_VERSION})`);
  for (const k of REQUIRED_KEYS) if (!(k in raw)) fail(`missing field "${k}"`);
  for (const k of Object.keys(raw)) if (!REQUIRED_KEYS.includes(k) && !OPTIONAL_KEYS.includes(k)) fail(`unknown field "${k}"`);

  if (typeof raw.modelId !== 'string' || raw.modelId.length === 0) fail('modelId must be a non-empty string');
  for (const k of ['textDim', 'numTokens', 'rank'] as const) {
    if (!Number.isInteger(raw[k]) || (raw[k] as number) <= 0) fail(`${k} must be a positive integer, got ${JSON.stringify(raw[k])}`);
  }
  if (raw.rotation !== 'intended' && raw.rotation !== 'off') fail(`rotation must be "intended" or "off", got ${JSON.stringify(raw.rotation)}`);
  if (typeof raw.bound !== 'number' || !Number.isFinite(raw.bound) || raw.bound <= 0) fail(`bound must be a finite positive number, got ${JSON.stringify(raw.bound)}`);
  const shape: BoundaryShape = {
    textDim: raw.textDim as number, numTokens: raw.numTokens as number, rank: raw.rank as number,
    rotation: raw.rotation as RotationMode, bound: raw.bound as number,
  };
  try {
    validateBoundaryShape(shape);
  } catch (e) {
    fail((e as Error).message);
  }
  if (shape.textDim !== expect.textDim) {
    fail(`token width D = ${shape.textDim} does not match the loaded model's text width ${expect.textDim} (tokens made for another model)`);
  }

  const shapes = sideShapes(shape);
  const decode = (v: unknown, want: number[], where: string): Float32Array => {
    try {
      return decodeTensor(v, want, where);
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  if (!isObj(raw.params)) fail('params must be an object {prefix, suffix}');
  if (!isObj(raw.tokens)) fail('tokens must be an object {prefix, suffix}');
  const params = raw.params as Record<string, unknown>, tokensRaw = raw.tokens as Record<string, unknown>;
  const hostSides = {} as Record<Side, { x: Float32Array; W: Float32Array; b: Float32Array }>;
  const tokens = {} as Record<Side, Float32Array>;
  for (const side of SIDES) {
    const p = params[side];
    if (!isObj(p)) return fail(`params.${side} must be an object {x, W, b}`);
    const h = {
      x: decode(p.x, shapes.x, `params.${side}.x`),
      W: decode(p.W, shapes.W, `params.${side}.W`),
      b: decode(p.b, shapes.b, `params.${side}.b`),
    };
    const err = orthonormalityErrorHost(h.W, shape.textDim, basisWidth(shape));
    if (!(err <= ORTHONORMAL_TOLERANCE)) {
      fail(`params.${side}.W: columns are not orthonormal (max|WᵀW − I| = ${err.toExponential(2)} > ${ORTHONORMAL_TOLERANCE})`);
    }
    hostSides[side] = h;
    tokens[side] = decode(tokensRaw[side], [shape.numTokens, shape.textDim], `tokens.${side}`);
    const rel = relL2(tokens[side], boundaryTokensHost(h, shape));
    if (!(rel <= TOKENS_CONSISTENCY_TOLERANCE)) {
      fail(`tokens.${side} do not match the stored parameters (rel L2 ${rel.toExponential(2)} > ${TOKENS_CONSISTENCY_TOLERANCE}; wrong rotation mode or edited file?)`);
    }
  }

  if (!Array.isArray(raw.prompts) || !raw.prompts.every((p) => typeof p === 'string')) fail('prompts must be an array of strings');
  if (!isObj(raw.rewardWeights)) fail('rewardWeights must be an object {reward name: weight}');
  for (const [k, v] of Object.entries(raw.rewardWeights as object)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`rewardWeights.${k} must be a finite number, got ${JSON.stringify(v)}`);
  }
  const created = raw.createdAt;
  if (typeof created !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(created) || Number.isNaN(Date.parse(created))) {
    fail(`createdAt must be an ISO 8601 date-time, got ${JSON.stringify(created)}`);
  }
  if ('reward' in raw && (typeof raw.reward !== 'number' || !Number.isFinite(raw.reward))) fail(`reward must be a finite number, got ${JSON.stringify(raw.reward)}`);

  const warnings: string[] = [];
  if (expect.modelId !== undefined && expect.modelId !== raw.modelId) {
    warnings.push(`tokens were trained with "${raw.modelId as string}", the loaded model is "${expect.modelId}" (same text width; results may differ)`);
  }
  const out: ImportedTokens = {
    shape,
    modelId: raw.modelId as string,
    params: hostFromSides(hostSides.prefix, hostSides.suffix),
    tokens,
    prompts: [...(raw.prompts as string[])],
    rewardWeights: { ...(raw.rewardWeights as Record<string, number>) },
    createdAt: created as string,
    warnings,
  };
  if (typeof raw.reward === 'number') out.reward = raw.reward;
  return out;
}

/** Loads imported parameters into a run's variables (all shapes checked before any assignment). */
export function applyImportedTokens(params: IpgoParams, imported: ImportedTokens): void {
  assignParams(params, imported.params, imported.shape);
}

function relL2(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
