/**
 * Webhook deliveries: the fan-out of the event log into deliveries, and the claims and outcomes
 * of the delivery loop (packages/engine/src/webhook-delivery.ts).
 *
 * A webhook's receiver is a dependent system with its own breaker, `webhook:<id>` in
 * circuit_breakers: evaluateBreaker decides it from webhook_delivery_attempts (see
 * gatherEvidence), the scheduler's breaker sweep moves it with time and releases its held
 * deliveries (releaseHeldDeliveries), and operators see and force it like any other.
 *
 * Order: a delivery is not attempted while an earlier delivery (in the log's order) of the same
 * webhook and task is still pending, so a receiver gets a task's events in order.
 */
import {
  BREAKER_POLICY_DEFAULTS,
  type BreakerState,
  decideRelease,
  type EventCursor,
  type WebhookDeliveryStatus,
  webhookIdOfSystem,
  webhookReceives,
  webhookSystem,
} from '@switchyard/core';
import { lockBreaker } from './breaker-state.ts';
import { readEvents } from './events.ts';
import type { Queryable } from './pool.ts';

// Delivery statuses travel as parameters: they are not step or task statuses, which is what the
// status literals of this package's SQL are checked against (packages/db/test/state-sql.test.ts).
const FAILED = 'failed' satisfies WebhookDeliveryStatus;

/** The event_consumers row of the webhook fan-out. */
export const WEBHOOK_FAN_OUT_CONSUMER = 'webhooks';

/**
 * One page of the fan-out: locks the consumer's cursor (another replica holding it: returns
 * `busy`), reads the events after it (readEvents: in order, never past a transaction still
 * running), inserts a delivery for each webhook that receives each event (core's
 * webhookReceives; only events that occurred once the webhook existed), and advances the
 * cursor. Run it in a transaction: the deliveries and the cursor commit together, and the
 * unique (webhook, event) key makes a repeat insert nothing. A delivery to a receiver whose
 * breaker is not closed is created held.
 */
export async function fanOutEvents(
  db: Queryable,
  input: { limit: number; consumer?: string },
): Promise<{ busy: boolean; read: number; inserted: number; cursor: EventCursor | null }> {
  const consumer = input.consumer ?? WEBHOOK_FAN_OUT_CONSUMER;
  await db.query('INSERT INTO event_consumers (name) VALUES ($1) ON CONFLICT DO NOTHING', [consumer]);
  const locked = await db.query(
    `SELECT tx_id::text AS "txId", position::text AS position FROM event_consumers
      WHERE name = $1 FOR UPDATE SKIP LOCKED`,
    [consumer],
  );
  if (locked.rows.length === 0) return { busy: true, read: 0, inserted: 0, cursor: null };
  const after = locked.rows[0] as EventCursor;
  const events = await readEvents(db, { after, limit: input.limit });
  const last = events.at(-1);
  if (!last) return { busy: false, read: 0, inserted: 0, cursor: after };
  const { rows: webhooks } = await db.query(
    'SELECT id, events, namespaces, created_at FROM webhooks WHERE deleted_at IS NULL',
  );
  const matches = events.flatMap((event) =>
    webhooks
      .filter((webhook) => event.occurredAt >= webhook.created_at && webhookReceives(webhook, event))
      .map((webhook) => ({ webhookId: webhook.id as string, event })),
  );
  let inserted = 0;
  if (matches.length > 0) {
    const result = await db.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_id, event_tx_id, event_position, task_id, type, held)
       SELECT m.webhook_id, m.event_id, m.tx_id, m.position, m.task_id, m.type, COALESCE(b.state <> 'closed', false)
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[])
              AS m(webhook_id, event_id, tx_id, position, task_id, type)
         LEFT JOIN circuit_breakers b ON b.dependent_system = 'webhook:' || m.webhook_id
       ON CONFLICT (webhook_id, event_id) DO NOTHING`,
      [
        matches.map((m) => m.webhookId),
        matches.map((m) => m.event.id),
        matches.map((m) => m.event.cursor.txId),
        matches.map((m) => m.event.cursor.position),
        matches.map((m) => m.event.taskId),
        matches.map((m) => m.event.type),
      ],
    );
    inserted = result.rowCount ?? 0;
  }
  await db.query(
    `UPDATE event_consumers SET tx_id = $2, position = $3, updated_at = clock_timestamp() WHERE name = $1`,
    [consumer, last.cursor.txId, last.cursor.position],
  );
  return { busy: false, read: events.length, inserted, cursor: last.cursor };
}

/** A delivery claimed for one HTTP attempt, with what the request needs. */
export type ClaimedDelivery = {
  id: string;
  webhookId: string;
  url: string;
  secret: string;
  /** Attempts made before this one. */
  attempts: number;
  probe: boolean;
  /** Null when the event is gone from the log (pruned): the delivery cannot be made. */
  event: { id: string; type: string; occurredAt: Date; data: unknown } | null;
  eventId: string;
};

/** SQL predicate: delivery `d` waits for an earlier pending delivery of the same webhook and task. */
const BEHIND_EARLIER = `(d.task_id IS NOT NULL AND EXISTS (
  SELECT 1 FROM webhook_deliveries e
   WHERE e.webhook_id = d.webhook_id AND e.task_id = d.task_id AND e.status = 'pending'
     AND (e.event_tx_id, e.event_position) < (d.event_tx_id, d.event_position)))`;

const CLAIM_SQL = `
WITH due AS (
  SELECT d.id FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    LEFT JOIN circuit_breakers b ON b.dependent_system = 'webhook:' || d.webhook_id::text
   WHERE d.status = 'pending' AND NOT d.held AND d.next_attempt_at <= clock_timestamp()
     AND (d.lease_expires_at IS NULL OR d.lease_expires_at < clock_timestamp())
     AND w.deleted_at IS NULL
     AND (b.state IS NULL OR b.state = 'closed' OR (b.state = 'half_open' AND d.probe))
     AND NOT ${BEHIND_EARLIER}
   ORDER BY d.next_attempt_at, d.id
   LIMIT $1
   FOR UPDATE OF d SKIP LOCKED
), claimed AS (
  UPDATE webhook_deliveries d
     SET claimed_by = $2, lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond',
         updated_at = clock_timestamp()
    FROM due WHERE d.id = due.id
  RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.probe
)
SELECT c.id::text, c.webhook_id AS "webhookId", c.event_id AS "eventId", c.attempts, c.probe,
       w.url, w.secret, e.type, e.occurred_at AS "occurredAt", e.data
  FROM claimed c JOIN webhooks w ON w.id = c.webhook_id LEFT JOIN events e ON e.id = c.event_id`;

/**
 * Claims up to `limit` due deliveries for `claimer` with a lease of `leaseMs`: pending, not
 * held, due, not claimed by a live lease, not behind an earlier pending delivery of the same
 * task, and allowed by the receiver's breaker (closed, or a probe while half-open). Locks:
 * the claimed rows, SKIP LOCKED, so replicas share the work. A claim whose process dies comes
 * back when its lease ends.
 */
export async function claimWebhookDeliveries(
  db: Queryable,
  input: { claimer: string; limit: number; leaseMs: number },
): Promise<ClaimedDelivery[]> {
  if (input.limit <= 0) return [];
  const { rows } = await db.query(CLAIM_SQL, [input.limit, input.claimer, input.leaseMs]);
  return rows.map((row) => ({
    id: row.id,
    webhookId: row.webhookId,
    url: row.url,
    secret: row.secret,
    attempts: row.attempts,
    probe: row.probe,
    eventId: row.eventId,
    event:
      row.type === null
        ? null
        : { id: row.eventId, type: row.type, occurredAt: row.occurredAt, data: row.data },
  }));
}

/** How one HTTP attempt went. */
export type DeliveryAttemptOutcome = 'success' | 'http_error' | 'network_error' | 'timeout';

/** A delivery's status after an attempt that ended so. */
const DELIVERY_STATUS_AFTER: Record<DeliveryAttemptRecord['next']['kind'], WebhookDeliveryStatus> = {
  delivered: 'delivered',
  retry: 'pending',
  failed: 'failed',
};

/** One attempt's result, and what becomes of the delivery (core's decideAfterDeliveryFailure). */
export type DeliveryAttemptRecord = {
  deliveryId: string;
  webhookId: string;
  claimer: string;
  /** Attempts made before this one (as claimed): the fence. */
  attemptsBefore: number;
  probe: boolean;
  outcome: DeliveryAttemptOutcome;
  httpStatus: number | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date;
  /** Delivered for a success; a retry at the next time; failed once the schedule gives up. */
  next: { kind: 'delivered' } | { kind: 'retry'; retryAt: Date } | { kind: 'failed' };
};

/**
 * Records an attempt (always: it was a call to the receiver, evidence for its breaker) and,
 * while the claim still holds (same claimer, no other attempt since), the delivery's new state.
 * Returns whether the claim held. Run it in a transaction with the breaker's evaluation.
 */
export async function recordWebhookDeliveryAttempt(
  db: Queryable,
  record: DeliveryAttemptRecord,
): Promise<boolean> {
  const next = record.next;
  const { rows } = await db.query(
    `WITH updated AS (
       UPDATE webhook_deliveries
          SET attempts = attempts + 1, status = $4, probe = false, claimed_by = NULL, lease_expires_at = NULL,
              next_attempt_at = COALESCE($5, next_attempt_at), last_http_status = $6, last_error = $7,
              delivered_at = CASE WHEN $15 THEN clock_timestamp() END, updated_at = clock_timestamp()
        WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'
       RETURNING id
     ), attempt AS (
       INSERT INTO webhook_delivery_attempts
         (delivery_id, webhook_id, dependent_system, attempt, outcome, probe, http_status, error, claimed_by,
          started_at, finished_at, duration_ms)
       VALUES ($1, $8, $9, $3 + 1, $10, $11, $6, $7, $2, $12, $13, $14)
     )
     SELECT count(*)::int AS held FROM updated`,
    [
      record.deliveryId,
      record.claimer,
      record.attemptsBefore,
      DELIVERY_STATUS_AFTER[next.kind],
      next.kind === 'retry' ? next.retryAt : null,
      record.httpStatus,
      record.error,
      record.webhookId,
      webhookSystem(record.webhookId),
      record.outcome,
      record.probe,
      record.startedAt,
      record.finishedAt,
      Math.max(0, Math.round(record.finishedAt.getTime() - record.startedAt.getTime())),
      next.kind === 'delivered',
    ],
  );
  return rows[0].held === 1;
}

/** Ends a claimed delivery whose event is gone from the log (pruned before it could be delivered). */
export async function failOrphanedDelivery(
  db: Queryable,
  input: { deliveryId: string; claimer: string },
): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries
        SET status = $3, last_error = 'event no longer in the log', claimed_by = NULL, lease_expires_at = NULL,
            updated_at = clock_timestamp()
      WHERE id = $1 AND claimed_by = $2 AND status = 'pending'`,
    [input.deliveryId, input.claimer, FAILED],
  );
}

/** Holds a pending delivery (its receiver's breaker opened): not attempted until released. */
export async function holdWebhookDelivery(db: Queryable, deliveryId: string): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries SET held = true, probe = false, updated_at = clock_timestamp()
      WHERE id = $1 AND status = 'pending'`,
    [deliveryId],
  );
}

/**
 * The scheduler sweep's part for a webhook receiver's breaker (releaseHeldForBreaker's
 * counterpart): under the breaker row's lock, holds the pending deliveries while it is not
 * closed (claimed ones finish their attempt), then releases held ones as core's decideRelease
 * says: probes while half-open, a doubling ramp once closed. A released delivery is the
 * earliest pending one of its task (one behind an earlier delivery could not be attempted),
 * and is due at once. Returns how many were released.
 */
export async function releaseHeldDeliveries(
  db: Queryable,
  system: string,
): Promise<{ state: BreakerState; held: number; released: number }> {
  const breaker = await lockBreaker(db, system, 'webhook');
  const webhookId = webhookIdOfSystem(system);
  if (breaker.kind !== 'webhook' || webhookId === null)
    throw new Error(`${system} is not a webhook receiver`);
  let held = 0;
  if (breaker.state !== 'closed') {
    const result = await db.query(
      `UPDATE webhook_deliveries SET held = true, updated_at = clock_timestamp()
        WHERE webhook_id = $1 AND status = 'pending' AND NOT held AND NOT probe
          AND (lease_expires_at IS NULL OR lease_expires_at < clock_timestamp())`,
      [webhookId],
    );
    held = result.rowCount ?? 0;
  }
  const { rows } = await db.query(
    `SELECT b.release_rate AS "releaseRate", COALESCE(b.hold_until > clock_timestamp(), false) AS holding,
            (SELECT count(*)::int FROM webhook_deliveries WHERE webhook_id = $2 AND status = 'pending' AND held) AS held,
            (SELECT count(*)::int FROM webhook_deliveries WHERE webhook_id = $2 AND status = 'pending' AND probe)
              AS "probesInFlight"
       FROM circuit_breakers b WHERE b.dependent_system = $1`,
    [system, webhookId],
  );
  const view = rows[0];
  const decision = decideRelease(
    { ...BREAKER_POLICY_DEFAULTS, ...breaker.policy },
    { state: breaker.state, ...view },
  );
  if (decision.releaseRate !== view.releaseRate) {
    await db.query('UPDATE circuit_breakers SET release_rate = $2 WHERE dependent_system = $1', [
      system,
      decision.releaseRate,
    ]);
  }
  if (decision.limit <= 0) return { state: breaker.state, held, released: 0 };
  const released = await db.query(
    `WITH picked AS (
       SELECT d.id FROM webhook_deliveries d
        WHERE d.webhook_id = $1 AND d.status = 'pending' AND d.held AND NOT ${BEHIND_EARLIER}
        ORDER BY d.event_tx_id, d.event_position
        LIMIT $2 FOR UPDATE SKIP LOCKED
     )
     UPDATE webhook_deliveries d
        SET held = false, probe = $3, next_attempt_at = clock_timestamp(), updated_at = clock_timestamp()
       FROM picked WHERE d.id = picked.id`,
    [webhookId, decision.limit, decision.asProbes],
  );
  return { state: breaker.state, held, released: released.rowCount ?? 0 };
}
