/**
 * Task identity: the hash that makes creating "the same task" twice return the first one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { ValidationError } from './errors.ts';
import type { IdentityStrategy } from './template-schema.ts';

/** What a task's identity may depend on. */
export type TaskIdentityInput = {
  strategy: IdentityStrategy;
  namespace: string;
  name: string;
  version: string;
  context: unknown;
  /** The caller's idempotency key; `null`, `undefined` and `''` mean none. */
  callerKey?: string | null;
  /**
   * A key the client library made for one create and sends again on its own retries; it dedupes
   * only a `unique` task without a caller key (the other strategies dedupe those retries already).
   */
  retryKey?: string | null;
};

/**
 * SHA-256 (hex) identifying a task for deduplication:
 * - `strict`: namespace, name, version and context (key order does not matter);
 * - `caller_key`: namespace, name and the caller's key, not the version, so a client retrying
 *   with its key across a template upgrade still gets its first task;
 * - `unique`: random, so never a duplicate; with a retry key, namespace, name and that key, so
 *   a client's retry of a create whose answer it lost returns the task the first attempt made.
 *
 * An explicit caller key always wins: under `strict` or `unique` it gives the `caller_key` hash,
 * because a caller that sends a key is asking for exactly that deduplication.
 * @throws ValidationError (path `/idempotency_key`, rule `required`) for `caller_key` without a key.
 */
export function taskIdentityHash(input: TaskIdentityInput): string {
  const { strategy, namespace, name, version, context, callerKey, retryKey } = input;
  if (callerKey) return sha256(canonicalJson([namespace, name, callerKey]));
  if (strategy === 'caller_key') {
    const message = `template ${namespace}/${name} deduplicates by the caller's key; send an idempotency key`;
    throw new ValidationError('invalid task request', [
      { path: '/idempotency_key', rule: 'required', message },
    ]);
  }
  if (strategy === 'unique') {
    return retryKey
      ? sha256(canonicalJson(['retry', namespace, name, retryKey]))
      : sha256(`unique:${randomUUID()}`);
  }
  return sha256(canonicalJson([namespace, name, version, context]));
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
