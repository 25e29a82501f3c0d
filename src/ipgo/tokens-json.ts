/**
 * The `ipgo-tokens` v1 file: trained boundary tokens to share or reuse (documented JSON Schema:
 * schema/ipgo-tokens.schema.json). It holds
 *   - the model identity (`modelId`) and a fingerprint of its text encoder (`textEncoder`, see
 *     text-encoder-fingerprint.ts: the encoder's output on a fixed probe prompt, compared within a tolerance),
 *   - the full IpgoConfig and the sampling setup the tokens were trained with,
 *   - the raw parameters (x, W, b per side, so training can continue) AND the resulting token matrices [n][D]
 *     (so inference needs no re-computation),
 *   - the prompt(s) and the per-epoch history.
 * Import validates everything — version, fields, shapes, finiteness, W's orthonormality, the tokens' agreement
 * with the parameters, the config, D and the text-encoder fingerprint against the loaded model — before returning
 * anything, so a bad file never partially applies. Non-finite numbers in the history (a skipped update's NaN loss)
 * are written as null and read back as NaN.
 */
import { basisWidth, sideShapes, type BoundaryShape, type IpgoConfig, type RotationMode } from './config';
import { boundaryTokensHost } from './boundary-tokens';
import { checkIpgoConfig, checkSampling } from './config-check';
import { decodeTensor, encodeTensor, type EncodedTensor } from './float32-base64';
import { orthonormalityErrorHost } from './orthonormal';
import { assignParams, hostFromSides, sideHost, type HostParams, type IpgoParams, type Side } from './params';
import { FINGERPRINT_METHOD, FINGERPRINT_TOLERANCE, fingerprintDistance, type TextEncoderFingerprint } from './text-encoder-fingerprint';
import type { EpochRecord, SamplingSetup } from './trainer';
import { isObj } from '../lib/json-object';
import { tokensSchemaViolations } from './tokens-json-schema';

export const TOKENS_FORMAT = 'ipgo-tokens';
export const TOKENS_VERSION = 1;
/** Tolerance for WᵀW = I in a float32 file (training keeps ~1e-6). */
export const ORTHONORMAL_TOLERANCE = 1e-4;
/** Stored tokens vs tokens recomputed from the stored parameters (float32 storage, float64 recomputation). */
export const TOKENS_CONSISTENCY_TOLERANCE = 1e-4;

interface EncodedSide { x: EncodedTensor; W: EncodedTensor; b: EncodedTensor }

/** An EpochRecord in JSON: non-finite numbers become null. */
export type EpochRecordJson = { [K in keyof EpochRecord]: EpochRecord[K] extends number ? number | null
  : EpochRecord[K] extends Record<string, number> ? Record<string, number | null> : EpochRecord[K] };

export interface TextEncoderFingerprintJson {
  method: typeof FINGERPRINT_METHOD;
  probe: string;
  /** [2, D]: mean last_hidden_state over the probe's positions, and its end-of-text state. */
  values: EncodedTensor;
}

export interface IpgoTokensFile {
  format: typeof TOKENS_FORMAT;
  version: typeof TOKENS_VERSION;
  /** The diffusion model the tokens were trained with (e.g. "runwayml/stable-diffusion-v1-5", "tiny-sd"). */
  modelId: string;
  textEncoder: TextEncoderFingerprintJson;
  textDim: number;
  numTokens: number;
  rank: number;
  rotation: RotationMode;
  bound: number;
  /** The full training configuration (config.tokens equals the shape fields above). */
  config: IpgoConfig;
  /** Scheduler, image size and noise seed of the training runs. */
  sampling: SamplingSetup;
  params: { prefix: EncodedSide; suffix: EncodedSide };
  /** The tokens [n, D] per side: token_i = R_i(θ_i)(W·clamp(z_i) + b). */
  tokens: { prefix: EncodedTensor; suffix: EncodedTensor };
  /** Prompt(s) trained on (one for prompt-wise, the list for batch-wise). */
  prompts: string[];
  /** Reward name → weight in the objective (e.g. {"aesthetic": 1}). */
  rewardWeights: Record<string, number>;
  /** Per-epoch (batch-wise: per prompt and epoch) training records, in order. */
  history: EpochRecordJson[];
  /** ISO 8601. */
  createdAt: string;
  /** Best (weighted) reward reached, when known. */
  reward?: number;
}

export interface TokensExportInput {
  params: HostParams;
  config: IpgoConfig;
  sampling: SamplingSetup;
  modelId: string;
  textEncoder: TextEncoderFingerprint;
  prompts: string[];
  rewardWeights: Record<string, number>;
  history: EpochRecord[];
  createdAt?: Date;
  reward?: number;
}

export interface ImportedTokens {
  shape: BoundaryShape;
  config: IpgoConfig;
  sampling: SamplingSetup;
  modelId: string;
  textEncoder: TextEncoderFingerprint;
  params: HostParams;
  tokens: Record<Side, Float32Array>;
  prompts: string[];
  rewardWeights: Record<string, number>;
  history: EpochRecord[];
  createdAt: string;
  reward?: number;
  /** Non-fatal findings (e.g. another model id with the same text encoder). */
  warnings: string[];
}

/** What the file is checked against: the loaded model's width, and (when known) its id and fingerprint. */
export interface TokensExpectation {
  textDim: number;
  modelId?: string;
  /** When given, a file whose fingerprint differs by more than FINGERPRINT_TOLERANCE is rejected. */
  textEncoder?: TextEncoderFingerprint;
}

export class TokensFileError extends Error {
  override name = 'TokensFileError';
}

const SIDES: Side[] = ['prefix', 'suffix'];

const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);
const fromNull = (v: number | null): number => (v === null ? NaN : v);

/** An EpochRecord as JSON (non-finite numbers → null), as token files and run files store it. */
export function epochRecordToJson(r: EpochRecord): EpochRecordJson {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    if (typeof v === 'number') out[k] = orNull(v);
    else if (k === 'rewards') out[k] = Object.fromEntries(Object.entries(v as Record<string, number>).map(([id, x]) => [id, orNull(x)]));
    else out[k] = v;
  }
  return out as EpochRecordJson;
}

export function exportTokens(input: TokensExportInput): IpgoTokensFile {
  const config = checkIpgoConfig(input.config);
  const s = config.tokens, shapes = sideShapes(s);
  if (input.textEncoder.textDim !== s.textDim) {
    throw new Error(`text encoder fingerprint is ${input.textEncoder.textDim} wide, the config's textDim is ${s.textDim}`);
  }
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
    textEncoder: {
      method: input.textEncoder.method, probe: input.textEncoder.probe,
      values: encodeTensor(input.textEncoder.values, [2, input.textEncoder.textDim]),
    },
    textDim: s.textDim,
    numTokens: s.numTokens,
    rank: s.rank,
    rotation: s.rotation,
    bound: s.bound,
    config,
    sampling: checkSampling(input.sampling),
    params: sides,
    tokens,
    prompts: [...input.prompts],
    rewardWeights: { ...input.rewardWeights },
    history: input.history.map(epochRecordToJson),
    createdAt: (input.createdAt ?? new Date()).toISOString(),
  };
  if (input.reward !== undefined) file.reward = input.reward;
  return file;
}

const fail = (msg: string): never => {
  throw new TokensFileError(`ipgo-tokens: ${msg}`);
};
/** Runs a checker that throws plain Errors, re-throwing as TokensFileError. */
const guard = <T>(f: () => T): T => {
  try {
    return f();
  } catch (e) {
    return fail((e as Error).message);
  }
};

/** How many schema violations an error message lists. */
const MAX_LISTED_VIOLATIONS = 5;

function checkSchema(raw: unknown): asserts raw is IpgoTokensFile {
  const violations = tokensSchemaViolations(raw);
  if (violations.length === 0) return;
  const more = violations.length > MAX_LISTED_VIOLATIONS ? ` (and ${violations.length - MAX_LISTED_VIOLATIONS} more)` : '';
  fail(`${violations.slice(0, MAX_LISTED_VIOLATIONS).join('; ')}${more}`);
}

function historyFromJson(records: EpochRecordJson[]): EpochRecord[] {
  return records.map((r) => {
    const rec = { ...r, rewards: Object.fromEntries(Object.entries(r.rewards).map(([id, v]) => [id, fromNull(v)])) } as EpochRecord;
    for (const k of RECORD_NUMBERS) rec[k] = fromNull(r[k]);
    return rec;
  });
}

const RECORD_NUMBERS = ['weightedReward', 'penalty', 'loss', 'lr', 'gradNorm', 'clipScale', 'orthonormalityError', 'ms'] as const;

/** The text encoder the file was made with, against the loaded one: the same width, a fingerprint within tolerance. */
function checkFingerprint(file: IpgoTokensFile, shape: BoundaryShape, expect: TokensExpectation): { textEncoder: TextEncoderFingerprint; warnings: string[] } {
  const values = guard(() => decodeTensor(file.textEncoder.values, [2, shape.textDim], 'textEncoder.values'));
  const textEncoder: TextEncoderFingerprint = { method: FINGERPRINT_METHOD, probe: file.textEncoder.probe, values, textDim: shape.textDim };
  if (expect.textEncoder) {
    if (expect.textEncoder.probe !== textEncoder.probe) fail(`textEncoder.probe "${textEncoder.probe}" differs from this app's probe "${expect.textEncoder.probe}"`);
    const d = fingerprintDistance(textEncoder.values, expect.textEncoder.values);
    if (!(d <= FINGERPRINT_TOLERANCE)) {
      fail(`text encoder fingerprint does not match the loaded model (rel L2 ${d.toExponential(2)} > ${FINGERPRINT_TOLERANCE}): ` +
        `the tokens were trained with "${file.modelId}"${expect.modelId ? `, the loaded model is "${expect.modelId}"` : ''}`);
    }
  }
  const warnings: string[] = [];
  if (expect.modelId !== undefined && expect.modelId !== file.modelId) {
    warnings.push(`tokens were trained with "${file.modelId}", the loaded model is "${expect.modelId}" (${expect.textEncoder ? 'same text encoder' : 'same text width'}; results may differ)`);
  }
  return { textEncoder, warnings };
}

/** Each side's parameters and tokens: their byte counts, finite values, W's orthonormal columns, tokens = the map of the parameters. */
function decodeSides(file: IpgoTokensFile, shape: BoundaryShape): { params: HostParams; tokens: Record<Side, Float32Array> } {
  const shapes = sideShapes(shape);
  const decode = (v: unknown, want: number[], where: string): Float32Array => guard(() => decodeTensor(v, want, where));
  const hostSides = {} as Record<Side, { x: Float32Array; W: Float32Array; b: Float32Array }>;
  const tokens = {} as Record<Side, Float32Array>;
  for (const side of SIDES) {
    const p = file.params[side];
    const h = { x: decode(p.x, shapes.x, `params.${side}.x`), W: decode(p.W, shapes.W, `params.${side}.W`), b: decode(p.b, shapes.b, `params.${side}.b`) };
    const err = orthonormalityErrorHost(h.W, shape.textDim, basisWidth(shape));
    if (!(err <= ORTHONORMAL_TOLERANCE)) {
      fail(`params.${side}.W: columns are not orthonormal (max|WᵀW − I| = ${err.toExponential(2)} > ${ORTHONORMAL_TOLERANCE})`);
    }
    hostSides[side] = h;
    tokens[side] = decode(file.tokens[side], [shape.numTokens, shape.textDim], `tokens.${side}`);
    const rel = relL2(tokens[side], boundaryTokensHost(h, shape));
    if (!(rel <= TOKENS_CONSISTENCY_TOLERANCE)) {
      fail(`tokens.${side} do not match the stored parameters (rel L2 ${rel.toExponential(2)} > ${TOKENS_CONSISTENCY_TOLERANCE}; wrong rotation mode or edited file?)`);
    }
  }
  return { params: hostFromSides(hostSides.prefix, hostSides.suffix), tokens };
}

/**
 * Parses and validates an `ipgo-tokens` file (JSON text or parsed object) against the loaded model. Throws
 * TokensFileError with a message naming the offending field; returns fresh copies (the input is not kept).
 * The structure is the schema's; what it cannot say (lengths tied to n, r and D, the config's own rules, the
 * model) is checked here.
 */
export function parseTokensFile(input: unknown, expect: TokensExpectation): ImportedTokens {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  // What the file is, before how it is built: another format or version would fail the schema everywhere.
  if (!isObj(raw)) return fail('expected a JSON object');
  if (raw.format !== TOKENS_FORMAT) fail(`format must be "${TOKENS_FORMAT}", got ${JSON.stringify(raw.format)}`);
  if (raw.version !== TOKENS_VERSION) fail(`unsupported version ${JSON.stringify(raw.version)} (this app reads version ${TOKENS_VERSION})`);
  checkSchema(raw);
  const file = raw;

  const config = guard(() => checkIpgoConfig(file.config, 'config'));
  const shape: BoundaryShape = { ...config.tokens };
  for (const k of ['textDim', 'numTokens', 'rank', 'rotation', 'bound'] as const) {
    if (file[k] !== shape[k]) fail(`${k} (${JSON.stringify(file[k])}) differs from config.tokens.${k} (${JSON.stringify(shape[k])})`);
  }
  if (shape.textDim !== expect.textDim) {
    fail(`token width D = ${shape.textDim} does not match the loaded model's text width ${expect.textDim} (tokens made for another model)`);
  }
  const { textEncoder, warnings } = checkFingerprint(file, shape, expect);
  const sampling = guard(() => checkSampling(file.sampling, 'sampling'));
  const { params, tokens } = decodeSides(file, shape);

  const out: ImportedTokens = {
    shape, config, sampling, textEncoder, params, tokens, warnings,
    modelId: file.modelId,
    prompts: [...file.prompts],
    rewardWeights: { ...file.rewardWeights },
    history: historyFromJson(file.history),
    createdAt: file.createdAt,
  };
  if (file.reward !== undefined) out.reward = file.reward;
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
