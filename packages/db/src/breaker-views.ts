/**
 * Breakers as operators see them: state, policy, recent calls and failures, held steps and
 * probes in flight.
 */
import { BREAKER_POLICY_DEFAULTS, type BreakerPolicy, type BreakerState } from '@switchyard/core';
import { CALL_OUTCOMES, FAILURE_OUTCOMES } from './breaker-sql.ts';
import type { Queryable } from './pool.ts';

/** One breaker as operators see it. */
export type BreakerView = {
  dependentSystem: string;
  state: BreakerState;
  since: Date;
  nextProbeAt: Date | null;
  tripCount: number;
  forced: 'open' | 'closed' | null;
  holdUntil: Date | null;
  policy: BreakerPolicy;
  releaseRate: number;
  /** Over the policy's window. */
  recent: { calls: number; failures: number; windowMs: number };
  heldSteps: number;
  probesInFlight: number;
};

const VIEW_SQL = `
SELECT b.dependent_system AS "dependentSystem", b.state, b.since, b.next_probe_at AS "nextProbeAt",
       b.trip_count AS "tripCount", b.forced, b.hold_until AS "holdUntil", b.policy, b.release_rate AS "releaseRate",
       (SELECT json_build_object(
                 'calls', count(*) FILTER (WHERE a.outcome IN ${CALL_OUTCOMES}),
                 'failures', count(*) FILTER (WHERE a.outcome IN ${FAILURE_OUTCOMES}),
                 'windowMs', (b.policy->>'window_ms')::int)
          FROM step_attempts a
         WHERE a.dependent_system = b.dependent_system AND NOT a.fallback
           AND a.finished_at > clock_timestamp() - (b.policy->>'window_ms')::int * interval '1 millisecond') AS recent,
       (SELECT count(*)::int FROM workflow_steps s WHERE s.dependent_system = b.dependent_system AND s.status = 'held') AS "heldSteps",
       (SELECT count(*)::int FROM workflow_steps s WHERE s.dependent_system = b.dependent_system AND s.probe
           AND s.status IN ('enqueued', 'in_progress')) AS "probesInFlight"
  FROM circuit_breakers b`;

/** Every breaker with its recent counts, held steps and probes in flight. */
export async function listBreakers(
  db: Queryable,
  input: { dependentSystem?: string } = {},
): Promise<BreakerView[]> {
  const { rows } = await db.query(
    `${VIEW_SQL} WHERE $1::text IS NULL OR b.dependent_system = $1 ORDER BY b.dependent_system`,
    [input.dependentSystem ?? null],
  );
  return rows.map((row) => ({ ...row, policy: { ...BREAKER_POLICY_DEFAULTS, ...row.policy } }));
}
