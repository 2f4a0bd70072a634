/**
 * Retention: deletes finished tasks and their history (steps, edges, transitions, attempts, by
 * ON DELETE CASCADE) once they are older than a configurable age, in small batches so that no
 * statement holds many row locks or runs long on the hot tables.
 *
 * What the breakers need survives. A breaker reads `step_attempts` of its dependent system over
 * its window (`window_ms`), the newest `consecutive_failures` calls since its last state change,
 * and, while open or half-open, the probe results since then (see `gatherEvidence` in
 * breaker-state.ts). Attempts cascade from their step, so a task is kept whole while any of its
 * attempts is one of those: finished within `breakerWindowMs`, among the newest
 * `keepNewestPerSystem` attempts of a system that has a breaker row, or since the `since` of a
 * breaker that is not closed. The trade-off: a task holding such an attempt outlives `olderThanMs`
 * until newer calls push it out (at most one task per kept attempt).
 */
import { WEBHOOK_DELIVERY_ENDED } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** What to prune and how hard. */
export type RetentionOptions = {
  /** A task finished (complete or cancelled) longer ago than this is pruned (ms). */
  olderThanMs: number;
  /**
   * Attempts finished within this are kept with their task (ms): at least the largest breaker
   * `window_ms` (default 60000). Default 86_400_000 (one day), for operators' investigations too.
   */
  breakerWindowMs?: number;
  /** Newest attempts kept per dependent system with a breaker: ≥ the largest `consecutive_failures`. Default 100. */
  keepNewestPerSystem?: number;
  /** Tasks deleted per statement. Default 500. */
  batchSize?: number;
  /** Statements per call, so one call stays short. Default 20. */
  maxBatches?: number;
  /** Task statuses that may be pruned. Default complete and cancelled (`error` tasks wait for an operator). */
  statuses?: readonly string[];
};

/**
 * What one call deleted; `batches` counts the task statements (events and webhook deliveries
 * have their own, as many at most).
 */
export type RetentionResult = {
  deletedTasks: number;
  deletedEvents: number;
  deletedDeliveries: number;
  batches: number;
};

// Events are kept as long as tasks (olderThanMs), whatever became of their task: a receiver
// catching up reads the log, not the tasks. An event a webhook delivery still waits to send
// stays until that delivery ends (delivered, or failed after its schedule gives up).
const PRUNE_EVENTS_SQL = `
DELETE FROM events WHERE position IN (
  SELECT e.position FROM events e
   WHERE e.occurred_at < now() - $1 * interval '1 millisecond'
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
   ORDER BY e.occurred_at LIMIT $2)`;

// Webhook deliveries that ended (delivered or failed) longer ago than olderThanMs, and than the
// breaker window (their attempts are the evidence of the receiver's breaker), with their
// attempts (ON DELETE CASCADE). Pending ones are never pruned.
const PRUNE_DELIVERIES_SQL = `
DELETE FROM webhook_deliveries WHERE id IN (
  SELECT id FROM webhook_deliveries
   WHERE status = ANY ($3::text[]) AND updated_at < now() - $1 * interval '1 millisecond'
   LIMIT $2)`;

// Measured on 100k finished tasks (3 steps, 3 attempts, 3 step transitions each; 2 cores), one
// batch of 500: 34 ms (after the first at 58 ms). Rejected: `ORDER BY created_at` (oldest first)
// and `clock_timestamp()` cutoffs, 580 ms a batch: a volatile cutoff cannot bound the
// (status, created_at) index scan, and with two statuses the order needs a sort of every
// candidate (42k rows) before the LIMIT. `now()` is the statement's start here (autocommit).
const PRUNE_SQL = `
WITH kept AS (
  SELECT newest.task_id
    FROM circuit_breakers b
   CROSS JOIN LATERAL (
         SELECT a.task_id FROM step_attempts a
          WHERE a.dependent_system = b.dependent_system
          ORDER BY a.finished_at DESC
          LIMIT $4) newest
  UNION
  SELECT a.task_id
    FROM circuit_breakers b
    JOIN step_attempts a ON a.dependent_system = b.dependent_system AND a.finished_at >= b.since
   WHERE b.state <> 'closed'
), doomed AS (
  SELECT t.id FROM tasks t
   WHERE t.status = ANY($1::text[])
     AND t.created_at < now() - $2 * interval '1 millisecond'
     AND coalesce(t.completed_at, t.updated_at) < now() - $2 * interval '1 millisecond'
     AND NOT EXISTS (SELECT 1 FROM step_attempts a
                      WHERE a.task_id = t.id AND a.finished_at > now() - $3 * interval '1 millisecond')
     AND NOT EXISTS (SELECT 1 FROM workflow_steps s WHERE s.task_id = t.id AND s.status = 'in_progress')
     AND t.id NOT IN (SELECT task_id FROM kept)
   LIMIT $5
   FOR UPDATE SKIP LOCKED
)
DELETE FROM tasks WHERE id IN (SELECT id FROM doomed)`;

/**
 * Deletes finished tasks older than `olderThanMs`, batch by batch, until a batch comes back
 * short or `maxBatches` ran; then events older than `olderThanMs`, and webhook deliveries that
 * ended longer ago than that (and than `breakerWindowMs`), the same way. Each batch is its own statement (autocommit): it locks at most
 * `batchSize` task rows, skipping rows another transaction holds (a cancel, a finalization, a
 * second scheduler replica pruning at once), then their cascaded rows.
 * Inputs: a pool or client (never inside a long transaction: that would hold every batch's locks).
 * Returns: tasks deleted and statements run. Errors: database errors, unclassified.
 */
export async function pruneFinishedTasks(db: Queryable, options: RetentionOptions): Promise<RetentionResult> {
  const {
    olderThanMs,
    breakerWindowMs = 86_400_000,
    keepNewestPerSystem = 100,
    batchSize = 500,
    maxBatches = 20,
    statuses = ['complete', 'cancelled'],
  } = options;
  let deletedTasks = 0;
  let batches = 0;
  while (batches < maxBatches) {
    const { rowCount } = await db.query(PRUNE_SQL, [
      statuses,
      olderThanMs,
      breakerWindowMs,
      keepNewestPerSystem,
      batchSize,
    ]);
    batches += 1;
    deletedTasks += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) break;
  }
  let deletedEvents = 0;
  for (let eventBatches = 0; eventBatches < maxBatches; eventBatches++) {
    const { rowCount } = await db.query(PRUNE_EVENTS_SQL, [olderThanMs, batchSize]);
    deletedEvents += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) break;
  }
  let deletedDeliveries = 0;
  for (let deliveryBatches = 0; deliveryBatches < maxBatches; deliveryBatches++) {
    const { rowCount } = await db.query(PRUNE_DELIVERIES_SQL, [
      Math.max(olderThanMs, breakerWindowMs),
      batchSize,
      WEBHOOK_DELIVERY_ENDED,
    ]);
    deletedDeliveries += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) break;
  }
  return { deletedTasks, deletedEvents, deletedDeliveries, batches };
}
