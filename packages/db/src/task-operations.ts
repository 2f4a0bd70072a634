/**
 * Operator and lifecycle operations on tasks and claims, each one transaction with its audit
 * rows.
 */
import { ConflictError, NotFoundError } from '@switchyard/core';
import type pg from 'pg';
import { heldByClaimerSql, nextAttemptSql } from './attempt-fence.ts';
import type { Queryable } from './pool.ts';
import { type ReadyStep, taskPlaceSql } from './ready-children.ts';

export type CancelledTask = {
  taskId: string;
  from: string;
  /** Steps moved to cancelled, with the status each had. */
  steps: { stepId: string; from: string }[];
};

const CANCEL_SQL = `
WITH task AS (
  UPDATE tasks SET status = 'cancelled', completed_at = clock_timestamp(), updated_at = clock_timestamp()
   WHERE id = $1 RETURNING id
), task_transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT id, $2, 'cancelled', $3, $4 FROM task
), open_steps AS (
  SELECT id, status FROM workflow_steps
   WHERE task_id = $1 AND status IN ('pending', 'enqueued', 'held', 'waiting_retry', 'in_progress')
   FOR UPDATE
), cancelled AS (
  UPDATE workflow_steps s
     SET status = 'cancelled', next_attempt_at = NULL, lease_expires_at = NULL,
         completed_at = clock_timestamp(), updated_at = clock_timestamp()
    FROM open_steps o WHERE s.id = o.id
  RETURNING s.id, o.status AS from_status, s.attempts
), step_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, $1, attempts, from_status, 'cancelled', $3, $4 FROM cancelled
)
SELECT id AS "stepId", from_status AS "from" FROM cancelled`;

/**
 * Cancels a task: no more dispatch, not-started steps cancelled, running attempts lose their
 * fence (their workers abort the handler at the next lease renewal, and a late result is
 * recorded as stale). A finished task cannot be cancelled; a failed (blocked) one can.
 * Locks: the task row, then its open step rows.
 * @throws NotFoundError, ConflictError (complete or already cancelled)
 */
export async function cancelTask(
  client: pg.PoolClient,
  input: { taskId: string; actor: string; reason?: string | null },
): Promise<CancelledTask> {
  const locked = await client.query('SELECT status FROM tasks WHERE id = $1 FOR UPDATE', [input.taskId]);
  const from = locked.rows[0]?.status as string | undefined;
  if (!from) throw new NotFoundError(`task ${input.taskId} does not exist`);
  if (from === 'complete' || from === 'cancelled') {
    throw new ConflictError(
      `task ${input.taskId} is ${from}; only a pending, running or failed task can be cancelled`,
    );
  }
  const { rows } = await client.query(CANCEL_SQL, [
    input.taskId,
    from,
    input.reason ?? 'cancelled',
    input.actor,
  ]);
  return { taskId: input.taskId, from, steps: rows };
}

const RELEASE_SQL = `
WITH released AS (
  UPDATE workflow_steps
     SET status = 'enqueued', uncounted_attempts = uncounted_attempts + 1, enqueued_at = clock_timestamp(),
         claimed_by = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
   WHERE id = $1 AND ${heldByClaimerSql('', '$2', '$3')}
  RETURNING id, task_id, handler, attempts, dependent_system, started_at
), attempt_row AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, error_class,
                             error_message, started_at, finished_at, duration_ms)
  SELECT id, task_id, attempts, dependent_system, $3, 'aborted', $5, $4, started_at, clock_timestamp(),
         GREATEST(0, extract(epoch FROM clock_timestamp() - started_at) * 1000)::int
    FROM released
  ON CONFLICT (step_id, attempt) DO NOTHING
), transition AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, 'in_progress', 'enqueued', $4, $3 FROM released
)
SELECT r.id AS "stepId", r.task_id AS "taskId", r.handler, ${nextAttemptSql('r')} AS attempt,
       place.namespace, place.priority
  FROM released r CROSS JOIN LATERAL ${taskPlaceSql('r.task_id')} place`;

/**
 * Hands a claimed attempt back (the worker is shutting down, or found no slot for a child claimed
 * with its parent's success): the step is enqueued again at once instead of waiting for its
 * lease to expire, and the attempt, recorded `aborted` with `errorClass` (default
 * WorkerShutdown), does not count against max_attempts. Returns the attempt to dispatch, or null
 * if the claim was already lost.
 */
export async function releaseStepClaim(
  db: Queryable,
  input: { stepId: string; attempt: number; workerId: string; reason: string; errorClass?: string },
): Promise<ReadyStep | null> {
  const { rows } = await db.query(RELEASE_SQL, [
    input.stepId,
    input.attempt,
    input.workerId,
    input.reason,
    input.errorClass ?? 'WorkerShutdown',
  ]);
  return (rows[0] as ReadyStep | undefined) ?? null;
}
