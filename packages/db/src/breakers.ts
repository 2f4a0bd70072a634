/**
 * Circuit breakers: gathering the evidence from the attempt history, applying the decisions of
 * @switchyard/core's decideBreaker, holding and releasing steps, and the operators' overrides.
 * The breaker row is the one shared verdict: workers read it when they claim, and whoever
 * changes it (a worker recording a failure, the scheduler's sweep, an operator) locks it first.
 */
import {
  BREAKER_POLICY_DEFAULTS,
  type BreakerDecision,
  type BreakerEvidence,
  type BreakerPolicy,
  type BreakerRow,
  type BreakerState,
  decideBreaker,
  decideRelease,
  NotFoundError,
} from '@switchyard/core';
import type { Queryable } from './pool.ts';
import type { ReadyStep } from './step-attempts.ts';

// Outcomes that are calls to the service; permanent errors are the caller's fault and
// lease_expired / aborted say nothing about the service.
const CALL_OUTCOMES = `('success', 'retryable_error', 'timeout')`;
const FAILURE_OUTCOMES = `('retryable_error', 'timeout')`;

/** SQL predicate: the breaker `b` keeps step `s` from being claimed. */
export const BLOCKED_BY_BREAKER = `(b.state = 'open' OR (b.state = 'half_open' AND NOT s.probe) OR b.hold_until > clock_timestamp())`;

/** Creates the breaker row of a system if it has none yet (with the default policy). */
async function ensureBreakerRow(db: Queryable, system: string): Promise<void> {
  await db.query(
    `INSERT INTO circuit_breakers (dependent_system, policy) VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING`,
    [system, JSON.stringify(BREAKER_POLICY_DEFAULTS)],
  );
}

/** Sets the policy in force for a system (scheduler start-up, from its configuration). */
export async function configureBreaker(db: Queryable, system: string, policy: BreakerPolicy): Promise<void> {
  await db.query(
    `INSERT INTO circuit_breakers (dependent_system, policy) VALUES ($1, $2::jsonb)
     ON CONFLICT (dependent_system) DO UPDATE SET policy = EXCLUDED.policy, updated_at = clock_timestamp()`,
    [system, JSON.stringify(policy)],
  );
}

type LockedBreaker = BreakerRow & { dependentSystem: string; policy: BreakerPolicy };

async function lockBreaker(db: Queryable, system: string): Promise<LockedBreaker> {
  await ensureBreakerRow(db, system);
  const { rows } = await db.query(
    `SELECT dependent_system AS "dependentSystem", state, since, next_probe_at AS "nextProbeAt",
            trip_count AS "tripCount", forced, policy
       FROM circuit_breakers WHERE dependent_system = $1 FOR UPDATE`,
    [system],
  );
  return { ...rows[0], policy: { ...BREAKER_POLICY_DEFAULTS, ...rows[0].policy } };
}

/** The window counts, consecutive failures and probe results for one system, in one query. */
async function gatherEvidence(
  db: Queryable,
  breaker: LockedBreaker,
): Promise<BreakerEvidence & { trippingAttempts: number[] }> {
  const { policy } = breaker;
  // A closed breaker judges only calls made since it last closed: the failures of the outage
  // it recovered from are still in the window, and would trip it again at once.
  const { rows } = await db.query(
    `WITH bounds AS (
       SELECT GREATEST(clock_timestamp() - $2 * interval '1 millisecond',
                       COALESCE((SELECT max(created_at) FROM breaker_transitions
                                  WHERE dependent_system = $1 AND to_state = 'closed'), '-infinity')) AS window_start
     ), calls AS (
       SELECT id, outcome, finished_at, finished_at > (SELECT window_start FROM bounds) AS in_window
         FROM step_attempts
        WHERE dependent_system = $1 AND NOT fallback AND outcome IN ${CALL_OUTCOMES}
          AND finished_at > LEAST((SELECT window_start FROM bounds), $3))
     SELECT count(*) FILTER (WHERE in_window)::int AS calls,
            count(*) FILTER (WHERE in_window AND outcome IN ${FAILURE_OUTCOMES})::int AS failures,
            count(*) FILTER (WHERE finished_at >= $3 AND outcome = 'success')::int AS probe_successes,
            count(*) FILTER (WHERE finished_at >= $3 AND outcome IN ${FAILURE_OUTCOMES})::int AS probe_failures,
            (SELECT json_agg(json_build_object('id', id, 'failed', outcome IN ${FAILURE_OUTCOMES}) ORDER BY finished_at DESC)
               FROM (SELECT * FROM calls WHERE in_window ORDER BY finished_at DESC LIMIT $4) newest) AS newest
       FROM calls`,
    [breaker.dependentSystem, policy.window_ms, breaker.since, policy.consecutive_failures],
  );
  const row = rows[0];
  const newest = (row.newest ?? []) as { id: number; failed: boolean }[];
  const streak = newest.findIndex((call) => !call.failed);
  const consecutive = streak === -1 ? newest.length : streak;
  return {
    calls: row.calls,
    failures: row.failures,
    consecutiveFailures: consecutive,
    probeSuccesses: row.probe_successes,
    probeFailures: row.probe_failures,
    trippingAttempts: newest.slice(0, consecutive).map((call) => call.id),
  };
}

/** A breaker state change, for logs and counters. */
export type BreakerTransition = {
  dependentSystem: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
  nextProbeAt: Date | null;
};

/**
 * Re-decides one system's breaker from the persisted history and applies the decision.
 * Locks: the breaker row (created on first use). Returns the transition made, or null.
 * Called by workers after a counted failure or a probe's success (so a trip stops calls at
 * once) and by the scheduler every sweep (so time-based moves happen without traffic).
 */
export async function evaluateBreaker(
  db: Queryable,
  input: { dependentSystem: string; actor: string; now?: Date; random?: () => number },
): Promise<{ state: BreakerState; transition: BreakerTransition | null }> {
  const breaker = await lockBreaker(db, input.dependentSystem);
  const { trippingAttempts, ...evidence } = await gatherEvidence(db, breaker);
  const now = input.now ?? new Date();
  const decision = decideBreaker(breaker.policy, breaker, evidence, now, input.random);
  if (!decision) return { state: breaker.state, transition: null };
  const recorded = { ...evidence, window_ms: breaker.policy.window_ms, attempts: trippingAttempts };
  await applyDecision(db, breaker, decision, now, recorded, input.actor);
  const nextProbeAt = decision.to === 'open' ? decision.nextProbeAt : null;
  const transition = {
    dependentSystem: breaker.dependentSystem,
    from: breaker.state,
    to: decision.to,
    reason: decision.reason,
    nextProbeAt,
  };
  return { state: decision.to, transition };
}

async function applyDecision(
  db: Queryable,
  breaker: LockedBreaker,
  decision: BreakerDecision,
  decidedAt: Date,
  evidence: Record<string, unknown>,
  actor: string,
): Promise<void> {
  const open = decision.to === 'open' ? decision : null;
  // The open period is counted from the database's clock, like `since`, so the two agree exactly
  // whichever process decided (and however long it waited for the row lock).
  const openForMs = open ? open.nextProbeAt.getTime() - decidedAt.getTime() : null;
  await db.query(
    `WITH updated AS (
       UPDATE circuit_breakers
          SET state = $2, since = clock_timestamp(), release_rate = 0, updated_at = clock_timestamp(),
              next_probe_at = clock_timestamp() + $3 * interval '1 millisecond',
              trip_count = CASE WHEN $2 = 'closed' THEN 0 WHEN $2 = 'open' THEN $4 ELSE trip_count END
        WHERE dependent_system = $1 RETURNING dependent_system)
     INSERT INTO breaker_transitions (dependent_system, from_state, to_state, reason, actor, evidence)
     SELECT dependent_system, $5, $2, $6, $7, $8::jsonb FROM updated`,
    [
      breaker.dependentSystem,
      decision.to,
      openForMs,
      open?.tripCount ?? breaker.tripCount,
      breaker.state,
      decision.reason,
      actor,
      JSON.stringify(evidence),
    ],
  );
}

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
WITH previous AS (
  SELECT status FROM workflow_steps WHERE id = $1
), blocking AS (
  SELECT b.state, b.next_probe_at, b.hold_until
    FROM workflow_steps s JOIN circuit_breakers b ON b.dependent_system = s.dependent_system
   WHERE s.id = $1 AND ${BLOCKED_BY_BREAKER}
), held AS (
  UPDATE workflow_steps s
     SET status = 'held', probe = false, next_attempt_at = NULL, updated_at = clock_timestamp(),
         uncounted_attempts = s.uncounted_attempts + $4,
         completed_at = NULL,
         hold_reason = (SELECT CASE WHEN state = 'closed' THEN 'service asked to retry later' ELSE 'breaker ' || state END FROM blocking),
         hold_until = (SELECT CASE WHEN state = 'closed' THEN hold_until ELSE GREATEST(next_probe_at, hold_until) END FROM blocking)
   WHERE s.id = $1 AND s.attempts = $2 AND s.status = ANY ($3) AND EXISTS (SELECT 1 FROM blocking)
  RETURNING s.id, s.task_id, s.attempts, s.hold_reason
), transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, (SELECT status FROM previous), 'held', hold_reason, $5 FROM held
)
SELECT id FROM held`;

/**
 * Holds a step whose service's breaker is open (or under a Retry-After hold): no dispatch, no
 * attempt consumed, the reason and the expected release time on the step.
 * - before a claim (`attempts` = the attempts already made, status enqueued or waiting_retry);
 * - after a failed attempt while the breaker is open (status waiting_retry or error): that
 *   attempt is not counted against max_attempts, because the breaker already says the service
 *   is down, not that the step is wrong (`uncount`).
 * Returns false when the breaker does not block the step (or the step moved on).
 */
export async function holdBlockedStep(
  db: Queryable,
  input: { stepId: string; attempts: number; from: readonly string[]; uncount: boolean; actor: string },
): Promise<boolean> {
  const { rows } = await db.query(HOLD_SQL, [
    input.stepId,
    input.attempts,
    input.from,
    input.uncount ? 1 : 0,
    input.actor,
  ]);
  return rows.length === 1;
}

/**
 * Releases held steps of a system for dispatch: as probes while half-open, or on the ramp once
 * closed. Probes go to the steps with the fewest counted attempts, so no single task pays for
 * every probe of a long outage. Locks the released step rows (SKIP LOCKED).
 */
export async function releaseHeldSteps(
  db: Queryable,
  input: { dependentSystem: string; limit: number; asProbes: boolean; actor: string },
): Promise<ReadyStep[]> {
  if (input.limit <= 0) return [];
  const { rows } = await db.query(
    `WITH picked AS (
       SELECT id FROM workflow_steps
        WHERE dependent_system = $1 AND status = 'held'
        ORDER BY attempts - uncounted_attempts, updated_at
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
     SELECT id AS "stepId", task_id AS "taskId", handler, attempts + 1 AS attempt FROM released`,
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

const FORCE_STATE = {
  open: { state: 'open', forced: 'open' },
  close: { state: 'closed', forced: 'closed' },
  reset: { state: 'closed', forced: null },
} as const;

/**
 * An operator's override: force open, force closed, or reset (back to closed, decided by the
 * history again, trips and Retry-After hold cleared). Audited with who and why.
 * Locks: the breaker row.
 * @throws NotFoundError for a system no registered template's step calls and that has no
 *   breaker yet: a typo must not create a breaker (and a metric) for a service that does not exist.
 */
export async function forceBreaker(
  db: Queryable,
  input: { dependentSystem: string; action: 'open' | 'close' | 'reset'; actor: string; reason: string },
): Promise<BreakerView> {
  if (!(await dependentSystemExists(db, input.dependentSystem))) {
    throw new NotFoundError(
      `no registered template calls a dependent system named ${input.dependentSystem}, and it has no breaker`,
    );
  }
  const breaker = await lockBreaker(db, input.dependentSystem);
  const target = FORCE_STATE[input.action];
  await db.query(
    `WITH updated AS (
       UPDATE circuit_breakers
          SET state = $2, forced = $3, since = clock_timestamp(), next_probe_at = NULL, release_rate = 0,
              trip_count = CASE WHEN $4 THEN 0 ELSE trip_count END,
              hold_until = CASE WHEN $4 THEN NULL ELSE hold_until END, updated_at = clock_timestamp()
        WHERE dependent_system = $1 RETURNING dependent_system)
     INSERT INTO breaker_transitions (dependent_system, from_state, to_state, reason, actor, evidence)
     SELECT dependent_system, $5, $2, $6, $7, $8::jsonb FROM updated`,
    [
      input.dependentSystem,
      target.state,
      target.forced,
      input.action === 'reset',
      breaker.state,
      `${input.action} by operator: ${input.reason}`,
      input.actor,
      JSON.stringify({ action: input.action, reason: input.reason }),
    ],
  );
  const [view] = await listBreakers(db, { dependentSystem: input.dependentSystem });
  return view!;
}

/**
 * Whether a dependent system is known: it has a breaker row, or a step of a registered template
 * calls it (stored definitions carry each step's resolved `dependent_system`).
 */
export async function dependentSystemExists(db: Queryable, system: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM circuit_breakers WHERE dependent_system = $1)
         OR EXISTS (SELECT 1 FROM named_tasks nt, jsonb_array_elements(nt.definition->'steps') step
                     WHERE step->>'dependent_system' = $1) AS known`,
    [system],
  );
  return rows[0].known === true;
}

/** Dependent systems that have a breaker row. */
export async function breakerSystems(db: Queryable): Promise<string[]> {
  const { rows } = await db.query('SELECT dependent_system FROM circuit_breakers ORDER BY dependent_system');
  return rows.map((row) => row.dependent_system as string);
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
            count(*) FILTER (WHERE s.status = 'held')::int AS held,
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
