/**
 * Postgres or Redis is missing and cannot be started here. The message says what to run or
 * set; callers print it as it is and exit (status 2), without a stack trace.
 */
export class LocalInfraError extends Error {
  override name = 'LocalInfraError';
}
