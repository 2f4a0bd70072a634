import { decideTaskStatus } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** A task status change made by finalizeTaskIfDone. */
export type TaskFinalization = { taskId: string; from: string; to: 'complete' | 'error' };

/**
 * Finalizes a running task when its steps are all done (complete) or none can progress
 * (error, blocked by failures). Call inside the transaction that changed a step.
 *
 * Locks the task row FIRST, in its own statement: under READ COMMITTED the next statement then
 * takes a fresh snapshot, so of two last steps finishing at once, the second to get the lock
 * sees the first's committed change and exactly one of them finalizes. (Counting in the same
 * statement as the lock would use the pre-lock snapshot and could finalize twice or never.)
 */
export async function finalizeTaskIfDone(
  db: Queryable,
  taskId: string,
  actor: string,
): Promise<TaskFinalization | null> {
  const locked = await db.query('SELECT status FROM tasks WHERE id = $1 FOR UPDATE', [taskId]);
  const from = locked.rows[0]?.status as string | undefined;
  if (from !== 'pending' && from !== 'in_progress') return null;
  const to = decideTaskStatus(await countSteps(db, taskId));
  if (!to) return null;
  const reason = to === 'complete' ? 'all steps complete' : 'blocked by failures';
  await db.query(
    `WITH updated AS (
       UPDATE tasks SET status = $2, completed_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE id = $1 RETURNING id)
     INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
     SELECT id, $3, $2, $4, $5 FROM updated`,
    [taskId, to, from, reason, actor],
  );
  return { taskId, from, to };
}

const COUNT_STEPS_SQL = `
SELECT count(*)::int AS total,
       count(*) FILTER (WHERE status IN ('complete', 'resolved_manually'))::int AS satisfied,
       count(*) FILTER (WHERE status IN ('enqueued', 'held', 'in_progress', 'waiting_retry'))::int AS in_flight
  FROM workflow_steps WHERE task_id = $1`;

async function countSteps(db: Queryable, taskId: string) {
  const { rows } = await db.query({
    name: 'switchyard_count_task_steps',
    text: COUNT_STEPS_SQL,
    values: [taskId],
  });
  return {
    total: rows[0].total as number,
    satisfied: rows[0].satisfied as number,
    inFlight: rows[0].in_flight as number,
  };
}

/**
 * Whether finalizeTaskIfDone could change the task, judged without any lock. Call it after
 * the change to a step has committed: a fresh snapshot that still shows another step of the
 * task in flight proves this caller is not the last to settle, and whoever settles last will
 * see this commit and finalize. Only the last (or, in a race, the last few) pay for the task
 * row lock, a transaction and its WAL flush; in a diamond the first branch to finish pays one
 * read instead.
 */
export async function mayBeDone(db: Queryable, taskId: string): Promise<boolean> {
  return decideTaskStatus(await countSteps(db, taskId)) !== null;
}
