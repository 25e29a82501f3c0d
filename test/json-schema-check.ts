/**
 * A small JSON Schema (2020-12 subset) checker for tests: $ref to #/$defs, type (incl. "integer" and type
 * lists), const, enum, required, properties, additionalProperties (false or a schema), items, minimum /
 * exclusiveMinimum / exclusiveMaximum, minLength. Enough to keep a documented schema honest against real files.
 */
type Schema = Record<string, any>;

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function typeMatches(v: unknown, t: string): boolean {
  if (t === 'integer') return Number.isInteger(v);
  return typeOf(v) === t;
}

/** The list of violations as "path: message" (empty when `value` conforms). */
export function checkAgainstSchema(value: unknown, schema: Schema, root: Schema = schema, at = ''): string[] {
  const where = at || '(root)';
  if (schema.$ref) {
    const name = String(schema.$ref).replace(/^#\/\$defs\//, '');
    const target = root.$defs?.[name];
    if (!target) return [`${where}: unknown $ref ${schema.$ref}`];
    return checkAgainstSchema(value, target, root, at);
  }
  const errs: string[] = [];
  if ('const' in schema && value !== schema.const) errs.push(`${where}: must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) errs.push(`${where}: not one of ${JSON.stringify(schema.enum)}`);
  if (schema.type) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) return [...errs, `${where}: must be of type ${types.join(' | ')}`];
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errs.push(`${where}: below ${schema.minimum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) errs.push(`${where}: must exceed ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) errs.push(`${where}: must be below ${schema.exclusiveMaximum}`);
  }
  if (typeof value === 'string' && schema.minLength !== undefined && value.length < schema.minLength) errs.push(`${where}: too short`);
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errs.push(...checkAgainstSchema(v, schema.items, root, `${at}[${i}]`)));
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const join = (k: string) => (at ? `${at}.${k}` : k);
    for (const k of schema.required ?? []) if (!(k in obj)) errs.push(`${join(k)}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties && k in schema.properties) errs.push(...checkAgainstSchema(v, schema.properties[k], root, join(k)));
      else if (schema.additionalProperties === false) errs.push(`${join(k)}: not allowed`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...checkAgainstSchema(v, schema.additionalProperties, root, join(k)));
    }
  }
  return errs;
}
