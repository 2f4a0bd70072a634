/**
 * The hot path: claim an attempt, record its outcome, renew its lease. Each operation is one
 * statement (one round trip, atomic) except where a task may be finalized, which needs the
 * task row lock first (see finalizeTaskIfDone).
 *
 * The fence: a step's `attempts` counts the attempts started. The message for attempt N may
 * claim only while `attempts = N - 1`, and only the claimer of attempt N (`claimed_by`, while
 * the step is `in_progress` with `attempts = N`) may record its outcome. A duplicate, late or
 * stale message therefore matches no row and changes nothing.
 */
import type pg from 'pg';
import type { Queryable } from './pool.ts';
import { finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';

/** Everything a worker needs to run a claimed attempt. */
export type ClaimedStep = {
  id: string;
  taskId: string;
  name: string;
  handler: string;
  dependentSystem: string;
  attempt: number;
  /** Attempts that do not count against maxAttempts (shutdown hand-backs, attempts before an operator retry). */
  uncountedAttempts: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  jitter: boolean;
  timeoutMs: number;
  handlerConfig: Record<string, unknown>;
  context: unknown;
  correlationId: string;
  namespace: string;
  taskName: string;
  taskVersion: string;
  /** Results of the step's parents, by parent step name. */
  parentResults: Record<string, unknown>;
  startedAt: Date;
};

const CLAIM_SQL = `
WITH previous AS (
  SELECT status FROM workflow_steps WHERE id = $1
), claimed AS (
  UPDATE workflow_steps s
     SET status = 'in_progress', attempts = s.attempts + 1, claimed_by = $3,
         lease_expires_at = clock_timestamp() + GREATEST($4, s.timeout_ms) * interval '1 millisecond',
         started_at = clock_timestamp(), updated_at = clock_timestamp()
    FROM tasks t
   WHERE s.id = $1 AND s.attempts = $2 - 1
     AND s.status IN ('enqueued', 'waiting_retry')
     AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= clock_timestamp())
     AND t.id = s.task_id AND t.status IN ('pending', 'in_progress')
  RETURNING s.*
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT c.id, c.task_id, c.attempts, (SELECT status FROM previous), 'in_progress', $3 FROM claimed c
), task_started AS (
  UPDATE tasks SET status = 'in_progress', updated_at = clock_timestamp()
   WHERE id = (SELECT task_id FROM claimed) AND status = 'pending'
  RETURNING id
), task_transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT id, 'pending', 'in_progress', 'first step claimed', $3 FROM task_started
)
SELECT c.id, c.task_id, c.name, c.handler, c.dependent_system, c.attempts, c.uncounted_attempts, c.max_attempts,
       c.backoff_base_ms, c.backoff_cap_ms, c.jitter, c.timeout_ms, c.handler_config, c.started_at,
       t.context, t.correlation_id, nt.name AS task_name, nt.version AS task_version, ns.name AS namespace,
       COALESCE((SELECT jsonb_object_agg(p.name, p.results)
                   FROM workflow_step_edges e JOIN workflow_steps p ON p.id = e.from_step_id
                  WHERE e.to_step_id = c.id), '{}'::jsonb) AS parent_results
  FROM claimed c
  JOIN tasks t ON t.id = c.task_id
  JOIN named_tasks nt ON nt.id = t.named_task_id
  JOIN namespaces ns ON ns.id = nt.namespace_id`;

/**
 * Claims attempt `attempt` of a step for `workerId` with a lease of `leaseMs`, or of the step's
 * timeout if that is longer. The lease never ends before the handler's own timeout has aborted
 * it, so a worker that cannot renew (a blocked event loop, Postgres unreachable for a while)
 * never sees its step run elsewhere while its own attempt may still be running.
 * Locks: the step row; the task row only on the task's first claim (pending → in_progress).
 * Returns the claimed step, or null when the fence rejects the message (see explainClaimMiss).
 */
export async function claimStepAttempt(
  db: Queryable,
  input: { stepId: string; attempt: number; workerId: string; leaseMs: number },
): Promise<ClaimedStep | null> {
  const { rows } = await db.query(CLAIM_SQL, [input.stepId, input.attempt, input.workerId, input.leaseMs]);
  const row = rows[0];
  return row ? toClaimedStep(row) : null;
}

function toClaimedStep(row: Record<string, unknown>): ClaimedStep {
  return {
    id: row.id as string,
    taskId: row.task_id as string,
    name: row.name as string,
    handler: row.handler as string,
    dependentSystem: row.dependent_system as string,
    attempt: row.attempts as number,
    uncountedAttempts: row.uncounted_attempts as number,
    maxAttempts: row.max_attempts as number,
    backoffBaseMs: row.backoff_base_ms as number,
    backoffCapMs: row.backoff_cap_ms as number,
    jitter: row.jitter as boolean,
    timeoutMs: row.timeout_ms as number,
    handlerConfig: row.handler_config as Record<string, unknown>,
    context: row.context,
    correlationId: row.correlation_id as string,
    namespace: row.namespace as string,
    taskName: row.task_name as string,
    taskVersion: row.task_version as string,
    parentResults: row.parent_results as Record<string, unknown>,
    startedAt: row.started_at as Date,
  };
}

/** Why a claim was refused; only read on the (rare) miss path, for logging and re-delay. */
export type ClaimMiss =
  | { reason: 'not_found' }
  | { reason: 'not_due'; dueInMs: number }
  | { reason: 'task_not_running'; taskStatus: string }
  | { reason: 'stale'; status: string; attempts: number };

export async function explainClaimMiss(db: Queryable, stepId: string, attempt: number): Promise<ClaimMiss> {
  const { rows } = await db.query(
    `SELECT s.status, s.attempts, t.status AS task_status,
            GREATEST(0, ceil(extract(epoch FROM s.next_attempt_at - clock_timestamp()) * 1000))::int AS due_in_ms
       FROM workflow_steps s JOIN tasks t ON t.id = s.task_id WHERE s.id = $1`,
    [stepId],
  );
  const row = rows[0];
  if (!row) return { reason: 'not_found' };
  const claimable = row.attempts === attempt - 1 && ['enqueued', 'waiting_retry'].includes(row.status);
  if (claimable && !['pending', 'in_progress'].includes(row.task_status)) {
    return { reason: 'task_not_running', taskStatus: row.task_status };
  }
  if (claimable && row.due_in_ms > 0) return { reason: 'not_due', dueInMs: row.due_in_ms };
  return { reason: 'stale', status: row.status, attempts: row.attempts };
}

/**
 * Extends the lease of a running attempt (by `leaseMs`, or the step's timeout if longer). Returns false when the attempt no longer holds its
 * fence (cancelled, released, or its lease expired and the step was dispatched again): the
 * worker must then abort the handler.
 */
export async function renewStepLease(
  db: Queryable,
  input: { stepId: string; attempt: number; workerId: string; leaseMs: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE workflow_steps SET lease_expires_at = clock_timestamp() + GREATEST($4, timeout_ms) * interval '1 millisecond'
      WHERE id = $1 AND attempts = $2 AND status = 'in_progress' AND claimed_by = $3`,
    [input.stepId, input.attempt, input.workerId, input.leaseMs],
  );
  return rowCount === 1;
}

/** An attempt's identity and timing, common to every outcome. */
export type AttemptRecord = {
  stepId: string;
  taskId: string;
  attempt: number;
  workerId: string;
  dependentSystem: string;
  startedAt: Date;
  finishedAt: Date;
};

/** A step made ready by an outcome; dispatch it after the transaction commits. */
export type ReadyStep = { stepId: string; taskId: string; handler: string; attempt: number };

export type OutcomeResult = {
  /** False when the fence rejected the outcome: it was recorded as stale and changed nothing. */
  applied: boolean;
  ready: ReadyStep[];
  /** Set when the step waits for a retry: dispatch `attempt` with this delay after commit. */
  retry: { attempt: number; delayMs: number } | null;
  task: TaskFinalization | null;
};

const SUCCESS_SQL = `
WITH done AS (
  UPDATE workflow_steps
     SET status = 'complete', results = $5::jsonb, completed_at = clock_timestamp(), updated_at = clock_timestamp(),
         claimed_by = NULL, lease_expires_at = NULL, next_attempt_at = NULL, last_error = NULL
   WHERE id = $1 AND attempts = $2 AND status = 'in_progress' AND claimed_by = $3
  RETURNING id, task_id
), attempt AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome,
                             started_at, finished_at, duration_ms, stale)
  VALUES ($1, $4, $2, $6, $3, 'success', $7, $8, $9, NOT EXISTS (SELECT 1 FROM done))
  ON CONFLICT (step_id, attempt) DO NOTHING
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT id, task_id, $2, 'in_progress', 'complete', $3 FROM done
), children AS (
  UPDATE workflow_steps c
     SET pending_parents = c.pending_parents - 1,
         status = CASE WHEN c.pending_parents = 1 AND c.status = 'pending' THEN 'enqueued' ELSE c.status END,
         enqueued_at = CASE WHEN c.pending_parents = 1 AND c.status = 'pending' THEN clock_timestamp() ELSE c.enqueued_at END,
         updated_at = clock_timestamp()
    FROM workflow_step_edges e
   WHERE e.from_step_id = (SELECT id FROM done) AND c.id = e.to_step_id
  RETURNING c.id, c.task_id, c.handler, c.attempts, c.status, c.pending_parents
), ready AS (
  SELECT * FROM children WHERE status = 'enqueued' AND pending_parents = 0
), child_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'enqueued', 'dependencies satisfied', $3 FROM ready
)
SELECT EXISTS (SELECT 1 FROM done) AS applied,
       COALESCE((SELECT json_agg(json_build_object('stepId', id, 'taskId', task_id, 'handler', handler,
                                                   'attempt', attempts + 1)) FROM ready), '[]'::json) AS ready`;

/**
 * Records a successful attempt, and in the same transaction makes the children whose parents
 * are now all satisfied ready (`enqueued`) and finalizes the task when this was its last step.
 * Locks: the step row, its children's rows, and the task row when finalizing.
 */
export async function recordStepSuccess(
  client: pg.PoolClient,
  record: AttemptRecord,
  results: unknown,
): Promise<OutcomeResult> {
  const { rows } = await client.query(SUCCESS_SQL, [
    record.stepId,
    record.attempt,
    record.workerId,
    record.taskId,
    JSON.stringify(results ?? null),
    record.dependentSystem,
    record.startedAt,
    record.finishedAt,
    durationMs(record),
  ]);
  const applied = rows[0].applied as boolean;
  const ready = rows[0].ready as ReadyStep[];
  // When a child became ready the task still has work in flight: no need to lock it.
  const task =
    applied && ready.length === 0 ? await finalizeTaskIfDone(client, record.taskId, record.workerId) : null;
  return { applied, ready, retry: null, task };
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
                             started_at, finished_at, duration_ms, stale)
  VALUES ($1, $4, $2, $8, $3, $9, $10, $11, $12, $13, $14, $15, $16, $17, NOT EXISTS (SELECT 1 FROM failed))
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
  const { rows } = await client.query(FAILURE_SQL, [
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
  ]);
  const applied = rows[0].applied as boolean;
  if (!applied) return { applied, ready: [], retry: null, task: null };
  if (failure.next.status === 'waiting_retry') {
    return { applied, ready: [], retry: { attempt: record.attempt + 1, delayMs }, task: null };
  }
  const task = await finalizeTaskIfDone(client, record.taskId, record.workerId);
  return { applied, ready: [], retry: null, task };
}

function durationMs(record: AttemptRecord): number {
  return Math.max(0, Math.round(record.finishedAt.getTime() - record.startedAt.getTime()));
}
