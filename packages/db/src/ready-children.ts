/**
 * The one piece of SQL that makes children ready. Written once and used by every statement
 * that satisfies a step (a successful attempt, a manual resolution), so "ready" means the same
 * everywhere: the child's last unsatisfied parent was just satisfied, in the same statement
 * that satisfied it.
 */

import { STEP_SETTLED } from '@switchyard/core';
import { nextAttemptSql } from './attempt-fence.ts';
import { BLOCKED_BY_BREAKER, sqlList } from './breaker-sql.ts';
import { LIMIT_IN_FORCE } from './service-limit-sql.ts';

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
 * Claiming ready children in the statement that makes them ready, for the worker that recorded
 * their parent (the success statement, step-outcomes.ts). Names two CTEs of that statement:
 * `continuing`, with `id`, the parents whose children may be claimed here; `offer`, with
 * `handler`, `room` and `lease_ms`, how many children of each step type the worker has slots
 * for, and their lease.
 */
export type ChildClaimOffer = { continuing: string; offer: string };

/** Statuses in which a parent will not hold its children back again (satisfied or skipped). */
const SETTLED_STATUSES = sqlList(STEP_SETTLED);

/**
 * CTEs `children`, `ready` and `child_transitions` for the steps returned by the CTE named
 * `parent` (rows with `id`; none, one or many). `actor` is the SQL expression of the actor (a
 * parameter). Append after the parent's CTEs; select {@link READY_STEPS_JSON} at the end.
 *
 * A child with several parents in `parent` (two branches of a diamond finishing in one batch)
 * is decremented by their number at once: an UPDATE changes a row once however many joined
 * rows match it. The children are locked in id order first, so two statements satisfying
 * parents of the same children cannot deadlock.
 *
 * With `claim`, a child made ready that the offer has room for goes straight to `in_progress`,
 * claimed by `actor` (CTE `claimed_children`), in the same update: one row version and no claim
 * statement. Only a child no delivery could claim is taken: it is ready in this statement, under
 * its row lock (so nothing else has claimed it), and it is claimed only where a delivery's claim
 * would take it, that is, its task still runs, no breaker blocks its service and no limit is in
 * force on it (those children stay `enqueued` and go to the claim that judges them), and only
 * when the statement sees every other parent of it settled (see childClaimCte). Its audit
 * rows are the two a delivery's claim leaves: pending → enqueued, then enqueued → in_progress.
 * Locks: the children's rows.
 */
export function readyChildrenCtes(parent: string, actor: string, claim?: ChildClaimOffer): string {
  const becomesReady = `c.pending_parents = e.satisfied AND c.status = 'pending'`;
  const claimedHere = claim ? 'g.id IS NOT NULL' : 'false';
  return `satisfied_edges AS MATERIALIZED (
  SELECT e.to_step_id AS id, count(*)::int AS satisfied${
    claim
      ? `,
         bool_or(e.from_step_id IN (SELECT id FROM ${claim.continuing})) AS continues`
      : ''
  }
    FROM workflow_step_edges e WHERE e.from_step_id IN (SELECT id FROM ${parent})
   GROUP BY e.to_step_id
), locked_children AS MATERIALIZED (
  SELECT c.id${claim ? ', c.task_id, c.handler, c.dependent_system, c.probe, c.status, c.pending_parents' : ''}
    FROM workflow_steps c WHERE c.id IN (SELECT id FROM satisfied_edges) ORDER BY c.id FOR UPDATE
), ${claim ? childClaimCte(parent, claim) : ''}children AS (
  UPDATE workflow_steps c
     SET pending_parents = c.pending_parents - e.satisfied,
         status = CASE WHEN ${claimedHere} THEN 'in_progress' WHEN ${becomesReady} THEN 'enqueued' ELSE c.status END,
         enqueued_at = CASE WHEN ${becomesReady} THEN clock_timestamp() ELSE c.enqueued_at END,${
           claim
             ? `
         attempts = c.attempts + CASE WHEN ${claimedHere} THEN 1 ELSE 0 END,
         claimed_by = CASE WHEN ${claimedHere} THEN ${actor} ELSE c.claimed_by END,
         lease_expires_at = CASE WHEN ${claimedHere}
                                 THEN clock_timestamp() + GREATEST(g.lease_ms, c.timeout_ms) * interval '1 millisecond'
                                 ELSE c.lease_expires_at END,
         started_at = CASE WHEN ${claimedHere} THEN clock_timestamp() ELSE c.started_at END,
         claimed_for_fallback = CASE WHEN ${claimedHere} THEN false ELSE c.claimed_for_fallback END,`
             : ''
         }
         updated_at = clock_timestamp()
    FROM satisfied_edges e${claim ? ' LEFT JOIN eager_claims g ON g.id = e.id' : ''}
   WHERE c.id = e.id AND c.id IN (SELECT id FROM locked_children)
  RETURNING c.id, c.task_id, c.handler, c.attempts, c.status, c.pending_parents, c.started_at,
            ${claimedHere} AS claimed_here
), ready AS (
  SELECT * FROM children WHERE status = 'enqueued' AND pending_parents = 0
), child_transitions AS (
  INSERT INTO step_transitions (step_id, task_id, from_status, to_status, reason, actor)
  SELECT id, task_id, 'pending', 'enqueued', 'dependencies satisfied', ${actor} FROM children
   WHERE (status = 'enqueued' AND pending_parents = 0) OR claimed_here
  RETURNING step_id
)${
    claim
      ? `, claimed_children AS (
  SELECT * FROM children WHERE claimed_here
), child_claim_transitions AS (
  -- Reads child_transitions, so its rows come after those (transitions are read in id order).
  INSERT INTO step_transitions (step_id, task_id, attempt, from_status, to_status, actor)
  SELECT id, task_id, attempts, 'enqueued', 'in_progress', ${actor} FROM claimed_children
   WHERE id IN (SELECT step_id FROM child_transitions)
)`
      : ''
  }`;
}

/**
 * CTE `eager_claims`: the children this statement makes ready that it claims for the worker,
 * at most `room` of each step type in the offer (see readyChildrenCtes).
 */
function childClaimCte(parent: string, { offer }: ChildClaimOffer): string {
  return `eager_claims AS MATERIALIZED (
  SELECT id, lease_ms FROM (
    SELECT s.id, o.lease_ms, o.room, row_number() OVER (PARTITION BY s.handler ORDER BY s.id) AS rank
      FROM locked_children s JOIN satisfied_edges e ON e.id = s.id
      JOIN ${offer} o ON o.handler = s.handler
      JOIN tasks t ON t.id = s.task_id
     WHERE e.continues AND s.pending_parents = e.satisfied AND s.status = 'pending'
       AND (t.status IN ('pending', 'in_progress')) IS TRUE
       AND NOT EXISTS (SELECT 1 FROM circuit_breakers b
                        WHERE b.dependent_system = s.dependent_system AND ${BLOCKED_BY_BREAKER})
       AND NOT EXISTS (SELECT 1 FROM service_limits l
                        WHERE l.dependent_system = s.dependent_system AND ${LIMIT_IN_FORCE})
       -- The worker gets the parents' results as this statement sees them: those recorded here,
       -- and the others as of its start. A parent another statement settled since (this one then
       -- waited for the child's row lock) is not visible yet, so such a child is left to the
       -- claim, which runs after this commits and reads every parent's results.
       AND NOT EXISTS (SELECT 1 FROM workflow_step_edges pe JOIN workflow_steps p ON p.id = pe.from_step_id
                        WHERE pe.to_step_id = s.id AND p.id NOT IN (SELECT id FROM ${parent})
                          AND (p.status IN ${SETTLED_STATUSES}) IS NOT TRUE)
  ) ranked WHERE rank <= room
), `;
}

/** The steps made ready, as ReadyStep JSON (`[]` when none). */
export const READY_STEPS_JSON = `COALESCE((SELECT json_agg(json_build_object('stepId', ready.id, 'taskId', ready.task_id, 'handler', ready.handler,
                                                   'attempt', ${nextAttemptSql('ready')}, 'namespace', ns.name, 'priority', t.priority))
                                   FROM ready JOIN tasks t ON t.id = ready.task_id
                                   JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id), '[]'::json)`;
