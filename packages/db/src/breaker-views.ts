/**
 * Breakers as operators see them: state, policy, recent calls and failures, held steps and
 * probes in flight.
 */
import {
  BREAKER_POLICY_DEFAULTS,
  type BreakerPolicy,
  type BreakerState,
  WEBHOOK_SYSTEM_PREFIX,
} from '@switchyard/core';
import { CALL_OUTCOMES, FAILURE_OUTCOMES } from './breaker-sql.ts';
import type { BreakerKind } from './breaker-state.ts';
import type { Queryable } from './pool.ts';
import { LIMIT_REASONS } from './service-limit-sql.ts';

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
  /** Over the policy's window (a webhook receiver's: its delivery attempts). */
  recent: { calls: number; failures: number; windowMs: number };
  /** Held steps; for a webhook receiver (`webhook:<id>`), its held deliveries. */
  heldSteps: number;
  /** Probe steps, or a webhook receiver's probe deliveries, not finished yet. */
  probesInFlight: number;
};

const WEBHOOK_KIND = 'webhook' satisfies BreakerKind;

/** SQL: the webhook id of breaker `b` when it guards a webhook receiver (named `webhook:<id>`), else null. */
const WEBHOOK_ID = `(CASE WHEN b.kind = '${WEBHOOK_KIND}' THEN substr(b.dependent_system, ${WEBHOOK_SYSTEM_PREFIX.length + 1})::uuid END)`;

const VIEW_SQL = `
SELECT b.dependent_system AS "dependentSystem", b.state, b.since, b.next_probe_at AS "nextProbeAt",
       b.trip_count AS "tripCount", b.forced, b.hold_until AS "holdUntil", b.policy, b.release_rate AS "releaseRate",
       (SELECT json_build_object(
                 'calls', count(*) FILTER (WHERE c.call),
                 'failures', count(*) FILTER (WHERE c.failed),
                 'windowMs', (b.policy->>'window_ms')::int)
          FROM (SELECT a.outcome IN ${CALL_OUTCOMES} AS call, a.outcome IN ${FAILURE_OUTCOMES} AS failed
                  FROM step_attempts a
                 WHERE a.dependent_system = b.dependent_system AND NOT a.fallback AND a.called
                   AND a.finished_at > clock_timestamp() - (b.policy->>'window_ms')::int * interval '1 millisecond'
                UNION ALL
                SELECT true, w.outcome <> 'success' FROM webhook_delivery_attempts w
                 WHERE w.dependent_system = b.dependent_system
                   AND w.finished_at > clock_timestamp() - (b.policy->>'window_ms')::int * interval '1 millisecond') c) AS recent,
       (SELECT count(*)::int FROM workflow_steps s WHERE s.dependent_system = b.dependent_system AND s.status = 'held'
           AND (s.hold_reason IS NULL OR s.hold_reason NOT IN ${LIMIT_REASONS}))
       + (SELECT count(*)::int FROM webhook_deliveries d
           WHERE d.webhook_id = ${WEBHOOK_ID} AND d.status = 'pending' AND d.held) AS "heldSteps",
       (SELECT count(*)::int FROM workflow_steps s WHERE s.dependent_system = b.dependent_system AND s.probe
           AND s.status IN ('enqueued', 'in_progress'))
       + (SELECT count(*)::int FROM webhook_deliveries d
           WHERE d.webhook_id = ${WEBHOOK_ID} AND d.status = 'pending' AND d.probe) AS "probesInFlight"
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
