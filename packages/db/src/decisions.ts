/**
 * Decisions applied to a task: the steps a decision did not choose become `skipped`, with
 * every step behind them that can no longer run, and deferred joins whose parents are all
 * settled become ready (core's planSkips decides which). Applied in the transaction that
 * records the decision (a decision step's success, or an operator's resolve with a chosen
 * set), so no one ever sees a decision made and its branches still pending.
 */
import { type DecisionGraphStep, planSkips, type StepStatus } from '@switchyard/core';
import type pg from 'pg';
import { nextAttemptSql } from './attempt-fence.ts';
import { type ReadyStep, taskPlaceSql } from './ready-children.ts';

/** A step of the task, locked, as the decision sees it. */
export type LockedTaskStep = DecisionGraphStep & {
  id: string;
  handler: string;
  attempts: number;
  claimedBy: string | null;
  type: string | null;
  decides: string[];
};

/** What applying a decision changed; dispatch `ready` after commit. */
export type AppliedDecision = { skipped: string[]; ready: ReadyStep[] };

/**
 * Locks every step of the task, in id order, then reads them with their parents. With all of
 * them locked, no concurrent success can move a parent or decrement a join the plan is about
 * to count (a sibling's success waits for this commit, then sees the skips). Its own statement
 * first: under READ COMMITTED the read that follows sees every change committed before the
 * locks were granted. A sibling's success that already holds its step and waits for a child
 * this transaction locked is a deadlock Postgres breaks by aborting one: both run under
 * withRetries, so the loser runs again.
 * Locks: the task's step rows.
 */
export async function lockTaskSteps(client: pg.PoolClient, taskId: string): Promise<LockedTaskStep[]> {
  await client.query('SELECT id FROM workflow_steps WHERE task_id = $1 ORDER BY id FOR UPDATE', [taskId]);
  const { rows } = await client.query(
    `SELECT s.id, s.name, s.status, s.convergence, s.handler, s.attempts, s.claimed_by, s.type, s.decides,
            COALESCE((SELECT array_agg(p.name ORDER BY p.name) FROM workflow_step_edges e
                        JOIN workflow_steps p ON p.id = e.from_step_id WHERE e.to_step_id = s.id), '{}') AS parents
       FROM workflow_steps s WHERE s.task_id = $1`,
    [taskId],
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    status: row.status as StepStatus,
    convergence: row.convergence === 'deferred' ? 'deferred' : 'all',
    parents: row.parents as string[],
    handler: row.handler,
    attempts: row.attempts,
    claimedBy: row.claimed_by,
    type: row.type,
    decides: (row.decides as string[] | null) ?? [],
  }));
}

const SKIP_SQL = `
WITH request AS (
  SELECT * FROM unnest($1::uuid[], $2::text[]) AS r(step_id, reason)
), skipped AS (
  UPDATE workflow_steps s SET status = 'skipped', completed_at = clock_timestamp(), updated_at = clock_timestamp()
    FROM request r WHERE s.id = r.step_id AND s.status = 'pending'
  RETURNING s.id, s.task_id, r.reason
)
INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
SELECT id, task_id, 'pending', 'skipped', reason, $3 FROM skipped`;

const READY_SQL = `
WITH ready AS (
  UPDATE workflow_steps s
     SET status = 'enqueued', pending_parents = 0, enqueued_at = clock_timestamp(), updated_at = clock_timestamp()
   WHERE s.id = ANY($1::uuid[]) AND s.status = 'pending'
  RETURNING s.id, s.task_id, s.handler, s.attempts
), transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'enqueued', 'dependencies settled (deferred join; the rest skipped)', $2 FROM ready
)
SELECT json_build_object('stepId', r.id, 'taskId', r.task_id, 'handler', r.handler, 'attempt', ${nextAttemptSql('r')},
                         'namespace', place.namespace, 'priority', place.priority) AS step
  FROM ready r CROSS JOIN LATERAL ${taskPlaceSql('r.task_id')} place`;

/**
 * Applies the decision of step `decision` (one of `steps`, from lockTaskSteps) that chose
 * `chosen` among its `decides`: skips, deferred joins made ready, and the recount of the
 * unsettled parents of deferred joins still waiting (readyChildrenCtes makes them ready when
 * that count reaches 0). The chosen steps themselves become ready when the decision step is
 * then satisfied, by the caller's success or resolve statement in the same transaction.
 * Locks: nothing more (lockTaskSteps holds the rows).
 */
export async function applyDecision(
  client: pg.PoolClient,
  input: { steps: LockedTaskStep[]; decision: LockedTaskStep; chosen: readonly string[]; actor: string },
): Promise<AppliedDecision> {
  const { steps, decision, chosen, actor } = input;
  const unchosen = decision.decides.filter((name) => !chosen.includes(name));
  const plan = planSkips(steps, unchosen, decision.name);
  const idOf = new Map(steps.map((step) => [step.name, step.id]));
  const ids = (names: readonly string[]) => names.map((name) => idOf.get(name)!);
  if (plan.skipped.length > 0) {
    await client.query(SKIP_SQL, [
      ids(plan.skipped.map((s) => s.name)),
      plan.skipped.map((s) => s.reason),
      actor,
    ]);
  }
  if (plan.pendingParents.length > 0) {
    await client.query(
      `UPDATE workflow_steps s SET pending_parents = r.n, updated_at = clock_timestamp()
         FROM unnest($1::uuid[], $2::int[]) AS r(step_id, n) WHERE s.id = r.step_id`,
      [ids(plan.pendingParents.map((p) => p.name)), plan.pendingParents.map((p) => p.pendingParents)],
    );
  }
  const ready =
    plan.ready.length > 0
      ? (await client.query(READY_SQL, [ids(plan.ready), actor])).rows.map((row) => row.step as ReadyStep)
      : [];
  return { skipped: plan.skipped.map((s) => s.name), ready };
}

/** The reason recorded with a decision's transition: what it chose and what it skipped. */
export function decisionReason(chosen: readonly string[], applied: AppliedDecision): string {
  const chose = chosen.length > 0 ? chosen.join(', ') : 'nothing';
  const skipped = applied.skipped.length > 0 ? applied.skipped.join(', ') : 'nothing';
  return `decided: ${chose} (skipped: ${skipped})`;
}
