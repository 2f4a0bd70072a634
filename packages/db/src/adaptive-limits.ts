/**
 * The adaptive limiter's reads and writes: which systems are due a judgement, what their recorded
 * attempts say (the window), and putting a decision in force with its evidence. The decision
 * itself is pure (decideAdaptiveLimit in @switchyard/core).
 */
import type { AdaptiveBounds, AdaptiveDecision, AdaptiveWindow } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** An adaptive system due a judgement, locked for it. */
export type AdaptiveCandidate = {
  dependentSystem: string;
  limit: number;
  bounds: AdaptiveBounds;
  baselineMs: number | null;
  /** When its limit in force last changed (any source); the window counts calls started since. */
  changedAt: Date | null;
  inFlight: number;
  waiting: boolean;
};

/**
 * Locks the adaptive systems not judged for `everyMs` whose limit is not overridden (an override
 * pauses the limiter), skipping any another scheduler replica holds. Run in a transaction and
 * keep it short: a claim of the system waits for the same row lock.
 */
export async function lockAdaptiveLimitsDue(
  db: Queryable,
  input: { everyMs: number },
): Promise<AdaptiveCandidate[]> {
  const { rows } = await db.query(
    `SELECT l.dependent_system AS "dependentSystem", l.max_concurrent AS "limit", l.adaptive AS bounds,
            l.baseline_latency_ms AS "baselineMs",
            (SELECT c.created_at FROM service_limit_changes c WHERE c.dependent_system = l.dependent_system
              ORDER BY c.id DESC LIMIT 1) AS "changedAt",
            u.in_flight AS "inFlight", u.waiters AS waiting
       FROM service_limits l
       CROSS JOIN LATERAL switchyard_limit_usage(l.dependent_system, clock_timestamp()) u
      WHERE l.adaptive IS NOT NULL AND l.override IS NULL AND l.max_concurrent IS NOT NULL
        AND (l.adapted_at IS NULL OR l.adapted_at <= clock_timestamp() - $1 * interval '1 millisecond')
      ORDER BY l.dependent_system
        FOR UPDATE OF l SKIP LOCKED`,
    [input.everyMs],
  );
  return rows.map((row) => ({
    dependentSystem: row.dependentSystem,
    limit: row.limit,
    bounds: { min: row.bounds.min, max: row.bounds.max },
    baselineMs: row.baselineMs,
    changedAt: row.changedAt,
    inFlight: row.inFlight,
    waiting: row.waiting,
  }));
}

/**
 * What a system's calls said in the last `windowMs`: those that reached it (not fallbacks, not
 * attempts that answered without a call, not stale results, not attempts lost with their worker)
 * and started at or after `since`, so a
 * window judges the limit in force when its calls started. Overload answers are 5xx, 429, and a
 * retryable error without an HTTP status (refused or reset).
 */
export async function readAdaptiveWindow(
  db: Queryable,
  input: { dependentSystem: string; windowMs: number; since: Date | null },
): Promise<AdaptiveWindow> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS calls,
            count(*) FILTER (WHERE outcome = 'timeout')::int AS timeouts,
            count(*) FILTER (WHERE outcome <> 'success' AND outcome <> 'timeout'
                               AND (http_status >= 500 OR http_status = 429
                                    OR (outcome = 'retryable_error' AND http_status IS NULL)))::int AS overload,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome = 'success') AS p50,
            percentile_disc(0.9) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome = 'success') AS p90
       FROM step_attempts
      WHERE dependent_system = $1 AND finished_at > clock_timestamp() - $2 * interval '1 millisecond'
        AND ($3::timestamptz IS NULL OR started_at >= $3)
        AND NOT stale AND NOT fallback AND called
        AND outcome IN ('success', 'retryable_error', 'permanent_error', 'timeout')`,
    [input.dependentSystem, input.windowMs, input.since],
  );
  const row = rows[0];
  return {
    windowMs: input.windowMs,
    calls: row.calls,
    timeouts: row.timeouts,
    overloadErrors: row.overload,
    p50Ms: row.p50,
    p90Ms: row.p90,
  };
}

/**
 * Records a judgement of a locked system: its baseline and when it was judged, and, when the
 * decision moves the limit, the new limit in force with a change carrying the evidence.
 * `decision` null: the window said nothing; only the time of the judgement is kept.
 */
export async function recordAdaptiveDecision(
  db: Queryable,
  input: { dependentSystem: string; decision: AdaptiveDecision | null; actor: string },
): Promise<void> {
  const { dependentSystem, decision, actor } = input;
  if (!decision) {
    await db.query('UPDATE service_limits SET adapted_at = clock_timestamp() WHERE dependent_system = $1', [
      dependentSystem,
    ]);
    return;
  }
  await db.query(
    `WITH updated AS (
       UPDATE service_limits
          SET baseline_latency_ms = $3, adapted_at = clock_timestamp(),
              adaptive_limit = $2, max_concurrent = $2,
              updated_at = CASE WHEN max_concurrent IS DISTINCT FROM $2 THEN clock_timestamp() ELSE updated_at END
        WHERE dependent_system = $1
       RETURNING max_concurrent, rate_per_second, burst
     )
     INSERT INTO service_limit_changes
       (dependent_system, max_concurrent, rate_per_second, burst, source, reason, actor, evidence)
     SELECT $1, max_concurrent, rate_per_second, burst, 'adaptive', $4, $5, $6::jsonb
       FROM updated WHERE $7`,
    [
      dependentSystem,
      decision.limit,
      decision.baselineMs,
      decision.reason,
      actor,
      JSON.stringify(decision.evidence),
      decision.evidence.from !== decision.evidence.to,
    ],
  );
}
