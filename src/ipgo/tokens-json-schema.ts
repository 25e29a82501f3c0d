/**
 * schema/ipgo-tokens.schema.json, enforced by @cfworker/json-schema: it interprets the schema (no generated code),
 * so it runs under the app's CSP, which forbids eval. Its output names every failing keyword, nested ones
 * wrapped in their parents' ("Property "config" does not match schema"); only the innermost failures are kept,
 * each as "path: message" with the path in the file's own terms (`history[0].loss`).
 */
import { Validator, type OutputUnit, type Schema } from '@cfworker/json-schema';
import tokensSchema from '../../schema/ipgo-tokens.schema.json' with { type: 'json' };

/** Keywords whose failure only says that a nested value failed; that value's own failure is reported. */
const WRAPPERS = new Set(['properties', 'additionalProperties', 'items', 'prefixItems', '$ref', 'allOf']);

let validator: Validator | undefined;

/** Every way `value` breaks the tokens schema, as "path: message" (empty when it conforms). */
export function tokensSchemaViolations(value: unknown): string[] {
  // A copy: the validator annotates the schema object it is given.
  validator ??= new Validator(structuredClone(tokensSchema) as Schema, '2020-12', false);
  return validator.validate(value).errors.filter((e) => !WRAPPERS.has(e.keyword)).map((e) => describeViolation(e, value));
}

function pointerSegments(pointer: string): string[] {
  return pointer.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s).replaceAll('~1', '/').replaceAll('~0', '~'));
}

function pathOf(segments: string[]): string {
  const path = segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
  return path || '(file)';
}

function valueAt(root: unknown, segments: string[]): unknown {
  return segments.reduce<unknown>((v, s) => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[s] : undefined), root);
}

const limitOf = (error: string): string => /(-?[\d.]+(?:e[-+]?\d+)?)\.$/.exec(error)?.[1] ?? '?';
const quoted = (error: string): string => /"([^"]*)"/.exec(error)?.[1] ?? '?';

function describeViolation(e: OutputUnit, root: unknown): string {
  const segments = pointerSegments(e.instanceLocation);
  const value = valueAt(root, segments);
  const got = `, got ${JSON.stringify(value)?.slice(0, 80)}`;
  const at = pathOf(segments);
  switch (e.keyword) {
    case 'required': return `${pathOf([...segments, quoted(e.error)])}: missing (a required field)`;
    case 'false': return `${at}: not a known field`;
    case 'type': return `${at}: must be ${e.error.replace(/^.*Expected /, '').replace(/\.$/, '').replaceAll('"', '').replaceAll(', ', ' or ')}${got}`;
    case 'const': return `${at}: must be ${e.error.replace(/^Instance does not match /, '').replace(/\.$/, '')}${got}`;
    case 'enum': {
      const allowed = JSON.parse(e.error.replace(/^Instance does not match any of /, '').replace(/\.$/, '')) as unknown[];
      return `${at}: must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}${got}`;
    }
    case 'minimum': return `${at}: must be at least ${limitOf(e.error)}${got}`;
    case 'exclusiveMinimum': return `${at}: must be greater than ${limitOf(e.error)}${got}`;
    case 'maximum': return `${at}: must be at most ${limitOf(e.error)}${got}`;
    case 'exclusiveMaximum': return `${at}: must be less than ${limitOf(e.error)}${got}`;
    case 'minLength': return `${at}: must not be shorter than ${/< (\d+)\)/.exec(e.error)?.[1] ?? '?'} characters${got}`;
    case 'format': return `${at}: must be a ${quoted(e.error)} string${got}`;
    default: return `${at}: ${e.error}`;
  }
}
