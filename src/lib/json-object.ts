/** A parsed JSON object with named fields: not null, not an array (both are typeof 'object'). */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
