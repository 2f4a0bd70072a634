import { decideTaskStatus, type TaskStepCounts } from '@switchyard/core';
import type { Pool, Queryable } from './pool.ts';
import { withRetries, withTransaction } from './transaction.ts';

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
  const counts = (await countSteps(db, [taskId])).get(taskId) ?? {
    total: 0,
    satisfied: 0,
    skipped: 0,
    inFlight: 0,
  };
  const to = decideTaskStatus(counts);
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
SELECT task_id,
       count(*)::int AS total,
       count(*) FILTER (WHERE status IN ('complete', 'resolved_manually'))::int AS satisfied,
       count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
       count(*) FILTER (WHERE status IN ('enqueued', 'held', 'in_progress', 'waiting_retry'))::int AS in_flight
  FROM workflow_steps WHERE task_id = ANY($1::uuid[]) GROUP BY task_id`;

type StepCounts = TaskStepCounts;

/** Step counts by task, for the tasks given (a task without steps has no entry). */
async function countSteps(db: Queryable, taskIds: string[]): Promise<Map<string, StepCounts>> {
  const { rows } = await db.query({
    name: 'switchyard_count_task_steps',
    text: COUNT_STEPS_SQL,
    values: [taskIds],
  });
  return new Map(
    rows.map((row) => [
      row.task_id as string,
      {
        total: row.total as number,
        satisfied: row.satisfied as number,
        skipped: row.skipped as number,
        inFlight: row.in_flight as number,
      },
    ]),
  );
}

const COMPLETE_SQL = `
WITH locked AS MATERIALIZED (
  SELECT id, status FROM tasks WHERE id = ANY($1::uuid[]) AND status IN ('pending', 'in_progress')
   ORDER BY id FOR UPDATE
), updated AS (
  UPDATE tasks t SET status = 'complete', completed_at = clock_timestamp(), updated_at = clock_timestamp()
    FROM locked l WHERE t.id = l.id
  RETURNING t.id, l.status AS from_status
), transition AS (
  INSERT INTO task_transitions (task_id, from_status, to_status, reason, actor)
  SELECT id, from_status, 'complete', 'all steps complete', $2 FROM updated
)
SELECT id, from_status FROM updated`;

/**
 * Finalizes tasks after changes to their steps have committed (outside any transaction),
 * paying for a task row lock only when an unlocked count says the task is done. Returns the
 * finalizations made, by task id.
 *
 * The count runs after the caller's commit: a fresh snapshot that still shows another step of
 * a task in flight proves this caller is not the last to settle, and whoever settles last will
 * see this commit and finalize. In a diamond the first branch to finish pays one read (one for
 * all the tasks of a batch).
 *
 * Tasks whose steps are all satisfied complete in one statement: satisfied steps never go back
 * (a retry takes a failed step, a resolution an unsatisfied one), so the count cannot go stale,
 * and the status guard, re-checked under the row lock, lets exactly one of two racing last
 * steps complete a task. An error decision can be undone by an operator acting at the same
 * moment, so it goes through the locked recount of finalizeTaskIfDone.
 */
export async function finalizeAfterCommit(
  pool: Pool,
  taskIds: string[],
  actor: string,
): Promise<Map<string, TaskFinalization>> {
  const finalized = new Map<string, TaskFinalization>();
  if (taskIds.length === 0) return finalized;
  const complete: string[] = [];
  for (const [taskId, counts] of await countSteps(pool, taskIds)) {
    const decision = decideTaskStatus(counts);
    if (decision === 'complete') complete.push(taskId);
    if (decision === 'error') {
      const done = await withTransaction(pool, (client) => finalizeTaskIfDone(client, taskId, actor));
      if (done) finalized.set(done.taskId, done);
    }
  }
  if (complete.length > 0) {
    const { rows } = await withRetries(() =>
      pool.query({ name: 'switchyard_complete_tasks', text: COMPLETE_SQL, values: [complete, actor] }),
    );
    for (const row of rows) finalized.set(row.id, { taskId: row.id, from: row.from_status, to: 'complete' });
  }
  return finalized;
}
