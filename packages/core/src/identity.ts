/**
 * Task identity: the hash that makes creating "the same task" twice return the first one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { type FieldIssue, ValidationError } from './errors.ts';
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
 * Where a missing caller key is reported: the key's wire name. (The HTTP API, where the key
 * travels in the `Idempotency-Key` header, points its problem document at that header.)
 */
export const CALLER_KEY_PATH = '/idempotency_key';

/** Which template, and the key its create was given; `null`, `undefined` and `''` mean none. */
export type CallerKeyInput = Pick<TaskIdentityInput, 'strategy' | 'namespace' | 'name' | 'callerKey'>;

/**
 * The one check that a `caller_key` template gets its caller's key: the issue to report when
 * the key is missing, or null. For callers that gather every issue before answering.
 */
export function missingCallerKeyIssue(input: CallerKeyInput): FieldIssue | null {
  if (input.strategy !== 'caller_key' || input.callerKey) return null;
  const message = `template ${input.namespace}/${input.name} deduplicates by the caller's key; send an idempotency key`;
  return { path: CALLER_KEY_PATH, rule: 'required', message };
}

/** @throws ValidationError (path {@link CALLER_KEY_PATH}, rule `required`) for `caller_key` without a key. */
export function assertCallerKeyGiven(input: CallerKeyInput): void {
  const issue = missingCallerKeyIssue(input);
  if (issue) throw new ValidationError('invalid task request', [issue]);
}

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
 * @throws ValidationError for `caller_key` without a key (see {@link assertCallerKeyGiven}).
 */
export function taskIdentityHash(input: TaskIdentityInput): string {
  const { strategy, namespace, name, version, context, callerKey, retryKey } = input;
  assertCallerKeyGiven(input);
  if (callerKey) return sha256(canonicalJson([namespace, name, callerKey]));
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
