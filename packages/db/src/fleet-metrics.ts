/**
 * What the fleet's metrics are counted from: the append-only history (task transitions,
 * finished step attempts, step claims) read forward by id, and each breaker's current state.
 * Reads only; no locks.
 *
 * A history read returns the rows after `afterId`, oldest first, at most `limit`, and only those
 * at least `settledMs` old: ids are taken at insert and committed later, so a row with a lower id
 * can appear after a higher one, and a reader that resumes from the last id it saw would skip it.
 * A transaction open longer than `settledMs` can still be missed.
 */
import type { BreakerState } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** Where a history read resumes and how much it takes. */
export type HistoryRead = { afterId: number; limit: number; settledMs: number };

/** A task's status change, with the template of the task. `fromStatus` is null at creation. */
export type TaskTransitionEntry = {
  id: number;
  fromStatus: string | null;
  toStatus: string;
  namespace: string;
  name: string;
  version: string;
};

/** A finished step attempt, with the step type (handler) it ran. */
export type FinishedAttemptEntry = {
  id: number;
  outcome: string;
  dependentSystem: string;
  durationMs: number;
  handler: string;
};

/** A step's claim (its move to in_progress) and how long after the step's previous transition it came. */
export type StepClaimEntry = { id: number; handler: string; fromStatus: string | null; waitSeconds: number };

/** A breaker's current state. */
export type BreakerStateEntry = { dependentSystem: string; state: BreakerState };

const settled = (column: string) => `${column} < clock_timestamp() - $3 * interval '1 millisecond'`;

const history = (read: HistoryRead) => [read.afterId, read.limit, read.settledMs];

/** Task transitions after `afterId`, with the namespace, name and version of the task's template. */
export async function readTaskTransitions(db: Queryable, read: HistoryRead): Promise<TaskTransitionEntry[]> {
  const { rows } = await db.query(
    `SELECT tt.id, tt.from_status, tt.to_status, ns.name AS namespace, nt.name, nt.version
       FROM task_transitions tt JOIN tasks t ON t.id = tt.task_id
       JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id
      WHERE tt.id > $1 AND ${settled('tt.created_at')} ORDER BY tt.id LIMIT $2`,
    history(read),
  );
  return rows.map((row) => ({
    id: Number(row.id),
    fromStatus: row.from_status,
    toStatus: row.to_status,
    namespace: row.namespace,
    name: row.name,
    version: row.version,
  }));
}

/** Step attempts that finished, after `afterId` (settled by when they finished). */
export async function readFinishedAttempts(
  db: Queryable,
  read: HistoryRead,
): Promise<FinishedAttemptEntry[]> {
  const { rows } = await db.query(
    `SELECT a.id, a.outcome, a.dependent_system, a.duration_ms, s.handler
       FROM step_attempts a JOIN workflow_steps s ON s.id = a.step_id
      WHERE a.id > $1 AND ${settled('a.finished_at')} ORDER BY a.id LIMIT $2`,
    history(read),
  );
  return rows.map((row) => ({
    id: Number(row.id),
    outcome: row.outcome,
    dependentSystem: row.dependent_system,
    durationMs: Number(row.duration_ms),
    handler: row.handler,
  }));
}

/**
 * Claims (transitions to in_progress) after `afterId`, each with the time since the step's
 * transition before it (ready, due or released) and the status it was claimed from.
 */
export async function readStepClaims(db: Queryable, read: HistoryRead): Promise<StepClaimEntry[]> {
  const { rows } = await db.query(
    `SELECT st.id, s.handler, extract(epoch FROM st.created_at - prev.created_at) AS wait_s, st.from_status
       FROM step_transitions st JOIN workflow_steps s ON s.id = st.step_id
       CROSS JOIN LATERAL (SELECT created_at FROM step_transitions p
                            WHERE p.step_id = st.step_id AND p.id < st.id ORDER BY p.id DESC LIMIT 1) prev
      WHERE st.id > $1 AND st.to_status = 'in_progress' AND ${settled('st.created_at')}
      ORDER BY st.id LIMIT $2`,
    history(read),
  );
  return rows.map((row) => ({
    id: Number(row.id),
    handler: row.handler,
    fromStatus: row.from_status,
    waitSeconds: Number(row.wait_s),
  }));
}

/** Every breaker's current state (no counts: cheap enough for every scrape). */
export async function readBreakerStates(db: Queryable): Promise<BreakerStateEntry[]> {
  const { rows } = await db.query('SELECT dependent_system, state FROM circuit_breakers');
  return rows.map((row) => ({ dependentSystem: row.dependent_system, state: row.state }));
}
