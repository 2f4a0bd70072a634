/**
 * The scheduler's repairs: the safety net under "write state first, dispatch second".
 * Each repair is a fenced, atomic state change over rows taken with FOR UPDATE SKIP LOCKED, so
 * two scheduler replicas running the same sweep at once never repair the same step twice.
 */
import type pg from 'pg';
import { countedAttemptsSql, nextAttemptSql } from './attempt-fence.ts';
import type { Queryable } from './pool.ts';
import { type ReadyStep, taskPlaceSql } from './ready-children.ts';
import { finalizeTaskIfDone, type TaskFinalization } from './task-finalization.ts';
import { withTransaction } from './transaction.ts';

export type ExpiredLease = ReadyStep & { status: 'enqueued' | 'error'; workerId: string };

// The expired attempt counts: the step gets another only if attempts are left.
const ATTEMPTS_LEFT = `${countedAttemptsSql('s')} < s.max_attempts`;

const EXPIRE_LEASES_SQL = `
WITH expired AS (
  SELECT id, claimed_by FROM workflow_steps
   WHERE status = 'in_progress' AND lease_expires_at < clock_timestamp()
   ORDER BY lease_expires_at
   LIMIT $1
   FOR UPDATE SKIP LOCKED
), released AS (
  UPDATE workflow_steps s
     SET status = CASE WHEN ${ATTEMPTS_LEFT} THEN 'enqueued' ELSE 'error' END,
         enqueued_at = CASE WHEN ${ATTEMPTS_LEFT} THEN clock_timestamp() ELSE s.enqueued_at END,
         completed_at = CASE WHEN ${ATTEMPTS_LEFT} THEN NULL ELSE clock_timestamp() END,
         claimed_by = NULL, lease_expires_at = NULL, next_attempt_at = NULL, updated_at = clock_timestamp(),
         last_error = jsonb_build_object('outcome', 'lease_expired', 'class', 'LeaseExpired', 'attempt', s.attempts,
                                         'message', 'worker ' || e.claimed_by || ' stopped renewing its lease')
    FROM expired e
   WHERE s.id = e.id
  RETURNING s.id, s.task_id, s.handler, s.attempts, s.status, s.dependent_system, s.started_at, e.claimed_by
), attempt_rows AS (
  INSERT INTO step_attempts (step_id, task_id, attempt, dependent_system, worker_id, outcome, error_class,
                             error_message, started_at, finished_at, duration_ms)
  SELECT id, task_id, attempts, dependent_system, claimed_by, 'lease_expired', 'LeaseExpired',
         'worker stopped renewing its lease', started_at, clock_timestamp(),
         GREATEST(0, extract(epoch FROM clock_timestamp() - started_at) * 1000)::int
    FROM released
  ON CONFLICT (step_id, attempt) DO NOTHING
), transitions AS (
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, reason, actor)
  SELECT id, task_id, attempts, 'in_progress', status, 'lease expired', $2 FROM released
)
SELECT r.id AS "stepId", r.task_id AS "taskId", r.handler, ${nextAttemptSql('r')} AS attempt, r.status,
       r.claimed_by AS "workerId", place.namespace, place.priority
  FROM released r CROSS JOIN LATERAL ${taskPlaceSql('r.task_id')} place`;

/**
 * Takes back attempts whose worker stopped renewing the lease (died or hung): the step is
 * enqueued for its next attempt, or fails when that was its last (and its task is finalized).
 * The lost attempt stays in the history as `lease_expired`; a late result from it is recorded
 * on that row, stale, and changes nothing (step-outcomes.ts).
 * Locks: up to `limit` expired step rows (skipping rows another replica holds), then task rows.
 */
export async function expireLeases(
  client: pg.PoolClient,
  input: { limit: number; actor: string },
): Promise<{ released: ExpiredLease[]; finalized: TaskFinalization[] }> {
  const { rows } = await client.query(EXPIRE_LEASES_SQL, [input.limit, input.actor]);
  const released = rows as ExpiredLease[];
  const finalized: TaskFinalization[] = [];
  for (const taskId of new Set(released.filter((r) => r.status === 'error').map((r) => r.taskId))) {
    const done = await finalizeTaskIfDone(client, taskId, input.actor);
    if (done) finalized.push(done);
  }
  return { released, finalized };
}

/**
 * Steps the database says should have a job in a queue: enqueued for longer than `graceMs`
 * (the worker that made them ready dispatches right after commit, so a younger one may still
 * be on its way), or waiting for a retry that is overdue by `graceMs`. A candidate is "due"
 * from its enqueued_at or its next_attempt_at. A root step of a task with a delayed start is
 * enqueued with a future next_attempt_at: it is a candidate from its enqueued_at like any other
 * (so a job lost long before its time is re-added, delayed by what is left, not late).
 */
const CANDIDATE = `((s.status = 'enqueued' AND s.enqueued_at < clock_timestamp() - $1 * interval '1 millisecond')
   OR (s.status = 'waiting_retry' AND s.next_attempt_at < clock_timestamp() - $1 * interval '1 millisecond'))`;
const DUE_AT = `(CASE WHEN s.status = 'enqueued' THEN s.enqueued_at ELSE s.next_attempt_at END)`;

/** Where a scan of dispatch candidates stopped: the last candidate's due time and id. */
export type DispatchCursor = { dueAt: Date; stepId: string };
/** `delayMs`: what is left of a delayed start (a task's run_at), so a re-added job still waits for it. */
export type DispatchCandidate = ReadyStep & { dueAt: Date; delayMs: number };

/**
 * Dispatch candidates (see CANDIDATE) of every step type, oldest due first, after `after`
 * (keyset on due time, then id), at most `limit`. The caller checks which of them have no job
 * in Redis; this takes no locks and changes nothing.
 *
 * Inputs: `graceMs`, `limit`, `after` (null: from the oldest).
 * Locks: none. Returns: up to `limit` candidates with their due time; fewer means the scan
 * reached the newest candidate. Errors: only the pool's.
 */
export async function findDispatchCandidates(
  db: Queryable,
  input: { graceMs: number; limit: number; after?: DispatchCursor | null },
): Promise<DispatchCandidate[]> {
  const { rows } = await db.query(
    `SELECT s.id AS "stepId", s.task_id AS "taskId", s.handler, ${nextAttemptSql('s')} AS attempt, ${DUE_AT} AS "dueAt",
            GREATEST(0, ceil(extract(epoch FROM s.next_attempt_at - clock_timestamp()) * 1000))::int AS "delayMs",
            owner.namespace, owner.priority
       FROM workflow_steps s
       -- The task's namespace and priority place the re-added job in its queue (fair queueing):
       -- one read of the task per candidate.
       CROSS JOIN LATERAL (
         SELECT ns.name AS namespace, t.priority FROM tasks t JOIN named_tasks nt ON nt.id = t.named_task_id
           JOIN namespaces ns ON ns.id = nt.namespace_id WHERE t.id = s.task_id) owner
      WHERE ${CANDIDATE} AND ($3::timestamptz IS NULL OR (${DUE_AT}, s.id) > ($3::timestamptz, $4::uuid))
      ORDER BY ${DUE_AT}, s.id
      LIMIT $2`,
    [input.graceMs, input.limit, input.after?.dueAt ?? null, input.after?.stepId ?? null],
  );
  return rows as DispatchCandidate[];
}

/**
 * Of `steps`, those still waiting for the same attempt to be dispatched (enqueued, or a retry).
 * The scheduler reads its candidates before it checks Redis; a job that a worker finished in
 * between is gone from Redis too, and this second read keeps such a step from being re-dispatched.
 * Locks: none. Returns the steps still waiting, in the order given.
 */
export async function stillAwaitingDispatch<T extends ReadyStep>(
  db: Queryable,
  steps: readonly T[],
): Promise<T[]> {
  if (steps.length === 0) return [];
  const { rows } = await db.query(
    `SELECT s.id FROM workflow_steps s
       JOIN unnest($1::uuid[], $2::int[]) AS w(id, attempt) ON s.id = w.id AND ${nextAttemptSql('s')} = w.attempt
      WHERE s.status IN ('enqueued', 'waiting_retry')`,
    [steps.map((step) => step.stepId), steps.map((step) => step.attempt)],
  );
  const waiting = new Set(rows.map((row) => row.id as string));
  return steps.filter((step) => waiting.has(step.stepId));
}

/** Where the scan for settled tasks resumes: after the running task with this id (null: from the first). */
export type SettledTaskCursor = { after: string | null };

// From the nil UUID when there is no cursor: one index condition whatever the value, where
// `$3 IS NULL OR t.id > $3` leaves it to the plan made for the value.
const SETTLED_TASKS_SQL = `
WITH page AS (
  SELECT t.id FROM tasks t
   WHERE t.status IN ('pending', 'in_progress')
     AND t.id > COALESCE($3::uuid, '00000000-0000-0000-0000-000000000000')
   ORDER BY t.id
   LIMIT $1)
SELECT p.id, NOT EXISTS (SELECT 1 FROM workflow_steps s WHERE s.task_id = p.id
                          AND (s.status IN ('enqueued', 'held', 'in_progress', 'waiting_retry')
                               OR s.updated_at > clock_timestamp() - $2 * interval '1 millisecond')) AS settled
  FROM page p
 ORDER BY p.id`;

/**
 * Finalizes running tasks with nothing left in flight (normally done inline by the last step;
 * this catches tasks changed by operators or by repairs). Idempotent: finalizeTaskIfDone locks
 * and re-checks each task.
 *
 * Inputs: examines the next `limit` running tasks in id order after `cursor.after`, and moves
 * the cursor to the last of them, or back to null once the page reaches the last running task.
 * Successive calls with one cursor thus examine every running task once per pass of at most
 * ⌈running tasks / limit⌉ + 1 calls (the last page may be empty), each call a bounded page
 * (tasks_running_id_idx), however long the backlog. A task that starts behind the cursor waits
 * for the next pass. `graceMs`: a task with a step changed more recently than this is left alone.
 * Locks: none to read the page; then each settled task's row, one transaction each.
 * Returns the tasks finalized (at most `limit`). Errors: the pool's; one thrown while
 * finalizing leaves the rest of the page's settled tasks to the next pass (the cursor has moved).
 *
 * Cost (bench/src/settled-task-scan.ts: 20 000 running tasks beside 100 000 complete ones): a
 * page of 500 reads about 2 030 buffers wherever the cursor is; the unpaged scan it replaced read
 * 81 600 on every sweep. It relies on a plan made for its values, as the scheduler's pool makes
 * them (engine roles.ts): a generic plan does not know the limit and reads the index to its end.
 */
export async function finalizeSettledTasks(
  pool: pg.Pool,
  input: { limit: number; actor: string; graceMs: number; cursor: SettledTaskCursor },
): Promise<TaskFinalization[]> {
  // The grace leaves a task whose last step has just finished to the worker that finishes it
  // (it finalizes right after), so a repair here means something was really left behind.
  const { cursor } = input;
  const { rows } = await pool.query(SETTLED_TASKS_SQL, [input.limit, input.graceMs, cursor.after]);
  cursor.after = rows.length < input.limit ? null : (rows.at(-1)?.id ?? null);
  const finalized: TaskFinalization[] = [];
  for (const { id } of rows.filter((row) => row.settled)) {
    const done = await withTransaction(pool, (client) => finalizeTaskIfDone(client, id, input.actor));
    if (done) finalized.push(done);
  }
  return finalized;
}
