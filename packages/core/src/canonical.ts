/**
 * Stable JSON: the same value always gives the same text, whatever the key order it was built
 * with. Identity hashes and template content hashes depend on it.
 */

/**
 * Stringifies like `JSON.stringify` with object keys sorted recursively and no whitespace.
 * Like JSON, `undefined`, functions and symbols are dropped from objects and become `null` in
 * arrays, and `toJSON()` is honoured (Dates become ISO strings).
 * @throws TypeError for NaN, ±Infinity, BigInt and circular structures, which have no stable JSON form.
 */
export function canonicalJson(value: unknown): string {
  const text = encode(value, new Set());
  // A bare `undefined` has no JSON text; `null` keeps the return type a string.
  return text ?? 'null';
}

function encode(value: unknown, seen: Set<object>): string | undefined {
  const json = toJsonValue(value);
  if (json === null) return 'null';
  switch (typeof json) {
    case 'string':
    case 'boolean':
      return JSON.stringify(json);
    case 'number':
      if (!Number.isFinite(json)) throw new TypeError(`canonicalJson: non-finite number ${json}`);
      return JSON.stringify(json);
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt has no JSON form');
    case 'object':
      return encodeContainer(json, seen);
    default:
      return undefined; // undefined, functions, symbols
  }
}

function toJsonValue(value: unknown): unknown {
  const withToJson = value as { toJSON?: unknown } | null | undefined;
  return typeof withToJson?.toJSON === 'function' ? (withToJson.toJSON as () => unknown)() : value;
}

function encodeContainer(value: object, seen: Set<object>): string {
  if (seen.has(value)) throw new TypeError('canonicalJson: circular structure');
  seen.add(value);
  const text = Array.isArray(value)
    ? encodeArray(value, seen)
    : encodeObject(value as Record<string, unknown>, seen);
  seen.delete(value);
  return text;
}

function encodeArray(value: readonly unknown[], seen: Set<object>): string {
  return `[${value.map((item) => encode(item, seen) ?? 'null').join(',')}]`;
}

function encodeObject(value: Record<string, unknown>, seen: Set<object>): string {
  const parts: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const encoded = encode(value[key], seen);
    if (encoded !== undefined) parts.push(`${JSON.stringify(key)}:${encoded}`);
  }
  return `{${parts.join(',')}}`;
}
