/**
 * Holding steps whose service's breaker blocks them, and releasing them again: as probes while
 * the breaker is half-open, on the ramp once it has closed. When a step is held is core's
 * decision (holds.ts); these statements apply it.
 */
import { type BreakerState, decideRelease, HOLD_POINTS, type HoldPoint } from '@switchyard/core';
import { countedAttemptsSql, nextAttemptSql } from './attempt-fence.ts';
import { BLOCKED_BY_BREAKER, HOLD_REASON, HOLD_UNTIL } from './breaker-sql.ts';
import { ensureBreakerRow, lockBreaker } from './breaker-state.ts';
import type { Queryable } from './pool.ts';
import { type ReadyStep, taskPlaceSql } from './ready-children.ts';
import { LIMIT_REASONS } from './service-limit-sql.ts';

/** SQL: a held step is the breaker's, not waiting for its system's limit (limit-claims.ts releases those). */
const NOT_LIMIT_HOLD = `(hold_reason IS NULL OR hold_reason NOT IN ${LIMIT_REASONS})`;

/**
 * Records that a service asked to be left alone until `until` (a 429 or 503 with Retry-After):
 * every pending step of it is held until then, not only the one that got the answer.
 */
export async function holdServiceUntil(db: Queryable, system: string, until: Date): Promise<void> {
  await ensureBreakerRow(db, system);
  await db.query(
    `UPDATE circuit_breakers SET hold_until = GREATEST(COALESCE(hold_until, $2), $2), updated_at = clock_timestamp()
      WHERE dependent_system = $1`,
    [system, until],
  );
}

const HOLD_SQL = `
WITH request AS (
  SELECT $1::uuid AS step_id, $2::int AS attempts, $3::text[] AS from_statuses, $4::int AS uncount, $5::text AS actor
), previous AS (
  SELECT s.status FROM workflow_steps s, request r WHERE s.id = r.step_id
), blocking AS (
  SELECT ${HOLD_REASON} AS reason, ${HOLD_UNTIL} AS until
    FROM request r JOIN workflow_steps s ON s.id = r.step_id
    JOIN circuit_breakers b ON b.dependent_system = s.dependent_system
   WHERE ${BLOCKED_BY_BREAKER}
), held AS (
  UPDATE workflow_steps s
     SET status = 'held', probe = false, next_attempt_at = NULL, updated_at = clock_timestamp(),
         uncounted_attempts = s.uncounted_attempts + r.uncount, completed_at = NULL,
         hold_reason = (SELECT reason FROM blocking), hold_until = (SELECT until FROM blocking)
    FROM request r
   WHERE s.id = r.step_id AND s.attempts = r.attempts AND s.status = ANY (r.from_statuses)
     AND EXISTS (SELECT 1 FROM blocking)
     -- A delayed start delivered early (clocks apart) is not held, which would drop its
     -- not-before time; the claim miss re-delays it until due.
     AND (s.status <> 'enqueued' OR s.next_attempt_at IS NULL OR s.next_attempt_at <= clock_timestamp())
  RETURNING s.id, s.task_id, s.attempts, s.hold_reason
), transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT h.id, h.task_id, h.attempts, (SELECT status FROM previous), 'held', h.hold_reason, r.actor
    FROM held h, request r
)
SELECT id FROM held`;

/**
 * Holds a step whose service's breaker blocks it (open, half-open for a non-probe, or a
 * Retry-After hold running): no dispatch, the reason and the expected release time on the
 * step. `point` says when (core's HOLD_POINTS): before a claim (`attempts` = the attempts
 * already made), or after a counted failure (`attempts` = the failed attempt, which is then
 * given back). Returns false when the breaker does not block the step (or the step moved on).
 */
export async function holdBlockedStep(
  db: Queryable,
  input: { stepId: string; attempts: number; point: HoldPoint; actor: string },
): Promise<boolean> {
  const { from, uncount } = HOLD_POINTS[input.point];
  const { rows } = await db.query(HOLD_SQL, [
    input.stepId,
    input.attempts,
    from,
    uncount ? 1 : 0,
    input.actor,
  ]);
  return rows.length === 1;
}

/**
 * Releases held steps of a system for dispatch: as probes while half-open, or on the ramp once
 * closed. Probes go to the steps with the fewest counted attempts, so no single task pays for
 * every probe of a long outage. Locks the released step rows (SKIP LOCKED).
 */
async function releaseHeldSteps(
  db: Queryable,
  input: { dependentSystem: string; limit: number; asProbes: boolean; actor: string },
): Promise<ReadyStep[]> {
  if (input.limit <= 0) return [];
  const { rows } = await db.query(
    `WITH picked AS (
       SELECT id FROM workflow_steps
        WHERE dependent_system = $1 AND status = 'held' AND ${NOT_LIMIT_HOLD}
        ORDER BY ${countedAttemptsSql()}, updated_at
        LIMIT $2 FOR UPDATE SKIP LOCKED
     ), released AS (
       UPDATE workflow_steps s
          SET status = 'enqueued', probe = $3, hold_reason = NULL, hold_until = NULL,
              enqueued_at = clock_timestamp(), updated_at = clock_timestamp()
         FROM picked WHERE s.id = picked.id
       RETURNING s.id, s.task_id, s.handler, s.attempts
     ), transitions AS (
       INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
       SELECT id, task_id, 'held', 'enqueued', $4, $5 FROM released
     )
     SELECT r.id AS "stepId", r.task_id AS "taskId", r.handler, ${nextAttemptSql('r')} AS attempt,
            place.namespace, place.priority
       FROM released r CROSS JOIN LATERAL ${taskPlaceSql('r.task_id')} place`,
    [
      input.dependentSystem,
      input.limit,
      input.asProbes,
      input.asProbes ? 'released as a probe' : 'breaker closed',
      input.actor,
    ],
  );
  return rows as ReadyStep[];
}

/**
 * One sweep's release of a system's held steps (see decideRelease in core). Locks the breaker
 * row first, so two scheduler replicas never both release the probes or the ramp step.
 * Returns the steps to dispatch after commit.
 */
export async function releaseHeldForBreaker(
  db: Queryable,
  system: string,
  actor: string,
): Promise<{ state: BreakerState; released: ReadyStep[] }> {
  const breaker = await lockBreaker(db, system);
  const { rows } = await db.query(
    `SELECT b.release_rate AS "releaseRate", COALESCE(b.hold_until > clock_timestamp(), false) AS holding,
            count(*) FILTER (WHERE s.status = 'held' AND ${NOT_LIMIT_HOLD})::int AS held,
            count(*) FILTER (WHERE s.probe AND s.status IN ('enqueued', 'in_progress'))::int AS "probesInFlight"
       FROM circuit_breakers b LEFT JOIN workflow_steps s
         ON s.dependent_system = b.dependent_system AND s.status IN ('held', 'enqueued', 'in_progress')
      WHERE b.dependent_system = $1 GROUP BY b.dependent_system`,
    [system],
  );
  const decision = decideRelease(breaker.policy, { state: breaker.state, ...rows[0] });
  if (decision.releaseRate !== rows[0].releaseRate) {
    await db.query('UPDATE circuit_breakers SET release_rate = $2 WHERE dependent_system = $1', [
      system,
      decision.releaseRate,
    ]);
  }
  const released = await releaseHeldSteps(db, {
    dependentSystem: system,
    limit: decision.limit,
    asProbes: decision.asProbes,
    actor,
  });
  return { state: breaker.state, released };
}
