/**
 * Circuit breaker policy and decisions, pure. One breaker per dependent system; its state is
 * derived from the persisted attempt history (packages/db/src/breaker-state.ts gathers the evidence,
 * these functions decide), so every worker and scheduler replica reaches the same verdict and a
 * restart changes nothing.
 */
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/** A breaker policy as configured; every field is optional and defaults as documented. */
export const BreakerPolicyInputSchema = z.strictObject({
  /** Rolling window the failure rate is computed over (ms). Default 60 000. */
  window_ms: int(1_000).optional(),
  /** Calls in the window before the failure rate may trip the breaker. Default 10. */
  min_calls: int(1).optional(),
  /** Failure rate (0..1) over the window that trips the breaker. Default 0.5. */
  failure_rate_threshold: z.number().gt(0).max(1).optional(),
  /** Consecutive failures that trip the breaker whatever the rate. Default 5. */
  consecutive_failures: int(1).optional(),
  /** How long the first trip stays open (ms); doubles with each trip in a row. Default 30 000. */
  open_ms: int(100).optional(),
  /** Longest open period (ms). Default 600 000 (10 minutes). */
  open_max_ms: int(100).optional(),
  /** Random spread of the open period, ± this fraction, so replicas of a fleet do not probe in step. Default 0.1. */
  open_jitter: z.number().min(0).max(0.5).optional(),
  /** Probe steps in flight at once while half-open. Default 1. */
  half_open_max_probes: int(1, 100).optional(),
  /** Probe successes that close the breaker. Default 2. */
  close_after_successes: int(1, 100).optional(),
  /** Held steps released in the first scheduler sweep after closing; doubles every sweep. Default 5. */
  release_initial: int(1).optional(),
  /** Most held steps released per sweep. Default 200. */
  release_max: int(1).optional(),
});
export type BreakerPolicyInput = z.input<typeof BreakerPolicyInputSchema>;
export type BreakerPolicy = Required<z.output<typeof BreakerPolicyInputSchema>>;

export const BREAKER_POLICY_DEFAULTS: BreakerPolicy = {
  window_ms: 60_000,
  min_calls: 10,
  failure_rate_threshold: 0.5,
  consecutive_failures: 5,
  open_ms: 30_000,
  open_max_ms: 600_000,
  open_jitter: 0.1,
  half_open_max_probes: 1,
  close_after_successes: 2,
  release_initial: 5,
  release_max: 200,
};

/** The policy in force: defaults overlaid with what is configured for the system. */
export function resolveBreakerPolicy(input: BreakerPolicyInput = {}): BreakerPolicy {
  const parsed = BreakerPolicyInputSchema.parse(input);
  const defined = Object.fromEntries(Object.entries(parsed).filter(([, value]) => value !== undefined));
  return { ...BREAKER_POLICY_DEFAULTS, ...defined };
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** What the attempt history says about one system (gathered in one query). */
export type BreakerEvidence = {
  /** Calls finished within the window: successes plus failures (permanent errors and fallbacks excluded). */
  calls: number;
  failures: number;
  /** Failures since the most recent success, newest first, capped at the policy's consecutive_failures. */
  consecutiveFailures: number;
  /** Since the breaker turned half-open: probe successes and failures. */
  probeSuccesses: number;
  probeFailures: number;
};

export type BreakerRow = {
  state: BreakerState;
  since: Date;
  nextProbeAt: Date | null;
  tripCount: number;
  forced: 'open' | 'closed' | null;
};

export type BreakerDecision =
  | { to: 'open'; reason: string; nextProbeAt: Date; tripCount: number }
  | { to: 'half_open'; reason: string }
  | { to: 'closed'; reason: string };

/** How long the breaker stays open after its `tripCount`-th trip in a row (1-based). */
export function openDurationMs(
  policy: BreakerPolicy,
  tripCount: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.open_max_ms, policy.open_ms * 2 ** Math.max(0, tripCount - 1));
  const spread = base * policy.open_jitter * (2 * random() - 1);
  return Math.max(1, Math.round(Math.min(policy.open_max_ms, base + spread)));
}

/** Whether the evidence trips a closed breaker, and why. */
export function tripReason(policy: BreakerPolicy, evidence: BreakerEvidence): string | null {
  if (evidence.consecutiveFailures >= policy.consecutive_failures) {
    return `${evidence.consecutiveFailures} consecutive failures (threshold ${policy.consecutive_failures})`;
  }
  if (
    evidence.calls >= policy.min_calls &&
    evidence.failures / evidence.calls >= policy.failure_rate_threshold
  ) {
    const rate = Math.round((100 * evidence.failures) / evidence.calls);
    return `failure rate ${rate}% over ${evidence.calls} calls in ${policy.window_ms} ms (threshold ${Math.round(100 * policy.failure_rate_threshold)}%)`;
  }
  return null;
}

/**
 * The breaker's next state, or null to stay. A forced state wins until an operator resets it.
 * closed → open on a trip; open → half_open when its probe time comes; half_open → open on a
 * probe failure (for longer), → closed after enough probe successes.
 */
export function decideBreaker(
  policy: BreakerPolicy,
  row: BreakerRow,
  evidence: BreakerEvidence,
  now: Date,
  random: () => number = Math.random,
): BreakerDecision | null {
  if (row.forced) return null;
  const reopen = (reason: string): BreakerDecision => {
    const tripCount = row.tripCount + 1;
    return {
      to: 'open',
      reason,
      tripCount,
      nextProbeAt: new Date(now.getTime() + openDurationMs(policy, tripCount, random)),
    };
  };
  if (row.state === 'closed') {
    const reason = tripReason(policy, evidence);
    return reason ? reopen(reason) : null;
  }
  if (row.state === 'open') {
    return row.nextProbeAt && row.nextProbeAt <= now
      ? { to: 'half_open', reason: 'open period over; probing' }
      : null;
  }
  if (evidence.probeFailures > 0) return reopen('probe failed');
  if (evidence.probeSuccesses >= policy.close_after_successes) {
    return { to: 'closed', reason: `${evidence.probeSuccesses} probe successes` };
  }
  return null;
}

/** Held steps to release in a sweep: doubling from `release_initial`, capped by `release_max`. */
export function nextReleaseRate(policy: BreakerPolicy, previous: number): number {
  return previous <= 0 ? policy.release_initial : Math.min(policy.release_max, previous * 2);
}

/** What a scheduler sweep sees of one breaker's held steps. */
export type HeldStepsView = {
  state: BreakerState;
  /** A Retry-After hold is still running. */
  holding: boolean;
  held: number;
  probesInFlight: number;
  /** Released in the previous sweep's ramp step (0 when no ramp is running). */
  releaseRate: number;
};

/**
 * How many held steps a sweep releases, and whether as probes: while half-open, up to the probe
 * limit minus the probes in flight; once closed (and no Retry-After hold runs), the next step
 * of the ramp. `releaseRate` is what to remember for the next sweep.
 */
export function decideRelease(
  policy: BreakerPolicy,
  view: HeldStepsView,
): { limit: number; asProbes: boolean; releaseRate: number } {
  if (view.held === 0) return { limit: 0, asProbes: false, releaseRate: 0 };
  if (view.state === 'half_open') {
    const limit = Math.max(0, policy.half_open_max_probes - view.probesInFlight);
    return { limit, asProbes: true, releaseRate: view.releaseRate };
  }
  if (view.state === 'open' || view.holding)
    return { limit: 0, asProbes: false, releaseRate: view.releaseRate };
  const rate = nextReleaseRate(policy, view.releaseRate);
  return { limit: rate, asProbes: false, releaseRate: rate };
}
