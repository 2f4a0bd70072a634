/**
 * Adaptive concurrency, pure: how far a system's `max_concurrent` moves, between its bounds, from
 * what its recorded attempts say. A gradient limiter on AIMD's frame (as in Netflix's
 * concurrency-limits):
 *
 * - **Failing** (timeouts and overload answers, 5xx, 429 or no answer, are ≥ 10 % of the calls):
 *   halve the limit. A service that times out is past its capacity; every call more makes it
 *   worse, and retries come on top.
 * - **Slow** (the median latency of successful calls is more than twice the service's own
 *   baseline): shrink the limit by the latency's gradient (2 × baseline / p50, at least ½), so a
 *   service twice as slow as it may be loses half the calls it is sent at once.
 * - **Healthy and the limit binding** (steps wait for it, or as many calls are in flight as it
 *   allows): add 10 % (at least one). A limit nothing reaches does not grow.
 *
 * The baseline is the service's latency when healthy: the first healthy window sets it and a
 * faster one lowers it at once. It rises (by a tenth of the difference per window) only from
 * windows that cannot be slow because of the limit's own load: a healthy window in which the
 * limit was not reached, or one at the limit's floor while the service still answers (slow, not
 * failing): a service that stays slower there is its new normal, and the limit can grow from the
 * floor again instead of staying there for ever. A window at a binding limit never raises it:
 * the calls the limit lets in queue inside the service, and a baseline learned from that queue
 * would let the limit grow with it.
 */
import type { AdaptiveBounds } from './service-limits.ts';

/** The algorithm's constants; exported so tests and docs name the same numbers. */
export const ADAPTIVE_LIMIT_RULES = {
  /** Calls a window needs before it can move the limit. */
  minCalls: 5,
  /** Share of failing calls (timeouts and overload answers) that halves the limit. */
  failureRate: 0.1,
  /** What a failing window multiplies the limit by. */
  failureFactor: 0.5,
  /** p50 above this many times the baseline is slow. */
  latencyTolerance: 2,
  /** A slow window multiplies the limit by at least this. */
  minGradient: 0.5,
  /** A healthy window with the limit binding adds this share of it (at least 1). */
  increaseShare: 0.1,
  /** How far a slower healthy window moves the baseline toward its p50. */
  baselineLearning: 0.1,
} as const;

/**
 * What the attempts of one window say about a system: the calls that reached it (not fallbacks,
 * not stale results) that finished in the window and started under the limit in force.
 */
export type AdaptiveWindow = {
  windowMs: number;
  calls: number;
  timeouts: number;
  /** Answers that mean overload: 5xx, 429, or none (connection refused or reset). */
  overloadErrors: number;
  /** Latency of the successful calls (ms); null without any. */
  p50Ms: number | null;
  p90Ms: number | null;
};

/** Where the system stands when its window is judged. */
export type AdaptiveState = {
  limit: number;
  bounds: AdaptiveBounds;
  baselineMs: number | null;
  /** Calls in flight now. */
  inFlight: number;
  /** Whether steps wait for the limit now. */
  waiting: boolean;
};

/** The evidence of a decision, stored with every change (service_limit_changes.evidence). */
export type AdaptiveEvidence = AdaptiveWindow & {
  baselineMs: number | null;
  inFlight: number;
  waiting: boolean;
  from: number;
  to: number;
};

export type AdaptiveDecision = {
  /** The limit to put in force (equal to the state's when nothing changes). */
  limit: number;
  /** The baseline to keep. */
  baselineMs: number | null;
  /** Why, in a sentence an operator reads in the limit's history. */
  reason: string;
  evidence: AdaptiveEvidence;
};

/** The decision for one window, or null when it has too few calls to say anything. */
export function decideAdaptiveLimit(state: AdaptiveState, window: AdaptiveWindow): AdaptiveDecision | null {
  const rules = ADAPTIVE_LIMIT_RULES;
  if (window.calls < rules.minCalls) return null;
  const clamp = (n: number) => Math.max(state.bounds.min, Math.min(state.bounds.max, Math.floor(n)));
  const from = state.limit;
  const decide = (to: number, baselineMs: number | null, reason: string): AdaptiveDecision => ({
    limit: to,
    baselineMs,
    reason: to === from ? reason : `${reason}: ${from} → ${to}`,
    evidence: { ...window, baselineMs, inFlight: state.inFlight, waiting: state.waiting, from, to },
  });

  const failures = window.timeouts + window.overloadErrors;
  if (failures / window.calls >= rules.failureRate) {
    return decide(
      clamp(from * rules.failureFactor),
      state.baselineMs,
      `${failures} of ${window.calls} calls failed (${window.timeouts} timed out, ${window.overloadErrors} overloaded)`,
    );
  }
  const p50 = window.p50Ms;
  // No successful call to measure (4xx answers only): nothing says the service is slow or fast.
  if (p50 === null) return null;

  const baseline = state.baselineMs ?? p50;
  const ratio = p50 / Math.max(1, baseline);
  if (ratio > rules.latencyTolerance) {
    const gradient = Math.max(rules.minGradient, rules.latencyTolerance / ratio);
    const to = clamp(from * gradient);
    // At the floor and still answering: what the service does there becomes its normal.
    const atFloor = to === from && from === state.bounds.min;
    const learned = atFloor ? baseline + (p50 - baseline) * rules.baselineLearning : baseline;
    return decide(
      to,
      learned,
      `p50 ${p50} ms is ${ratio.toFixed(1)}× the baseline ${Math.round(baseline)} ms${atFloor ? ' (at the floor)' : ''}`,
    );
  }

  const binding = state.waiting || state.inFlight >= from;
  const learned =
    p50 < baseline || binding
      ? Math.min(baseline, p50)
      : baseline + (p50 - baseline) * rules.baselineLearning;
  const to = binding ? clamp(from + Math.max(1, Math.floor(from * rules.increaseShare))) : clamp(from);
  const health = `healthy (p50 ${p50} ms, baseline ${Math.round(baseline)} ms)`;
  return decide(to, learned, binding ? `${health}, limit reached` : `${health}, limit not reached`);
}
