/**
 * Read models behind the operators' dashboard that the task and breaker reads do not cover:
 * a breaker's transition log and held steps, and the workers serving each step type.
 * Reads only; no locks.
 */
import type { Queryable } from './pool.ts';

/** One change of a breaker's state, with the evidence recorded when it was decided. */
export type BreakerTransitionView = {
  id: string;
  from: string | null;
  to: string;
  reason: string;
  actor: string;
  /** Window counts and the attempts that tripped it, or the operator's action and reason. */
  evidence: unknown;
  at: Date;
};

/** A system's breaker transitions, newest first (at most `limit`, default 50). */
export async function listBreakerTransitions(
  db: Queryable,
  dependentSystem: string,
  limit = 50,
): Promise<BreakerTransitionView[]> {
  const { rows } = await db.query(
    `SELECT id::text, from_state AS "from", to_state AS "to", reason, actor, evidence, created_at AS at
       FROM breaker_transitions WHERE dependent_system = $1 ORDER BY id DESC LIMIT $2`,
    [dependentSystem, limit],
  );
  return rows as BreakerTransitionView[];
}

/** A step parked by its system's breaker or Retry-After hold. */
export type HeldStepView = {
  taskId: string;
  namespace: string;
  step: string;
  attempts: number;
  holdReason: string | null;
  holdUntil: Date | null;
  heldSince: Date;
};

/**
 * Steps of a system that are held, longest held first (at most `limit`, default 50).
 * `namespaces` restricts them to those (an API key's restriction).
 */
export async function listHeldSteps(
  db: Queryable,
  input: { dependentSystem: string; namespaces?: readonly string[]; limit?: number },
): Promise<HeldStepView[]> {
  const { rows } = await db.query(
    `SELECT s.task_id AS "taskId", ns.name AS namespace, s.name AS step, s.attempts,
            s.hold_reason AS "holdReason", s.hold_until AS "holdUntil", s.updated_at AS "heldSince"
       FROM workflow_steps s JOIN tasks t ON t.id = s.task_id
       JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
      WHERE s.dependent_system = $1 AND s.status = 'held' AND ($2::text[] IS NULL OR ns.name = ANY($2))
      ORDER BY s.updated_at, s.id LIMIT $3`,
    [input.dependentSystem, input.namespaces ?? null, input.limit ?? 50],
  );
  return rows as HeldStepView[];
}

/** A worker process that has beaten recently, with the step types it consumes. */
export type LiveWorkerView = {
  id: string;
  hostname: string;
  pid: number;
  handlers: string[];
  concurrency: number;
  startedAt: Date;
  lastSeenAt: Date;
};

/** Workers not stopped that have beaten within `liveWithinMs` (as findUnservedSteps judges them). */
export async function listLiveWorkers(db: Queryable, liveWithinMs: number): Promise<LiveWorkerView[]> {
  const { rows } = await db.query(
    `SELECT id, hostname, pid, handlers, concurrency, started_at AS "startedAt", last_seen_at AS "lastSeenAt"
       FROM workers
      WHERE stopped_at IS NULL AND last_seen_at > clock_timestamp() - $1 * interval '1 millisecond'
      ORDER BY id`,
    [liveWithinMs],
  );
  return rows as LiveWorkerView[];
}

/** Step types (handlers) of every registered template, sorted: the queues that exist. */
export async function listStepTypes(db: Queryable): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT DISTINCT step->>'handler' AS handler
       FROM named_tasks, jsonb_array_elements(definition->'steps') step ORDER BY 1`,
  );
  return rows.map((row) => row.handler as string);
}

/** Steps per status for each step type, over the states that are still waiting or running. */
export async function countOpenStepsByType(db: Queryable): Promise<Record<string, Record<string, number>>> {
  const { rows } = await db.query(
    `SELECT handler, status, count(*)::int AS n FROM workflow_steps
      WHERE status IN ('enqueued', 'held', 'in_progress', 'waiting_retry') GROUP BY handler, status`,
  );
  const byType: Record<string, Record<string, number>> = {};
  for (const row of rows) byType[row.handler] = { ...byType[row.handler], [row.status]: row.n };
  return byType;
}
