/**
 * Input Postgres cannot store, caught before it reaches a query: NUL characters (refused by
 * text and jsonb), lone UTF-16 surrogates (refused by jsonb as invalid escapes), nesting
 * deep enough to overflow the recursion of JSON.stringify, and numbers beyond ±1.8e308
 * (JSON.parse reads `1e400` as Infinity, which JSON.stringify would store as `null` after a
 * schema accepted a number). Each becomes a 400 naming the field instead of a database error,
 * or a value stored differently from the one validated.
 */
import type { FieldIssue } from '@switchyard/core';

/** Deepest nesting accepted in a request; real contexts are a few levels deep. */
export const MAX_INPUT_DEPTH = 64;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function stringProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate';
  return null;
}

/** Every unstorable string (value or key) or number in `value`, or a too-deep nesting, as field issues. */
export function findUnstorableInput(value: unknown, path = '', depth = 0): FieldIssue[] {
  if (typeof value === 'string') {
    const message = stringProblem(value);
    return message ? [{ path, rule: 'storable_text', message }] : [];
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return [{ path, rule: 'finite_number', message: 'is a number JSON cannot hold (beyond ±1.8e308)' }];
  }
  if (typeof value !== 'object' || value === null) return [];
  if (depth >= MAX_INPUT_DEPTH) {
    return [{ path, rule: 'max_depth', message: `nests deeper than ${MAX_INPUT_DEPTH} levels` }];
  }
  const issues: FieldIssue[] = [];
  for (const [key, item] of Object.entries(value)) {
    const itemPath = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const keyProblem = stringProblem(key);
    if (keyProblem) issues.push({ path: itemPath, rule: 'storable_text', message: `key ${keyProblem}` });
    issues.push(...findUnstorableInput(item, itemPath, depth + 1));
    if (issues.length >= 20) break;
  }
  return issues;
}
