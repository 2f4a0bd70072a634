/**
 * The one piece of SQL that makes children ready. Written once and used by every statement
 * that satisfies a step (a successful attempt, a manual resolution), so "ready" means the same
 * everywhere: the child's last unsatisfied parent was just satisfied, in the same statement
 * that satisfied it.
 */

import { nextAttemptSql } from './attempt-fence.ts';

/** A step made ready by a state change; dispatch it after the transaction commits. */
export type ReadyStep = {
  stepId: string;
  taskId: string;
  handler: string;
  attempt: number;
  /** The task's namespace and priority, for fair queueing (absent from some sources). */
  namespace?: string;
  priority?: number;
};

/**
 * SQL: a LATERAL read of the namespace and priority of task `taskId` (a SQL expression of the
 * row it follows), for fair queueing: `CROSS JOIN LATERAL <this> place` gives
 * `place.namespace` and `place.priority` (one probe of tasks, named_tasks and namespaces by key).
 */
export function taskPlaceSql(taskId: string): string {
  return `(SELECT ns.name AS namespace, t.priority FROM tasks t JOIN named_tasks nt ON nt.id = t.named_task_id
             JOIN namespaces ns ON ns.id = nt.namespace_id WHERE t.id = ${taskId})`;
}

/**
 * CTEs `children`, `ready` and `child_transitions` for the steps returned by the CTE named
 * `parent` (rows with `id`; none, one or many). `actor` is the SQL expression of the actor (a
 * parameter). Append after the parent's CTEs; select {@link READY_STEPS_JSON} at the end.
 *
 * A child with several parents in `parent` (two branches of a diamond finishing in one batch)
 * is decremented by their number at once: an UPDATE changes a row once however many joined
 * rows match it. The children are locked in id order first, so two statements satisfying
 * parents of the same children cannot deadlock.
 * Locks: the children's rows.
 */
export function readyChildrenCtes(parent: string, actor: string): string {
  return `satisfied_edges AS MATERIALIZED (
  SELECT e.to_step_id AS id, count(*)::int AS satisfied
    FROM workflow_step_edges e WHERE e.from_step_id IN (SELECT id FROM ${parent})
   GROUP BY e.to_step_id
), locked_children AS MATERIALIZED (
  SELECT c.id FROM workflow_steps c WHERE c.id IN (SELECT id FROM satisfied_edges) ORDER BY c.id FOR UPDATE
), children AS (
  UPDATE workflow_steps c
     SET pending_parents = c.pending_parents - e.satisfied,
         status = CASE WHEN c.pending_parents = e.satisfied AND c.status = 'pending' THEN 'enqueued' ELSE c.status END,
         enqueued_at = CASE WHEN c.pending_parents = e.satisfied AND c.status = 'pending' THEN clock_timestamp() ELSE c.enqueued_at END,
         updated_at = clock_timestamp()
    FROM satisfied_edges e
   WHERE c.id = e.id AND c.id IN (SELECT id FROM locked_children)
  RETURNING c.id, c.task_id, c.handler, c.attempts, c.status, c.pending_parents
), ready AS (
  SELECT * FROM children WHERE status = 'enqueued' AND pending_parents = 0
), child_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'enqueued', 'dependencies satisfied', ${actor} FROM ready
)`;
}

/** The steps made ready, as ReadyStep JSON (`[]` when none). */
export const READY_STEPS_JSON = `COALESCE((SELECT json_agg(json_build_object('stepId', ready.id, 'taskId', ready.task_id, 'handler', ready.handler,
                                                   'attempt', ${nextAttemptSql('ready')}, 'namespace', ns.name, 'priority', t.priority))
                                   FROM ready JOIN tasks t ON t.id = ready.task_id
                                   JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id), '[]'::json)`;
