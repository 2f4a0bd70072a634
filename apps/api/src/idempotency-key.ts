import { CALLER_KEY_PATH, ValidationError } from '@switchyard/core';

/**
 * Where a problem document points for the caller's key. Over HTTP the key travels in the
 * `Idempotency-Key` header, and header issues are pointers under `/headers` (problem.ts), as
 * Fastify reports an over-long key; a body pointer would name a field the body refuses.
 */
export const IDEMPOTENCY_KEY_HEADER_PATH = '/headers/idempotency-key';

/** Rethrows `err`, its missing-caller-key issue (if any) pointed at the Idempotency-Key header. */
export function pointKeyIssuesAtHeader(err: unknown): never {
  if (!(err instanceof ValidationError) || !err.issues.some((issue) => issue.path === CALLER_KEY_PATH))
    throw err;
  const issues = err.issues.map((issue) =>
    issue.path === CALLER_KEY_PATH ? { ...issue, path: IDEMPOTENCY_KEY_HEADER_PATH } : issue,
  );
  throw new ValidationError(err.message, issues, { cause: err });
}
