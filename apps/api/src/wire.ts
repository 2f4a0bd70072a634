/**
 * Rows to wire objects: Dates become ISO 8601 strings, as the contract's schemas say. A JSON
 * round trip does exactly that for any shape, and the response schemas then check the result.
 */
export function toWire<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** Opaque cursor of a task page: base64url of `[createdAt, id]`. */
export function encodeCursor(cursor: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The position a cursor encodes, or null when it is not one of ours. */
export function decodeCursor(text: string): { createdAt: Date; id: string } | null {
  try {
    const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    const createdAt = new Date(String(at));
    if (typeof id !== 'string' || !UUID.test(id) || Number.isNaN(createdAt.getTime())) return null;
    return { createdAt, id };
  } catch {
    return null;
  }
}

/** `value` on the wire, typed as the response schema says (the serializer then checks it). */
export function wire<S extends { _zod: { output: unknown } }>(
  _schema: S,
  value: unknown,
): S['_zod']['output'] {
  return toWire(value) as S['_zod']['output'];
}
