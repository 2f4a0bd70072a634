import { describe, expect, it } from 'vitest';
import { computeRetryDelayMs } from './backoff.ts';

const policy = { max_attempts: 5, backoff_base_ms: 1000, backoff_cap_ms: 10_000, jitter: false };

describe('computeRetryDelayMs', () => {
  it('doubles per attempt from the base, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => computeRetryDelayMs(policy, attempt))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
  });

  it('applies full jitter with the injected random source', () => {
    const jittered = { ...policy, jitter: true };
    expect(computeRetryDelayMs(jittered, 3, { random: () => 0 })).toBe(0);
    expect(computeRetryDelayMs(jittered, 3, { random: () => 0.999 })).toBe(3996);
    expect(computeRetryDelayMs(jittered, 10, { random: () => 0.999 })).toBe(9990);
    expect(computeRetryDelayMs(jittered, 3, { random: () => 0.5 })).toBe(2000);
  });

  it('lets retry-after win, without jitter, capped at the cap', () => {
    const jittered = { ...policy, jitter: true };
    expect(computeRetryDelayMs(jittered, 1, { retryAfterMs: 7000, random: () => 0 })).toBe(7000);
    expect(computeRetryDelayMs(jittered, 1, { retryAfterMs: 3_600_000 })).toBe(10_000);
    expect(computeRetryDelayMs(jittered, 1, { retryAfterMs: 0 })).toBe(0);
    expect(computeRetryDelayMs(policy, 2, { retryAfterMs: null })).toBe(2000);
  });

  it('stays finite for huge attempt numbers and a zero base', () => {
    expect(computeRetryDelayMs(policy, 5000)).toBe(10_000);
    expect(computeRetryDelayMs({ ...policy, backoff_base_ms: 0, backoff_cap_ms: 0 }, 5000)).toBe(0);
  });
});
