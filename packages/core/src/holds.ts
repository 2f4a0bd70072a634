/**
 * What counts against a service, and when a step or a whole service is held: the policy
 * decisions behind the breakers, pure. packages/db applies them (and renders the ones the hot
 * statements need in SQL, from these same lists), so the rules are written once.
 */
import type { BreakerState } from './breaker.ts';
import type { StepStatus } from './states.ts';

/** How an attempt ended, as recorded in `step_attempts.outcome`. */
export type AttemptOutcome =
  | 'success'
  | 'retryable_error'
  | 'permanent_error'
  | 'timeout'
  | 'lease_expired'
  | 'aborted';

/**
 * Outcomes that were calls to the service. A permanent error is the caller's fault, and a lost
 * lease or an aborted attempt says nothing about the service.
 */
export const SERVICE_CALL_OUTCOMES = [
  'success',
  'retryable_error',
  'timeout',
] as const satisfies readonly AttemptOutcome[];

/** Outcomes that count against a service: it failed or did not answer in time. */
export const SERVICE_FAILURE_OUTCOMES = [
  'retryable_error',
  'timeout',
] as const satisfies readonly AttemptOutcome[];

/**
 * Whether an attempt is evidence against its service's health. A fallback never called the
 * service, so it is evidence of nothing.
 */
export function countsAgainstService(attempt: { outcome: AttemptOutcome; fallback: boolean }): boolean {
  return (
    !attempt.fallback && (SERVICE_FAILURE_OUTCOMES as readonly AttemptOutcome[]).includes(attempt.outcome)
  );
}

/** Statuses with which a service asks every caller, not only this one, to come back later. */
const SERVICE_WIDE_RETRY_AFTER = new Set([429, 503]);

/**
 * Until when a failed call holds every step of its service: a 429 or 503 with Retry-After is the
 * service asking to be left alone, so no other step should call it before then either. Other
 * Retry-After answers only delay the step that got them (see computeRetryDelayMs).
 */
export function serviceHoldUntil(
  failure: { httpStatus: number | null; retryAfterMs: number | null },
  finishedAt: Date,
): Date | null {
  if (failure.retryAfterMs === null || failure.httpStatus === null) return null;
  if (!SERVICE_WIDE_RETRY_AFTER.has(failure.httpStatus)) return null;
  return new Date(finishedAt.getTime() + failure.retryAfterMs);
}

/** The breaker fields that decide whether a step may call its service now. */
export type BreakerGate = { state: BreakerState; nextProbeAt: Date | null; holdUntil: Date | null };

/** Why a step is held, and until when it is expected to be released (null: when the breaker decides). */
export type StepHold = { reason: string; until: Date | null };

/**
 * Whether the breaker keeps a step from calling its service now, and why: an open breaker, a
 * half-open one for a step that is not its probe, or a running Retry-After hold. Rendered in
 * SQL for the claim statement (packages/db, BLOCKED_BY_BREAKER), which a test checks against
 * this function.
 */
export function blockingHold(breaker: BreakerGate, step: { probe: boolean }, now: Date): StepHold | null {
  const retryAfterRuns = breaker.holdUntil !== null && breaker.holdUntil.getTime() > now.getTime();
  const blocked =
    breaker.state === 'open' || (breaker.state === 'half_open' && !step.probe) || retryAfterRuns;
  if (!blocked) return null;
  if (breaker.state === 'closed') return { reason: 'service asked to retry later', until: breaker.holdUntil };
  return { reason: `breaker ${breaker.state}`, until: latest(breaker.nextProbeAt, breaker.holdUntil) };
}

function latest(a: Date | null, b: Date | null): Date | null {
  if (a === null || b === null) return a ?? b;
  return a.getTime() >= b.getTime() ? a : b;
}

/**
 * The two moments a step blocked by its breaker is held, and what holding it does to its
 * attempts. `from` lists the statuses the step may be held from at that moment.
 */
export const HOLD_POINTS = {
  /** A delivery found the breaker blocking: no attempt was made, none is used. */
  before_claim: { from: ['enqueued', 'waiting_retry'], uncount: false },
  /**
   * A counted failure found the breaker not closed (it may have just tripped): the step is held
   * rather than retried or failed, and the attempt is given back (`uncount`), because the outage
   * is the service's, not the step's.
   */
  after_failure: { from: ['waiting_retry', 'error'], uncount: true },
} as const satisfies Record<string, { from: readonly StepStatus[]; uncount: boolean }>;
export type HoldPoint = keyof typeof HOLD_POINTS;

/** Whether a step that just failed in a way that counts against its service is held instead. */
export function holdsAfterFailure(breakerState: BreakerState): boolean {
  return breakerState !== 'closed';
}
