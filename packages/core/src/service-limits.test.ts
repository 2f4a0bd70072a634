import { describe, expect, it } from 'vitest';
import {
  decideLimitRelease,
  isLimited,
  refillTokens,
  resolveServiceLimit,
  splitSystemPolicy,
} from './service-limits.ts';

const at = (ms: number) => new Date(1_700_000_000_000 + ms);

describe('resolveServiceLimit', () => {
  it('is no limit by default, and a burst of ceil(rate) with a rate', () => {
    expect(resolveServiceLimit({})).toEqual({ maxConcurrent: null, rate: null, burst: null });
    expect(isLimited(resolveServiceLimit({}))).toBe(false);
    expect(resolveServiceLimit({ max_concurrent: 4, rate: 2.5 })).toEqual({
      maxConcurrent: 4,
      rate: 2.5,
      burst: 3,
    });
    expect(resolveServiceLimit({ rate: 0.2 }).burst).toBe(1);
  });

  it('names the field and the rule of a bad limit', () => {
    expect(() => resolveServiceLimit({ max_concurrent: 0 })).toThrow(/max_concurrent|>=1/);
    expect(() => resolveServiceLimit({ burst: 3 })).toThrow(/burst needs a rate/);
    expect(() => resolveServiceLimit({ rate: -1 })).toThrow();
    expect(() => resolveServiceLimit({ max_concurent: 3 } as never)).toThrow(/max_concurent/);
  });
});

describe('splitSystemPolicy', () => {
  it('separates the limit keys from the breaker policy', () => {
    expect(splitSystemPolicy({ open_ms: 1000, max_concurrent: 4, rate: 5, burst: 2 })).toEqual({
      breaker: { open_ms: 1000 },
      limit: { max_concurrent: 4, rate: 5, burst: 2 },
    });
    expect(splitSystemPolicy({ open_ms: 1000 })).toEqual({ breaker: { open_ms: 1000 }, limit: null });
  });
});

describe('refillTokens', () => {
  const limit = resolveServiceLimit({ rate: 4, burst: 2 });
  it('adds rate tokens a second up to the burst', () => {
    expect(refillTokens(limit, { tokens: 0, refilledAt: at(0) }, at(250))).toBeCloseTo(1);
    expect(refillTokens(limit, { tokens: 0, refilledAt: at(0) }, at(10_000))).toBe(2);
    // Below zero: tokens promised to released steps are paid back first.
    expect(refillTokens(limit, { tokens: -1, refilledAt: at(0) }, at(500))).toBeCloseTo(1);
  });
  it('is unbounded without a rate', () => {
    expect(
      refillTokens(resolveServiceLimit({ max_concurrent: 1 }), { tokens: 0, refilledAt: at(0) }, at(0)),
    ).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('decideLimitRelease', () => {
  const usage = { inFlight: 0, reserved: 0, waiting: 0, tokens: 0, refilledAt: at(0) };

  it('releases as many waiting steps as slots are free, counting the reserved ones as taken', () => {
    const limit = resolveServiceLimit({ max_concurrent: 4 });
    expect(
      decideLimitRelease(limit, { ...usage, inFlight: 1, reserved: 1, waiting: 10 }, at(0), 2_000),
    ).toEqual([0, 0]);
    expect(decideLimitRelease(limit, { ...usage, inFlight: 4, waiting: 10 }, at(0), 2_000)).toEqual([]);
    expect(decideLimitRelease(limit, { ...usage, inFlight: 0, waiting: 1 }, at(0), 2_000)).toEqual([0]);
  });

  it('releases waiting steps with the delay until their token is due, within the horizon', () => {
    const limit = resolveServiceLimit({ rate: 5, burst: 1 });
    // One token now, then one every 200 ms (+5 ms so it is there when the step arrives).
    expect(decideLimitRelease(limit, { ...usage, tokens: 1, waiting: 20 }, at(0), 1_000)).toEqual([
      0, 205, 405, 605, 805,
    ]);
    // Tokens already promised (below zero) come first.
    expect(decideLimitRelease(limit, { ...usage, tokens: -1, waiting: 20 }, at(0), 500)).toEqual([405]);
  });

  it('takes the tighter of the two limits', () => {
    const limit = resolveServiceLimit({ max_concurrent: 2, rate: 100, burst: 100 });
    expect(decideLimitRelease(limit, { ...usage, tokens: 100, waiting: 20 }, at(0), 1_000)).toEqual([0, 0]);
  });
});
