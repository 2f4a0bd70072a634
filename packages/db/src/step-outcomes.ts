/**
 * Recording an attempt's outcome: one transaction that writes the attempt row, moves the step,
 * makes its children ready, keeps the breaker of its service current and finalizes the task
 * when nothing of it is left to run. Only the claimer of the attempt may record it (the fence,
 * see step-attempts.ts); anything else is kept as a stale attempt and changes nothing.
 */
import type pg from 'pg';
import { type BreakerTransition, evaluateBreaker, holdBlockedStep, holdServiceUntil } from './breakers.ts';
import { READY_STEPS_JSON, readyChildrenCtes } from './ready-children.ts';
import type { ReadyStep } from './step-attempts.ts';
import { finalizeAfterCommit, finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';
import { withRetries, withTransaction } from './transaction.ts';

/** An attempt's identity and timing, common to every outcome. */
export type AttemptRecord = {
  stepId: string;
  taskId: string;
  attempt: number;
  workerId: string;
  dependentSystem: string;
  startedAt: Date;
  finishedAt: Date;
  /** The attempt was a half-open probe of its service's breaker. */
  probe: boolean;
  /** The attempt ran the handler's fallback instead of calling the service. */
  fallback: boolean;
};

export type OutcomeResult = {
  /** False when the fence rejected the outcome: it was recorded as stale and changed nothing. */
  applied: boolean;
  ready: ReadyStep[];
  /** Set when the step waits for a retry: dispatch `attempt` with this delay after commit. */
  retry: { attempt: number; delayMs: number } | null;
  task: TaskFinalization | null;
  /** The step went to `held`: its service's breaker is open, so the failure was not counted. */
  held: boolean;
  /** A breaker state change this outcome caused (a trip, a reopen, a close after probes). */
  breaker: BreakerTransition | null;
};

/** A named prepared statement: parsed and planned once per connection (see step-attempts.ts). */
function prepared(name: string, text: string, values: unknown[]) {
  return { name, text, values };
}

function nothing(): Omit<OutcomeResult, 'applied'> {
  return { ready: [], retry: null, task: null, held: false, breaker: null };
}

const SUCCESS_SQL = `
WITH done AS (
  UPDATE workflow_steps
     SET status = 'complete', results = $5::jsonb, completed_at = clock_timestamp(), updated_at = clock_timestamp(),
         claimed_by = NULL, lease_expires_at = NULL, next_attempt_at = NULL, last_error = NULL
   WHERE id = $1 AND attempts = $2 AND status = 'in_progress' AND claimed_by = $3
  RETURNING id, task_id
), attempt AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome,
                             started_at, finished_at, duration_ms, fallback, stale)
  VALUES ($1, $4, $2, $6, $3, 'success', $7, $8, $9, $10, NOT EXISTS (SELECT 1 FROM done))
  ON CONFLICT (step_id, attempt) DO NOTHING
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT id, task_id, $2, 'in_progress', 'complete', $3 FROM done
), ${readyChildrenCtes('done', '$3')}
SELECT EXISTS (SELECT 1 FROM done) AS applied,
       ${READY_STEPS_JSON} AS ready`;

/**
 * Records a successful attempt and makes the children whose parents are now all satisfied
 * ready (`enqueued`), in one statement (atomic on its own, so no explicit transaction: one
 * round trip). Then finalizes the task when nothing of it is left in flight (see
 * finalizeAfterCommit), and re-decides the breaker after a probe. If the process dies in
 * between, the scheduler finalizes the settled task.
 * Locks: the step row and its children's rows; then the task row (finalizing) or the breaker row.
 */
export async function recordStepSuccess(
  pool: pg.Pool,
  record: AttemptRecord,
  results: unknown,
): Promise<OutcomeResult> {
  const values = [
    record.stepId,
    record.attempt,
    record.workerId,
    record.taskId,
    JSON.stringify(results ?? null),
    record.dependentSystem,
    record.startedAt,
    record.finishedAt,
    durationMs(record),
    record.fallback,
  ];
  const { rows } = await withRetries(() =>
    pool.query(prepared('switchyard_step_success', SUCCESS_SQL, values)),
  );
  const applied = rows[0].applied as boolean;
  const ready = rows[0].ready as ReadyStep[];
  // A probe's success may close its breaker; deciding now releases the held steps sooner.
  const breaker = record.probe
    ? (
        await withTransaction(pool, (client) =>
          evaluateBreaker(client, { dependentSystem: record.dependentSystem, actor: record.workerId }),
        )
      ).transition
    : null;
  // When a child became ready the task still has work in flight: no need to look at it.
  const task =
    applied && ready.length === 0 ? await finalizeAfterCommit(pool, record.taskId, record.workerId) : null;
  return { ...nothing(), applied, ready, task, breaker };
}

/** How a failed attempt was classified, and what the retry policy decided. */
export type AttemptFailure = {
  outcome: 'retryable_error' | 'permanent_error' | 'timeout' | 'aborted';
  errorClass: string;
  errorCode: string | null;
  message: string;
  httpStatus: number | null;
  retryAfterMs: number | null;
  /** waiting_retry with the delay before the next attempt, or error (no more attempts). */
  next: { status: 'waiting_retry'; delayMs: number } | { status: 'error'; reason: string };
};

const FAILURE_SQL = `
WITH failed AS (
  UPDATE workflow_steps
     SET status = $5, last_error = $6::jsonb, claimed_by = NULL, lease_expires_at = NULL, updated_at = clock_timestamp(),
         next_attempt_at = CASE WHEN $5 = 'waiting_retry' THEN clock_timestamp() + $7 * interval '1 millisecond' END,
         completed_at = CASE WHEN $5 = 'error' THEN clock_timestamp() END
   WHERE id = $1 AND attempts = $2 AND status = 'in_progress' AND claimed_by = $3
  RETURNING id, task_id
), attempt AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, error_class,
                             error_code, error_message, http_status, retry_after_ms,
                             started_at, finished_at, duration_ms, fallback, stale)
  VALUES ($1, $4, $2, $8, $3, $9, $10, $11, $12, $13, $14, $15, $16, $17, $19, NOT EXISTS (SELECT 1 FROM failed))
  ON CONFLICT (step_id, attempt) DO NOTHING
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, $2, 'in_progress', $5, $18, $3 FROM failed
)
SELECT EXISTS (SELECT 1 FROM failed) AS applied`;

/**
 * Records a failed attempt: the step waits for its retry, or fails for good (and the task is
 * finalized as error once nothing else of it is in flight).
 * Locks: the step row, and the task row when the step failed for good.
 */
export async function recordStepFailure(
  client: pg.PoolClient,
  record: AttemptRecord,
  failure: AttemptFailure,
): Promise<OutcomeResult> {
  const delayMs = failure.next.status === 'waiting_retry' ? failure.next.delayMs : 0;
  const reason =
    failure.next.status === 'error' ? failure.next.reason : `${failure.outcome}, retry in ${delayMs} ms`;
  const lastError = {
    outcome: failure.outcome,
    class: failure.errorClass,
    code: failure.errorCode,
    message: failure.message,
    http_status: failure.httpStatus,
    attempt: record.attempt,
  };
  const { rows } = await client.query(
    prepared('switchyard_step_failure', FAILURE_SQL, [
      record.stepId,
      record.attempt,
      record.workerId,
      record.taskId,
      failure.next.status,
      JSON.stringify(lastError),
      delayMs,
      record.dependentSystem,
      failure.outcome,
      failure.errorClass,
      failure.errorCode,
      failure.message,
      failure.httpStatus,
      failure.retryAfterMs,
      record.startedAt,
      record.finishedAt,
      durationMs(record),
      reason,
      record.fallback,
    ]),
  );
  if (!rows[0].applied) return { ...nothing(), applied: false };
  const { held, breaker } = await applyToBreaker(client, record, failure);
  if (held) return { ...nothing(), applied: true, held, breaker };
  if (failure.next.status === 'waiting_retry') {
    return { ...nothing(), applied: true, retry: { attempt: record.attempt + 1, delayMs }, breaker };
  }
  const task = await finalizeTaskIfDone(client, record.taskId, record.workerId);
  return { ...nothing(), applied: true, task, breaker };
}

/**
 * A failure that counts against the service (retryable, timeout) is evidence for its breaker:
 * a Retry-After of 429/503 holds the whole service until then, and the breaker is re-decided
 * now, so a trip stops further calls at once. While the breaker is open the failed step is
 * held rather than retried, and this attempt does not count against its max_attempts: the
 * outage is the service's, not the step's.
 */
async function applyToBreaker(
  client: pg.PoolClient,
  record: AttemptRecord,
  failure: AttemptFailure,
): Promise<{ held: boolean; breaker: BreakerTransition | null }> {
  if (record.fallback || (failure.outcome !== 'retryable_error' && failure.outcome !== 'timeout')) {
    return { held: false, breaker: null };
  }
  const system = record.dependentSystem;
  if (failure.retryAfterMs !== null && (failure.httpStatus === 429 || failure.httpStatus === 503)) {
    await holdServiceUntil(client, system, new Date(record.finishedAt.getTime() + failure.retryAfterMs));
  }
  const { state, transition } = await evaluateBreaker(client, {
    dependentSystem: system,
    actor: record.workerId,
  });
  if (state === 'closed') return { held: false, breaker: transition };
  const held = await holdBlockedStep(client, {
    stepId: record.stepId,
    attempts: record.attempt,
    from: ['waiting_retry', 'error'],
    uncount: true,
    actor: record.workerId,
  });
  return { held, breaker: transition };
}

function durationMs(record: AttemptRecord): number {
  return Math.max(0, Math.round(record.finishedAt.getTime() - record.startedAt.getTime()));
}
