import { describe, expect, it } from 'vitest';
import {
  type BreakerEvidence,
  type BreakerRow,
  decideBreaker,
  decideRelease,
  nextReleaseRate,
  openDurationMs,
  resolveBreakerPolicy,
  tripReason,
} from './breaker.ts';

const policy = resolveBreakerPolicy({
  min_calls: 4,
  consecutive_failures: 3,
  open_ms: 1_000,
  open_max_ms: 5_000,
  open_jitter: 0,
});
const now = new Date('2026-11-28T00:00:00Z');
const closed: BreakerRow = { state: 'closed', since: now, nextProbeAt: null, tripCount: 0, forced: null };
const evidence = (e: Partial<BreakerEvidence>): BreakerEvidence => ({
  calls: 0,
  failures: 0,
  consecutiveFailures: 0,
  probeSuccesses: 0,
  probeFailures: 0,
  ...e,
});

describe('breaker policy', () => {
  it('fills defaults and rejects bad values', () => {
    expect(resolveBreakerPolicy({}).window_ms).toBe(60_000);
    expect(policy.min_calls).toBe(4);
    expect(() => resolveBreakerPolicy({ failure_rate_threshold: 2 })).toThrow();
    expect(() => resolveBreakerPolicy({ unknown: 1 } as never)).toThrow();
  });

  it('opens for longer on each trip in a row, up to the cap, with jitter around it', () => {
    expect([1, 2, 3, 4].map((trip) => openDurationMs(policy, trip))).toEqual([1_000, 2_000, 4_000, 5_000]);
    const jittery = resolveBreakerPolicy({ open_ms: 1_000, open_jitter: 0.1 });
    expect(openDurationMs(jittery, 1, () => 0)).toBe(900);
    expect(openDurationMs(jittery, 1, () => 1)).toBe(1_100);
  });

  it('ramps releases up, doubling to the cap', () => {
    const p = resolveBreakerPolicy({ release_initial: 5, release_max: 30 });
    expect([0, 5, 10, 20].map((prev) => nextReleaseRate(p, prev))).toEqual([5, 10, 20, 30]);
  });
});

describe('decideBreaker', () => {
  it('trips on consecutive failures, or on the failure rate once there are enough calls', () => {
    expect(tripReason(policy, evidence({ calls: 3, failures: 3, consecutiveFailures: 3 }))).toMatch(
      /3 consecutive/,
    );
    expect(tripReason(policy, evidence({ calls: 3, failures: 2, consecutiveFailures: 1 }))).toBeNull();
    expect(tripReason(policy, evidence({ calls: 4, failures: 2, consecutiveFailures: 1 }))).toMatch(
      /failure rate 50%/,
    );
    const decision = decideBreaker(
      policy,
      closed,
      evidence({ calls: 3, failures: 3, consecutiveFailures: 3 }),
      now,
    );
    expect(decision).toEqual({
      to: 'open',
      reason: expect.any(String),
      tripCount: 1,
      nextProbeAt: new Date(now.getTime() + 1_000),
    });
  });

  it('stays closed without evidence, and ignores everything while forced', () => {
    expect(decideBreaker(policy, closed, evidence({ calls: 10 }), now)).toBeNull();
    const forced = { ...closed, forced: 'closed' as const };
    expect(
      decideBreaker(policy, forced, evidence({ calls: 9, failures: 9, consecutiveFailures: 9 }), now),
    ).toBeNull();
  });

  it('turns half-open when the probe time comes, not before', () => {
    const open: BreakerRow = {
      ...closed,
      state: 'open',
      tripCount: 1,
      nextProbeAt: new Date(now.getTime() + 1),
    };
    expect(decideBreaker(policy, open, evidence({}), now)).toBeNull();
    expect(decideBreaker(policy, { ...open, nextProbeAt: now }, evidence({}), now)).toMatchObject({
      to: 'half_open',
    });
  });

  it('reopens for longer on a probe failure and closes after enough probe successes', () => {
    const half: BreakerRow = { ...closed, state: 'half_open', tripCount: 2 };
    expect(decideBreaker(policy, half, evidence({ probeFailures: 1 }), now)).toMatchObject({
      to: 'open',
      tripCount: 3,
      nextProbeAt: new Date(now.getTime() + 4_000),
    });
    expect(decideBreaker(policy, half, evidence({ probeSuccesses: 1 }), now)).toBeNull();
    expect(decideBreaker(policy, half, evidence({ probeSuccesses: 2 }), now)).toMatchObject({ to: 'closed' });
  });
});

describe('decideRelease', () => {
  const view = { state: 'closed' as const, holding: false, held: 40, probesInFlight: 0, releaseRate: 0 };
  it('releases nothing while open or under a Retry-After hold', () => {
    expect(decideRelease(policy, { ...view, state: 'open' }).limit).toBe(0);
    expect(decideRelease(policy, { ...view, holding: true }).limit).toBe(0);
  });

  it('releases probes up to the limit while half-open', () => {
    const p = resolveBreakerPolicy({ half_open_max_probes: 2 });
    expect(decideRelease(p, { ...view, state: 'half_open' })).toMatchObject({ limit: 2, asProbes: true });
    expect(decideRelease(p, { ...view, state: 'half_open', probesInFlight: 2 }).limit).toBe(0);
  });

  it('ramps once closed and resets the ramp when nothing is held', () => {
    expect(decideRelease(policy, view)).toEqual({ limit: 5, asProbes: false, releaseRate: 5 });
    expect(decideRelease(policy, { ...view, releaseRate: 5 })).toEqual({
      limit: 10,
      asProbes: false,
      releaseRate: 10,
    });
    expect(decideRelease(policy, { ...view, held: 0, releaseRate: 10 })).toEqual({
      limit: 0,
      asProbes: false,
      releaseRate: 0,
    });
  });
});
