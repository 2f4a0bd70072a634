/**
 * Reading the event outbox. Lifecycle events are written by triggers on the audit tables (the
 * event_outbox migration), in the transaction of the transition they report.
 *
 * Order and completeness: rows are read in (tx_id, position) order, and only rows of
 * transactions older than the oldest one still running (the snapshot's xmin). Positions are
 * drawn when a row is inserted, not when it commits, so reading by position alone would skip a
 * row whose transaction commits after a reader moved past it; below the xmin horizon no
 * transaction can still add a row. The cost: while a transaction that wrote something stays
 * open, the events of transactions that began after it wait for it.
 */
import type { EventCursor } from '@switchyard/core';
import type { Queryable } from './pool.ts';

/** One event as stored. */
export type StoredEvent = {
  /** Stable identity, for receivers to deduplicate. */
  id: string;
  cursor: EventCursor;
  type: string;
  namespace: string | null;
  taskId: string | null;
  correlationId: string | null;
  occurredAt: Date;
  data: Record<string, unknown>;
};

export type EventFilter = {
  /** Events after this cursor (default: from the start of the log). */
  after?: EventCursor | null;
  /** Only this task's events. */
  taskId?: string | null;
  /** Only these types. */
  types?: readonly string[] | null;
  /** Only events of these namespaces (events without one, the breakers', are then left out). */
  namespaces?: readonly string[] | null;
  limit: number;
};

// The ORDER BY names the table's columns: the bare names would be the text aliases of the
// select list, and text order ('10' < '9') would page past rows the cursor then skips.
const READ_EVENTS_SQL = `
SELECT id, tx_id::text AS tx_id, position::text AS position, type, namespace, task_id, correlation_id,
       occurred_at, data
  FROM events
 WHERE (tx_id, position) > ($1::bigint, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
   AND ($3::uuid IS NULL OR task_id = $3)
   AND ($4::text[] IS NULL OR type = ANY ($4))
   AND ($6::text[] IS NULL OR namespace = ANY ($6))
 ORDER BY events.tx_id, events.position
 LIMIT $5`;

/** A page of the event log in order, from `after`; an empty page when nothing new has settled. */
export async function readEvents(db: Queryable, filter: EventFilter): Promise<StoredEvent[]> {
  const after = filter.after ?? { txId: '0', position: '0' };
  const { rows } = await db.query(READ_EVENTS_SQL, [
    after.txId,
    after.position,
    filter.taskId ?? null,
    filter.types && filter.types.length > 0 ? filter.types : null,
    filter.limit,
    filter.namespaces ?? null,
  ]);
  return rows.map((row) => ({
    id: row.id,
    cursor: { txId: row.tx_id, position: row.position },
    type: row.type,
    namespace: row.namespace,
    taskId: row.task_id,
    correlationId: row.correlation_id,
    occurredAt: row.occurred_at,
    data: row.data,
  }));
}

/**
 * The cursor of the log's settled end: every event a later readEvents after it returns is one
 * that had not settled yet (its transaction began at or after the oldest one running now). A
 * tail that starts here sees every event from now on, and none from before.
 */
export async function eventLogHorizon(db: Queryable): Promise<EventCursor> {
  const { rows } = await db.query(
    `SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1)::text AS tx_id`,
  );
  return { txId: rows[0].tx_id, position: '9223372036854775807' };
}
