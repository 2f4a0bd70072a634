/**
 * Retry delays: capped exponential backoff with full jitter, as measured in "Exponential Backoff
 * And Jitter" (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): full
 * jitter spreads the retries of many tasks that failed together, so a recovering service is not
 * hit by all of them at the same instant.
 */
import type { RetryPolicy } from './template-schema.ts';

/** Options of {@link computeRetryDelayMs}. */
export type RetryDelayOptions = {
  /** The delay the failed call asked for (429/503 `Retry-After`); wins over the backoff. */
  retryAfterMs?: number | null;
  /** Source of jitter in [0, 1); default `Math.random`. Injected by tests. */
  random?: () => number;
};

/**
 * Milliseconds to wait before the next attempt.
 * - With `retryAfterMs`: `min(retryAfterMs, backoff_cap_ms)`, no jitter (the service named its time;
 *   the cap keeps a hostile or buggy header from parking a step for days).
 * - Else `min(backoff_base_ms * 2^(attempt-1), backoff_cap_ms)`, and with `jitter` a random integer
 *   in `[0, that)` (full jitter).
 * @param attempt the attempt that just failed, 1-based.
 */
export function computeRetryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  options: RetryDelayOptions = {},
): number {
  const { retryAfterMs, random = Math.random } = options;
  if (retryAfterMs != null && Number.isFinite(retryAfterMs)) {
    return Math.min(Math.max(0, Math.ceil(retryAfterMs)), policy.backoff_cap_ms);
  }
  // The exponent is clamped because 2 ** 1024 is Infinity, and 0 * Infinity (a zero base) is NaN.
  const exponential = policy.backoff_base_ms * 2 ** Math.min(Math.max(0, attempt - 1), 64);
  const capped = Math.min(exponential, policy.backoff_cap_ms);
  return policy.jitter ? Math.floor(random() * capped) : capped;
}
