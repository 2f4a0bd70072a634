/**
 * What the fleet's metrics are counted from: the append-only history (task transitions,
 * finished step attempts, step claims, webhook delivery attempts) read forward by id, and
 * current state (each breaker's, the pending webhook deliveries).
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
  /** `LeaseExpired` also on a lease-expired attempt whose late result was recorded on it (stale). */
  errorClass: string | null;
  dependentSystem: string;
  durationMs: number;
  handler: string;
};

/** A step's claim (its move to in_progress) and how long after the step's previous transition it came. */
export type StepClaimEntry = { id: number; handler: string; fromStatus: string | null; waitSeconds: number };

/**
 * A webhook delivery attempt by what it meant for its delivery: `delivered` (2xx), `failed`
 * (retried later, or held by the receiver's breaker), `dead` (the failure that ended it).
 */
export type DeliveryAttemptEntry = { id: number; outcome: 'delivered' | 'failed' | 'dead' };

/** Pending webhook deliveries: held by their receiver's breaker, or waiting for an attempt. */
export type PendingDeliveryCounts = { held: number; waiting: number };

/** A breaker's current state. */
export type BreakerStateEntry = { dependentSystem: string; state: BreakerState };

/**
 * The rows of a history `FROM ... WHERE` clause after `read.afterId` (by `idColumn`), settled by
 * `settledColumn`, oldest first, at most `read.limit`: the one shape every history read has.
 * `conditions` adds to the WHERE; `mapRow` turns a row into an entry.
 */
async function readHistory<T>(
  db: Queryable,
  read: HistoryRead,
  query: { select: string; from: string; idColumn: string; settledColumn: string; conditions?: string },
  mapRow: (row: Record<string, unknown>) => T,
): Promise<T[]> {
  const { rows } = await db.query(
    `SELECT ${query.select} FROM ${query.from}
      WHERE ${query.idColumn} > $1 ${query.conditions ? `AND ${query.conditions}` : ''}
        AND ${query.settledColumn} < clock_timestamp() - $3 * interval '1 millisecond'
      ORDER BY ${query.idColumn} LIMIT $2`,
    [read.afterId, read.limit, read.settledMs],
  );
  return rows.map(mapRow);
}

/** Task transitions after `afterId`, with the namespace, name and version of the task's template. */
export function readTaskTransitions(db: Queryable, read: HistoryRead): Promise<TaskTransitionEntry[]> {
  return readHistory(
    db,
    read,
    {
      select: 'tt.id, tt.from_status, tt.to_status, ns.name AS namespace, nt.name, nt.version',
      from: `task_transitions tt JOIN tasks t ON t.id = tt.task_id
       JOIN named_tasks nt ON nt.id = t.named_task_id JOIN namespaces ns ON ns.id = nt.namespace_id`,
      idColumn: 'tt.id',
      settledColumn: 'tt.created_at',
    },
    (row) => ({
      id: Number(row.id),
      fromStatus: row.from_status as string | null,
      toStatus: row.to_status as string,
      namespace: row.namespace as string,
      name: row.name as string,
      version: row.version as string,
    }),
  );
}

/** Step attempts that finished, after `afterId` (settled by when they finished). */
export function readFinishedAttempts(db: Queryable, read: HistoryRead): Promise<FinishedAttemptEntry[]> {
  return readHistory(
    db,
    read,
    {
      select: 'a.id, a.outcome, a.error_class, a.dependent_system, a.duration_ms, s.handler',
      from: 'step_attempts a JOIN workflow_steps s ON s.id = a.step_id',
      idColumn: 'a.id',
      settledColumn: 'a.finished_at',
    },
    (row) => ({
      id: Number(row.id),
      outcome: row.outcome as string,
      errorClass: row.error_class as string | null,
      dependentSystem: row.dependent_system as string,
      durationMs: Number(row.duration_ms),
      handler: row.handler as string,
    }),
  );
}

/**
 * Claims (transitions to in_progress) after `afterId`, each with the time since the step's
 * transition before it (ready, due or released) and the status it was claimed from.
 */
export function readStepClaims(db: Queryable, read: HistoryRead): Promise<StepClaimEntry[]> {
  return readHistory(
    db,
    read,
    {
      select:
        'st.id, s.handler, extract(epoch FROM st.created_at - COALESCE(prev.created_at, s.created_at)) AS wait_s, st.from_status',
      // No stored row before: the step was ready from its creation, whose row is derived (step_audit).
      from: `step_transitions st JOIN workflow_steps s ON s.id = st.step_id
       LEFT JOIN LATERAL (SELECT created_at FROM step_transitions p
                           WHERE p.step_id = st.step_id AND p.id < st.id ORDER BY p.id DESC LIMIT 1) prev ON true`,
      idColumn: 'st.id',
      settledColumn: 'st.created_at',
      conditions: "st.to_status = 'in_progress'",
    },
    (row) => ({
      id: Number(row.id),
      handler: row.handler as string,
      fromStatus: row.from_status as string | null,
      waitSeconds: Number(row.wait_s),
    }),
  );
}

/**
 * Webhook delivery attempts after `afterId`. An attempt and its delivery's new status commit in
 * one statement (recordWebhookDeliveryAttempt), so a failed attempt that is its delivery's last
 * and left it no longer pending is the one that ended it.
 */
export function readDeliveryAttempts(db: Queryable, read: HistoryRead): Promise<DeliveryAttemptEntry[]> {
  return readHistory(
    db,
    read,
    {
      select: `a.id, CASE WHEN a.outcome = 'success' THEN 'delivered'
                          WHEN d.status <> 'pending' AND a.attempt = d.attempts THEN 'dead'
                          ELSE 'failed' END AS outcome`,
      from: 'webhook_delivery_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id',
      idColumn: 'a.id',
      settledColumn: 'a.finished_at',
    },
    (row) => ({ id: Number(row.id), outcome: row.outcome as DeliveryAttemptEntry['outcome'] }),
  );
}

/** How many webhook deliveries are pending, held or not (the status index serves it). */
export async function countPendingDeliveries(db: Queryable): Promise<PendingDeliveryCounts> {
  const { rows } = await db.query(
    `SELECT count(*) FILTER (WHERE held)::int AS held, count(*) FILTER (WHERE NOT held)::int AS waiting
       FROM webhook_deliveries WHERE status = 'pending'`,
  );
  return { held: rows[0].held, waiting: rows[0].waiting };
}

/** Every breaker's current state (no counts: cheap enough for every scrape). */
export async function readBreakerStates(db: Queryable): Promise<BreakerStateEntry[]> {
  const { rows } = await db.query('SELECT dependent_system, state FROM circuit_breakers');
  return rows.map((row) => ({ dependentSystem: row.dependent_system, state: row.state }));
}
