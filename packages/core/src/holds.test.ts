import { describe, expect, it } from 'vitest';
import { attemptsBefore, nextAttempt } from './attempts.ts';
import {
  type BreakerGate,
  blockingHold,
  countsAgainstService,
  HOLD_POINTS,
  holdsAfterFailure,
  serviceHoldUntil,
} from './holds.ts';

const now = new Date('2026-12-04T12:00:00Z');
const later = new Date(now.getTime() + 5_000);
const evenLater = new Date(now.getTime() + 9_000);
const earlier = new Date(now.getTime() - 1_000);
const gate = (g: Partial<BreakerGate>): BreakerGate => ({
  state: 'closed',
  nextProbeAt: null,
  holdUntil: null,
  ...g,
});

describe('countsAgainstService', () => {
  it('counts retryable errors and timeouts, never a fallback, a permanent error or a lost attempt', () => {
    expect(countsAgainstService({ outcome: 'retryable_error', fallback: false })).toBe(true);
    expect(countsAgainstService({ outcome: 'timeout', fallback: false })).toBe(true);
    expect(countsAgainstService({ outcome: 'timeout', fallback: true })).toBe(false);
    for (const outcome of ['success', 'permanent_error', 'lease_expired', 'aborted'] as const) {
      expect(countsAgainstService({ outcome, fallback: false })).toBe(false);
    }
  });
});

describe('serviceHoldUntil', () => {
  it('holds the whole service for a 429 or 503 with Retry-After, from when the call finished', () => {
    expect(serviceHoldUntil({ httpStatus: 429, retryAfterMs: 5_000 }, now)).toEqual(later);
    expect(serviceHoldUntil({ httpStatus: 503, retryAfterMs: 5_000 }, now)).toEqual(later);
  });

  it('does not hold the service for other statuses or without Retry-After', () => {
    expect(serviceHoldUntil({ httpStatus: 500, retryAfterMs: 5_000 }, now)).toBeNull();
    expect(serviceHoldUntil({ httpStatus: 503, retryAfterMs: null }, now)).toBeNull();
    expect(serviceHoldUntil({ httpStatus: null, retryAfterMs: 5_000 }, now)).toBeNull();
  });
});

describe('blockingHold', () => {
  it('lets every step through a closed breaker with no Retry-After hold running', () => {
    expect(blockingHold(gate({}), { probe: false }, now)).toBeNull();
    expect(blockingHold(gate({ holdUntil: earlier }), { probe: false }, now)).toBeNull();
  });

  it('blocks every step while open, until the later of the probe time and the hold', () => {
    const open = gate({ state: 'open', nextProbeAt: later, holdUntil: evenLater });
    expect(blockingHold(open, { probe: true }, now)).toEqual({ reason: 'breaker open', until: evenLater });
    expect(blockingHold(gate({ state: 'open', nextProbeAt: later }), { probe: false }, now)).toEqual({
      reason: 'breaker open',
      until: later,
    });
  });

  it('lets only the probe through a half-open breaker', () => {
    const halfOpen = gate({ state: 'half_open' });
    expect(blockingHold(halfOpen, { probe: true }, now)).toBeNull();
    expect(blockingHold(halfOpen, { probe: false }, now)).toEqual({
      reason: 'breaker half_open',
      until: null,
    });
  });

  it('blocks everything, probes included, while a Retry-After hold runs', () => {
    expect(blockingHold(gate({ holdUntil: later }), { probe: false }, now)).toEqual({
      reason: 'service asked to retry later',
      until: later,
    });
    expect(blockingHold(gate({ state: 'half_open', holdUntil: later }), { probe: true }, now)).toEqual({
      reason: 'breaker half_open',
      until: later,
    });
  });
});

describe('holding a failed step', () => {
  it('holds it while the breaker is not closed, giving the attempt back', () => {
    expect(holdsAfterFailure('closed')).toBe(false);
    expect(holdsAfterFailure('open')).toBe(true);
    expect(holdsAfterFailure('half_open')).toBe(true);
    expect(HOLD_POINTS.after_failure.uncount).toBe(true);
    expect(HOLD_POINTS.before_claim.uncount).toBe(false);
  });
});

describe('the attempt convention', () => {
  it('dispatches attempt N + 1 after N attempts, and claims attempt N after N - 1', () => {
    expect(nextAttempt(0)).toBe(1);
    expect(attemptsBefore(nextAttempt(3))).toBe(3);
  });
});
