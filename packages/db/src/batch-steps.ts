/**
 * Batch steps: the success of a `batchable` step creates its workers in the same transaction,
 * and a worker's attempts record checkpoints behind the fence.
 *
 * The template's `batch_worker` step (the prototype) becomes batch 0 and N - 1 rows are copied
 * from it (handler, dependent system, retry policy, timeout, config), named `<prototype>#<i>`.
 * Each worker depends on the batchable step, and each child of the prototype depends on every
 * worker, so a join after them waits for all. Every row is an ordinary step: claims, retries,
 * leases, cancellation, operator repairs, the scheduler's sweeps and task finalization treat
 * them like any other, with no special case. A plan of no batches completes the prototype
 * without running it (`pending → complete`, in the audit) and its children proceed.
 */
import { MAX_BATCHES_PER_TASK } from '@switchyard/core';
import type pg from 'pg';
import { heldByClaimerSql } from './attempt-fence.ts';
import type { Queryable } from './pool.ts';
import { READY_STEPS_JSON, type ReadyStep, readyChildrenCtes } from './ready-children.ts';
import {
  breakerAfterProbe,
  type OutcomeResult,
  type StepSuccess,
  stepSuccessesQuery,
} from './step-outcomes.ts';
import { finalizeAfterCommit } from './task-finalization.ts';
import { withTransaction } from './transaction.ts';

/** What recording a batchable step's success did. */
export type BatchCreation =
  /** The success was recorded (or refused as stale: `outcome.applied` false); `created` workers in all. */
  | { kind: 'recorded'; outcome: OutcomeResult; batches: number }
  /** The task would hold more than MAX_BATCHES_PER_TASK batches: nothing was written. */
  | { kind: 'over_limit'; message: string };

const LOCK_CLAIMED_SQL = `SELECT s.id FROM workflow_steps s
  WHERE s.id = $1 AND ${heldByClaimerSql('s', '$2', '$3')} FOR UPDATE`;

const LOCK_PROTOTYPE_SQL = `
SELECT c.id,
       (SELECT count(*)::int FROM workflow_steps w WHERE w.task_id = c.task_id AND w.batch_of IS NOT NULL) AS batches
  FROM workflow_step_edges e JOIN workflow_steps c ON c.id = e.to_step_id
 WHERE e.from_step_id = $1 AND c.type = 'batch_worker' AND c.batch_of IS NULL AND (c.status = 'pending') IS TRUE
   FOR UPDATE OF c`;

/**
 * Workers 1..N-1 copied from the prototype $1, their edges, the children's extra parents and
 * the audit rows: one statement, one INSERT per table (unnest of the cursors, no per-batch
 * round trip). $2 is every batch's cursor (batch 0's goes on the prototype), $3 the actor.
 */
const CREATE_WORKERS_SQL = `
WITH prototype AS (
  UPDATE workflow_steps SET batch_of = id, batch_index = 0, batch_cursor = ($2::jsonb[])[1], updated_at = clock_timestamp()
   WHERE id = $1 RETURNING *
), batch AS (
  SELECT c.cursor, (c.n - 1)::int AS index FROM unnest($2::jsonb[]) WITH ORDINALITY AS c(cursor, n) WHERE c.n > 1
), workers AS (
  INSERT INTO workflow_steps (task_id, name, handler, dependent_system, status, max_attempts, backoff_base_ms,
                              backoff_cap_ms, jitter, timeout_ms, handler_config, pending_parents, on_breaker_open,
                              publishes, type, batch_of, batch_index, batch_cursor)
  SELECT p.task_id, p.name || '#' || b.index, p.handler, p.dependent_system, 'pending', p.max_attempts,
         p.backoff_base_ms, p.backoff_cap_ms, p.jitter, p.timeout_ms, p.handler_config, p.pending_parents,
         p.on_breaker_open, p.publishes, p.type, p.id, b.index, b.cursor
    FROM prototype p CROSS JOIN batch b
  RETURNING id, task_id
), parents AS (
  SELECT e.from_step_id FROM workflow_step_edges e WHERE e.to_step_id = $1
), children AS (
  SELECT e.to_step_id FROM workflow_step_edges e WHERE e.from_step_id = $1
), edges AS (
  INSERT INTO workflow_step_edges (task_id, from_step_id, to_step_id)
  SELECT w.task_id, p.from_step_id, w.id FROM workers w CROSS JOIN parents p
  UNION ALL
  SELECT w.task_id, w.id, c.to_step_id FROM workers w CROSS JOIN children c
), joins AS (
  UPDATE workflow_steps j SET pending_parents = j.pending_parents + (SELECT count(*) FROM workers)::int,
         updated_at = clock_timestamp()
   WHERE j.id IN (SELECT to_step_id FROM children)
), created AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, NULL, 'pending', 'created from the batch plan', $3 FROM workers
)
SELECT count(*)::int AS created FROM workers`;

/**
 * An empty plan: the prototype completes without running and its children proceed, in one
 * statement. Its own pending parent (the batchable step) is satisfied by the success statement
 * that follows, which leaves a complete step complete.
 */
const COMPLETE_EMPTY_SQL = `
WITH done AS (
  UPDATE workflow_steps SET status = 'complete', batch_of = id, completed_at = clock_timestamp(),
         updated_at = clock_timestamp()
   WHERE id = $1 AND (status = 'pending') IS TRUE
  RETURNING id, task_id, attempts
), step_transition AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'complete', 'batch plan has no batches; the worker did not run', $2 FROM done
), ${readyChildrenCtes('done', '$2')}
SELECT ${READY_STEPS_JSON} AS ready`;

/**
 * Records the success of a batchable step's attempt and creates its batch workers from
 * `cursors`, in one transaction: lock the step behind the fence, lock the pending prototype,
 * create the workers (or complete the prototype for no cursors), then the ordinary success
 * statement, whose readiness makes every worker ready. Returns the ready steps to dispatch
 * after commit. A stale attempt creates nothing (its success is kept as stale, as anywhere).
 * Refuses, writing nothing, a plan that would take the task over MAX_BATCHES_PER_TASK.
 * Locks: the batchable step, the prototype, the children of the prototype (in id order), then
 * the task (finalizing) or the breaker row (a probe).
 */
export async function recordBatchableSuccess(
  pool: pg.Pool,
  workerId: string,
  success: StepSuccess,
  cursors: readonly unknown[],
): Promise<BatchCreation> {
  const { record } = success;
  const created = await withTransaction(pool, async (client) => {
    const held = await client.query(LOCK_CLAIMED_SQL, [record.stepId, record.attempt, workerId]);
    const prototype = held.rowCount
      ? (await client.query(LOCK_PROTOTYPE_SQL, [record.stepId])).rows[0]
      : null;
    if (prototype && prototype.batches + cursors.length > MAX_BATCHES_PER_TASK) {
      const message = `batch plan of ${cursors.length} batches would take the task to ${prototype.batches + cursors.length}, over the limit of ${MAX_BATCHES_PER_TASK} batches per task`;
      return { kind: 'over_limit' as const, message };
    }
    const early = prototype ? await createWorkers(client, prototype.id, cursors, workerId) : [];
    const { rows } = await client.query(stepSuccessesQuery(workerId, [success]));
    const applied = (rows[0].applied as string[]).length > 0;
    return { kind: 'recorded' as const, applied, ready: [...early, ...(rows[0].ready as ReadyStep[])] };
  });
  if (created.kind === 'over_limit') return created;
  const { applied, ready } = created;
  const finalized =
    applied && ready.length === 0 ? await finalizeAfterCommit(pool, [record.taskId], workerId) : null;
  const breaker = await breakerAfterProbe(pool, record, workerId);
  const outcome: OutcomeResult = {
    applied,
    ready,
    claimed: [],
    retry: null,
    task: finalized?.get(record.taskId) ?? null,
    held: false,
    breaker,
  };
  return { kind: 'recorded', outcome, batches: applied ? cursors.length : 0 };
}

async function createWorkers(
  client: pg.PoolClient,
  prototypeId: string,
  cursors: readonly unknown[],
  actor: string,
): Promise<ReadyStep[]> {
  if (cursors.length === 0) {
    const { rows } = await client.query(COMPLETE_EMPTY_SQL, [prototypeId, actor]);
    return rows[0].ready as ReadyStep[];
  }
  const json = cursors.map((cursor) => JSON.stringify(cursor ?? null));
  await client.query(CREATE_WORKERS_SQL, [prototypeId, json, actor]);
  return [];
}

/** A checkpoint of a batch worker's attempt: how far it got, and what it has gathered so far. */
export type BatchCheckpoint = {
  stepId: string;
  attempt: number;
  workerId: string;
  cursor: unknown;
  partial: unknown;
};

const CHECKPOINT_SQL = `
UPDATE workflow_steps s
   SET batch_checkpoint = jsonb_build_object('cursor', $4::jsonb, 'partial', $5::jsonb, 'attempt', $2::int,
                                             'at', clock_timestamp()),
       updated_at = clock_timestamp()
 WHERE s.id = $1 AND s.batch_index IS NOT NULL AND ${heldByClaimerSql('s', '$2', '$3')}`;

/**
 * Records a batch worker's checkpoint, behind the fence: only the claimer of the current
 * attempt may write it, so a stale attempt (its lease expired and the batch runs elsewhere)
 * cannot move the cursor back. Returns false when refused. The next attempt of the step
 * receives the last checkpoint with its claim. Locks: the step row.
 */
export async function recordBatchCheckpoint(db: Queryable, checkpoint: BatchCheckpoint): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'switchyard_batch_checkpoint',
    text: CHECKPOINT_SQL,
    values: [
      checkpoint.stepId,
      checkpoint.attempt,
      checkpoint.workerId,
      JSON.stringify(checkpoint.cursor ?? null),
      JSON.stringify(checkpoint.partial ?? null),
    ],
  });
  return rowCount === 1;
}
