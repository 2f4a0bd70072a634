/**
 * The one piece of SQL that makes children ready. Written once and used by every statement
 * that satisfies a step (a successful attempt, a manual resolution), so "ready" means the same
 * everywhere: the child's last unsatisfied parent was just satisfied, in the same statement
 * that satisfied it.
 */

/**
 * CTEs `children`, `ready` and `child_transitions` for the step returned by the CTE named
 * `parent` (one row with `id`, or none). `actor` is the SQL expression of the actor (a
 * parameter). Append after the parent's CTEs; select {@link READY_STEPS_JSON} at the end.
 * Locks: the children's rows.
 */
export function readyChildrenCtes(parent: string, actor: string): string {
  return `children AS (
  UPDATE workflow_steps c
     SET pending_parents = c.pending_parents - 1,
         status = CASE WHEN c.pending_parents = 1 AND c.status = 'pending' THEN 'enqueued' ELSE c.status END,
         enqueued_at = CASE WHEN c.pending_parents = 1 AND c.status = 'pending' THEN clock_timestamp() ELSE c.enqueued_at END,
         updated_at = clock_timestamp()
    FROM workflow_step_edges e
   WHERE e.from_step_id = (SELECT id FROM ${parent}) AND c.id = e.to_step_id
  RETURNING c.id, c.task_id, c.handler, c.attempts, c.status, c.pending_parents
), ready AS (
  SELECT * FROM children WHERE status = 'enqueued' AND pending_parents = 0
), child_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'enqueued', 'dependencies satisfied', ${actor} FROM ready
)`;
}

/** The steps made ready, as ReadyStep JSON (`[]` when none). */
export const READY_STEPS_JSON = `COALESCE((SELECT json_agg(json_build_object('stepId', id, 'taskId', task_id, 'handler', handler,
                                                   'attempt', attempts + 1)) FROM ready), '[]'::json)`;
